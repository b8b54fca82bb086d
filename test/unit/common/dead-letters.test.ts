import { deadLetterTopic, toDeadLetter } from '../../../services/common/dead-letters';
import { DependencyUnavailableError } from '../../../services/common/errors';
import type { OutgoingMessage } from '../../../services/common/kafka/client';

describe('dead letters', () => {
  it('carry reason, code, stage, provenance and the original bytes', () => {
    expect(
      toDeadLetter(
        {
          step: 'decode-event',
          reason: 'bad',
          code: 'KUMIKI_INVALID_EVENT',
          error: new TypeError('boom'),
          origin: {
            topic: 'kumiki.events.json',
            partition: 3,
            offset: '42',
            key: 'k',
            value: Buffer.from('{}'),
            attempt: 2,
            messageId: 'm',
          },
        },
        'identity-stitcher',
        1_000,
      ),
    ).toEqual({
      reason: 'bad',
      code: 'KUMIKI_INVALID_EVENT',
      stage: 'decode-event',
      error: 'TypeError: boom',
      service: 'identity-stitcher',
      originalTopic: 'kumiki.events.json',
      originalPartition: 3,
      originalOffset: 42,
      originalKey: Buffer.from('k'),
      originalValue: Buffer.from('{}'),
      attempt: 2,
      failedAt: 1_000,
      messageId: 'm',
    });
  });

  it('of a record name no field in the reason; of an HTTP request, the field within the request', () => {
    const verdict = { step: 'validate-message', reason: 'must be a date', code: 'KUMIKI_INVALID_TIMESTAMP' as const };
    const fromKafka = toDeadLetter(
      { ...verdict, field: 'timestamp', origin: { value: Buffer.from('{}'), topic: 't' } },
      's',
      1,
    );
    expect([fromKafka.reason, fromKafka.error]).toEqual(['must be a date', 'must be a date']);
    const inBatch = toDeadLetter(
      { ...verdict, field: 'timestamp', origin: { value: Buffer.from('{}'), path: 'batch[2]' } },
      's',
      1,
    );
    expect([inBatch.reason, inBatch.error]).toEqual([
      'must be a date (batch[2].timestamp)',
      'must be a date (batch[2].timestamp)',
    ]);
    const single = toDeadLetter({ ...verdict, origin: { value: Buffer.from('{}'), path: '' } }, 's', 1);
    expect(single.reason).toBe('must be a date');
  });

  it('are produced keyed by the original key with code and stage headers; a failed produce is rethrown', async () => {
    const sent: { topic: string; messages: readonly OutgoingMessage[] }[] = [];
    let fail = false;
    const sink = deadLetterTopic({
      service: 'collector',
      producer: {
        send: async (topic, messages) => {
          if (fail) throw new DependencyUnavailableError('down');
          sent.push({ topic, messages });
        },
      },
      encode: (_topic, value) => Buffer.from(value.reason),
      topic: 'dlq-test',
      now: () => 5,
    });
    await sink([
      {
        step: 'validate-message',
        reason: 'r1',
        code: 'KUMIKI_MISSING_FIELD',
        origin: { key: 'u1', value: Buffer.from('x') },
      },
    ]);
    expect(sent).toEqual([
      {
        topic: 'dlq-test',
        messages: [
          {
            key: 'u1',
            value: Buffer.from('r1'),
            headers: { 'kumiki-dlq-code': 'KUMIKI_MISSING_FIELD', 'kumiki-dlq-stage': 'validate-message' },
          },
        ],
      },
    ]);
    fail = true;
    await expect(
      sink([{ step: 's', reason: 'r2', code: 'KUMIKI_MISSING_FIELD', origin: { value: Buffer.from('x') } }]),
    ).rejects.toThrow('down');
  });
});
