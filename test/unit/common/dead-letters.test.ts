import pino from 'pino';
import { createDeadLetterHandler, toDeadLetter } from '../../../services/common/dead-letters';
import { DependencyUnavailableError } from '../../../services/common/errors';
import type { OutgoingMessage } from '../../../services/common/kafka/client';

describe('dead letters', () => {
  it('carry reason, code, stage, provenance and the original bytes', () => {
    expect(
      toDeadLetter(
        {
          reason: 'bad',
          code: 'KUMIKI_INVALID_EVENT',
          stage: 'decode-event',
          error: new TypeError('boom'),
          originalTopic: 'kumiki.events.json',
          originalPartition: 3,
          originalOffset: '42',
          originalKey: 'k',
          originalValue: Buffer.from('{}'),
          attempt: 2,
          messageId: 'm',
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

  it('are produced keyed by the original key with code and stage headers; a failed produce is rethrown', async () => {
    const sent: { topic: string; messages: readonly OutgoingMessage[] }[] = [];
    let fail = false;
    const handler = createDeadLetterHandler({
      service: 'collector',
      producer: {
        send: async (topic, messages) => {
          if (fail) throw new DependencyUnavailableError('down');
          sent.push({ topic, messages });
        },
      },
      encode: (_topic, value) => Buffer.from(value.reason),
      logger: pino({ level: 'silent' }),
      topic: 'dlq-test',
      now: () => 5,
    });
    await handler.send([
      {
        reason: 'r1',
        code: 'KUMIKI_MISSING_FIELD',
        stage: 'validate-message',
        originalKey: 'u1',
        originalValue: Buffer.from('x'),
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
      handler.send([{ reason: 'r2', code: 'KUMIKI_MISSING_FIELD', stage: 's', originalValue: Buffer.from('x') }]),
    ).rejects.toThrow('down');
  });
});
