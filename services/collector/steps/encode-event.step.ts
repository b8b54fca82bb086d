import type { Event } from '../../../schemas';
import { errorMessage } from '../../common/errors';
import type { OutgoingMessage } from '../../common/kafka/messages';
import { eventKey } from '../../common/kafka/topics';
import { step, type Step } from '../../common/pipeline';
import { dlq, ok } from '../../common/step-result';

/**
 * An Event as the record to produce on the events topic: keyed as the topic says, in the wire
 * format. A value the registered schema refuses is dead-lettered (the checks before should have
 * caught it; this is the last word).
 */
export function encodeEventStep(encode: (event: Event) => Buffer): Step<Event, OutgoingMessage> {
  return step('encode-event', (event) => {
    try {
      return ok({ key: eventKey(event), value: encode(event) });
    } catch (error) {
      return dlq(errorMessage(error), 'KUMIKI_INVALID_EVENT', { messageId: event.messageId });
    }
  });
}
