import pino from 'pino';
import { loadCollectorConfig } from '../../../services/collector/config';
import { createDeadLetterHandler, toDeadLetter } from '../../../services/common/dead-letters';
import { ConfigError, DependencyUnavailableError } from '../../../services/common/errors';
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

describe('collector config', () => {
  it('maps the local write key and KUMIKI_SOURCES to sources', () => {
    const config = loadCollectorConfig({
      KUMIKI_WRITE_KEY: 'wk_local_key',
      KUMIKI_SOURCES: '{"wk_pos_berlin_1":{"source":"pos-berlin","channel":"store"}}',
    });
    expect([...config.sources]).toEqual([
      ['wk_local_key', { source: 'default', channel: 'auto' }],
      ['wk_pos_berlin_1', { source: 'pos-berlin', channel: 'store' }],
    ]);
    expect(config.COLLECTOR_EVENTS_TOPIC).toBe('kumiki.events.raw');
  });

  it('names every bad variable at once', () => {
    let error: unknown;
    try {
      loadCollectorConfig({
        KUMIKI_WRITE_KEY: 'short',
        KUMIKI_SOURCES: '{"wk_pos_berlin_1":{"source":"pos","channel":"fax"}}',
        COLLECTOR_LINGER_MS: '-1',
      });
    } catch (caught) {
      error = caught;
    }
    expect(error).toBeInstanceOf(ConfigError);
    const problems = (error as ConfigError).problems.join('\n');
    expect(problems).toMatch(/KUMIKI_WRITE_KEY="short": must be at least 8 characters/);
    expect(problems).toMatch(/KUMIKI_SOURCES\.wk_pos_berlin_1\.channel/);
    expect(problems).toMatch(/COLLECTOR_LINGER_MS="-1"/);
  });
});
