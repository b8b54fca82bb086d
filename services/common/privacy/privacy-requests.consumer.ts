import { schema, type PrivacyRequest } from '../../../schemas';
import { connectWithBackoff } from '../dependency';
import { errorMessage } from '../errors';
import type { BatchConsumer, IncomingMessage, KafkaClient } from '../kafka/client';
import type { Component } from '../lifecycle';
import type { Logger } from '../logger';
import type { AvroCodec } from '../registry';

export interface PrivacyRecordContext {
  readonly heartbeat: () => Promise<void>;
  readonly signal: AbortSignal;
  /** Where the record is (a stable id for what it causes: a webhook-id). */
  readonly message: IncomingMessage;
}

/**
 * Consumes kumiki.privacy.requests (a consumer group of its own) and hands each record to
 * `handle`: the materializer carries requests out, the activator acts on deletion notices.
 *
 * One record at a time, in offset order per partition, and its offset is committed only once
 * `handle` is done with it: a record whose process dies on the way is read again after the
 * restart, and the handler carries on from its checkpoint. A record that is not a PrivacyRequest
 * is passed over here: the stitcher dead-letters it.
 */
export function createPrivacyRequestsConsumer(options: {
  readonly kafka: Pick<KafkaClient, 'consumer'>;
  readonly codec: () => AvroCodec;
  readonly topic: string;
  readonly groupId: string;
  readonly handle: (record: PrivacyRequest, context: PrivacyRecordContext) => Promise<void>;
  readonly logger: Logger;
  readonly sessionTimeoutMs?: number;
}): Component {
  const logger = options.logger.child({ component: 'privacy-requests', topic: options.topic });
  const abort = new AbortController();
  const reader = schema('PrivacyRequest').type;
  let consumer: BatchConsumer | undefined;
  let running = false;
  let failed = false;

  return {
    name: 'privacy-requests',
    async start() {
      consumer = options.kafka.consumer({
        groupId: options.groupId,
        topics: [options.topic],
        fromBeginning: true,
        ...(options.sessionTimeoutMs ? { sessionTimeoutMs: options.sessionTimeoutMs } : {}),
      });
      await connectWithBackoff('privacy requests consumer', () => consumer!.connect(), logger, abort.signal);
      running = true;
      void consumer
        .run(async (batch, context) => {
          for (const message of batch.messages) {
            if (!context.isRunning() || abort.signal.aborted) return;
            if (message.value !== null) {
              let record: PrivacyRequest | undefined;
              try {
                record = (await options.codec().decode<PrivacyRequest>(message.value, reader)).value;
              } catch (error) {
                logger.debug(
                  { offset: message.offset, error: errorMessage(error) },
                  'not a PrivacyRequest; passed over',
                );
              }
              if (record) await options.handle(record, { heartbeat: context.heartbeat, signal: abort.signal, message });
            }
            if (abort.signal.aborted) return;
            context.resolveOffset(message.offset);
            await context.commit();
          }
        })
        .catch((error: unknown) => {
          failed = true;
          logger.error({ error: errorMessage(error) }, 'privacy requests consumer stopped');
        });
      logger.info({ groupId: options.groupId }, 'consuming privacy requests');
    },
    async stop() {
      running = false;
      abort.abort();
      await consumer?.disconnect().catch(() => undefined);
    },
    isHealthy: () => !failed,
    isReady: () => running && !failed && (consumer?.isConsuming?.() ?? true),
  };
}
