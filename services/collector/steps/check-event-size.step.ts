import { step, type Step } from '../../common/pipeline';
import { dlq, ok } from '../../common/step-result';

/** One element of a request: the message as parsed, and its JSON bytes (what a dead letter keeps). */
export interface RequestElement {
  readonly message: unknown;
  readonly json: Buffer;
}

/** The per-event bound (Segment's 32 KB): an element over it is rejected alone, the rest of its batch goes on. */
export function checkEventSizeStep(limitBytes: number): Step<RequestElement, unknown> {
  return step('check-event-size', ({ message, json }) =>
    json.length > limitBytes
      ? dlq(`the event is ${json.length} bytes, over the limit of ${limitBytes / 1024} KB`, 'KUMIKI_PAYLOAD_TOO_LARGE')
      : ok(message),
  );
}
