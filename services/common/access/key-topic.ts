import type { Component } from '../lifecycle';
import type { Logger } from '../logger';
import { connectWithBackoff } from '../dependency';
import type { EventProducer, IncomingMessage, KafkaClient } from '../kafka/client';
import type { ApiKeyRecord } from './api-key';
import type { KeyCache } from './key-cache';
import { isRole } from './scopes';

/**
 * Keys reach every service through one compacted topic (`kumiki.access.keys`, key = key id,
 * value = the record as JSON, hashes only). Services are separate processes, possibly on
 * several hosts, and share nothing but Kafka: each reads the topic to its end before it
 * answers (so a restarted service knows every key, revoked ones included), then follows it, so
 * a revocation reaches every service within a fetch (about 100 ms). Compaction keeps the latest
 * record of each key forever; a revoked key stays as a record with `revokedAt`, so that its use
 * is recognised (and alerted on) rather than answered as an unknown key.
 */
export async function publishKey(producer: EventProducer, topic: string, record: ApiKeyRecord): Promise<void> {
  await producer.send(topic, [{ key: record.id, value: JSON.stringify(record) }]);
}

export function decodeKeyRecord(message: Pick<IncomingMessage, 'key' | 'value'>): ApiKeyRecord | undefined {
  if (!message.value) return undefined;
  const parsed = JSON.parse(message.value.toString('utf8')) as ApiKeyRecord;
  if (typeof parsed.id !== 'string' || !isRole(parsed.role) || !Array.isArray(parsed.secretHashes)) return undefined;
  return parsed;
}

export function createKeyFollower(options: {
  readonly kafka: KafkaClient;
  readonly topic: string;
  readonly cache: KeyCache;
  readonly logger: Logger;
  readonly groupIdPrefix: string;
}): Component {
  const logger = options.logger.child({ component: 'key-follower', topic: options.topic });
  const abort = new AbortController();
  const groupId = `${options.groupIdPrefix}-keys-${Date.now().toString(36)}-${Math.random().toString(36).slice(2, 8)}`;
  const consumer = options.kafka.consumer({
    groupId,
    topics: [options.topic],
    fromBeginning: true,
    maxWaitTimeInMs: 100,
  });
  let ready = false;

  const apply = (messages: readonly IncomingMessage[]): void => {
    for (const message of messages) {
      const id = message.key?.toString('utf8');
      if (!id) continue;
      try {
        const record = decodeKeyRecord(message);
        if (record) options.cache.put(record);
        else options.cache.delete(id);
      } catch (error) {
        logger.warn(
          { keyId: id, offset: message.offset, err: (error as Error).message },
          'unreadable key record skipped',
        );
      }
    }
  };

  return {
    name: 'key-follower',
    async start() {
      const read = await connectWithBackoff(
        'key topic',
        () =>
          options.kafka.readToEnd({
            topic: options.topic,
            groupIdPrefix: `${options.groupIdPrefix}-keys`,
            onBatch: apply,
          }),
        logger,
        abort.signal,
      );
      logger.info({ records: read, keys: options.cache.list().length }, 'API keys loaded');
      await connectWithBackoff('key topic consumer', () => consumer.connect(), logger, abort.signal);
      // Offsets are never committed: each start reads the (small, compacted) topic again.
      void consumer
        .run(async (batch) => apply(batch.messages))
        .catch((error: unknown) => {
          ready = false;
          logger.error({ err: error }, 'following the key topic stopped');
        });
      ready = true;
    },
    async stop() {
      abort.abort();
      ready = false;
      await consumer.disconnect().catch(() => undefined);
    },
    isHealthy: () => true,
    isReady: () => ready,
  };
}
