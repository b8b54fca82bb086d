import { eventWith } from '../../../../schemas';
import { encodeEventStep } from '../../../../services/collector/steps/encode-event.step';
import { InvalidInputError } from '../../../../services/common/errors';

const event = eventWith({
  messageId: 'm-1',
  type: 'track',
  timestamp: 1,
  channel: 'web',
  source: 's',
  anonymousId: 'a-1',
});

describe('encode-event', () => {
  it('keys the record as the events topic says and writes the value with the codec', () => {
    const step = encodeEventStep((e) => Buffer.from(e.messageId));
    expect(step.run(event)).toEqual({ kind: 'ok', value: { key: 'a-1', value: Buffer.from('m-1') } });
    expect(step.run({ ...event, userId: 'u-1' })).toMatchObject({ kind: 'ok', value: { key: 'u-1' } });
  });

  it('dead-letters an event the schema refuses, with its messageId', () => {
    const step = encodeEventStep(() => {
      throw new InvalidInputError('consent.email: not a boolean');
    });
    expect(step.name).toBe('encode-event');
    expect(step.run(event)).toEqual({
      kind: 'dlq',
      code: 'KUMIKI_INVALID_EVENT',
      reason: 'consent.email: not a boolean',
      messageId: 'm-1',
    });
  });
});
