import { checkEventSizeStep } from '../../../../services/collector/steps/check-event-size.step';

describe('check-event-size', () => {
  const step = checkEventSizeStep(32 * 1024);

  it('passes the message of an element within the bound on', () => {
    const message = { type: 'track' };
    expect(step.run({ message, json: Buffer.alloc(32 * 1024) })).toEqual({ kind: 'ok', value: message });
  });

  it('dead-letters an element over the bound, saying by how much', () => {
    expect(step.name).toBe('check-event-size');
    expect(step.run({ message: {}, json: Buffer.alloc(32 * 1024 + 1) })).toEqual({
      kind: 'dlq',
      code: 'KUMIKI_PAYLOAD_TOO_LARGE',
      reason: 'the event is 32769 bytes, over the limit of 32 KB',
    });
  });
});
