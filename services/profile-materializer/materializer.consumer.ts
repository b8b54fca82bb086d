import type { Component } from '../common/lifecycle';
import type { Logger } from '../common/logger';
import type { BatchConsumer, IncomingMessage, KafkaClient } from '../common/kafka/client';
import { connectWithBackoff } from '../common/dependency';
import { errorMessage, isRetriable } from '../common/errors';
import { withRetry } from '../common/retry';
import type { MaterializerMetrics } from './materializer.metrics';

export interface MaterializerConsumerOptions<W = unknown> {
  readonly kafka: KafkaClient;
  readonly logger: Logger;
  readonly groupId: string;
  readonly topics: readonly string[];
  /** Records per write; a longer Kafka batch is written in chunks of this size. */
  readonly batchSize: number;
  readonly lingerMs: number;
  readonly fetchMinBytes: number;
  readonly fetchMaxBytesPerPartition: number;
  /** Writes one chunk and resolves once its rows are durable. */
  readonly write: (messages: readonly IncomingMessage[]) => Promise<W>;
  /** After every chunk of a Kafka batch is written: derived output (profile updates), durable when it resolves. */
  readonly publish: (written: readonly W[]) => Promise<unknown>;
  readonly metrics?: MaterializerMetrics;
  /** Called with the batch count after a batch is durable, just before its offsets are committed (fault injection). */
  readonly beforeCommit?: (batchNumber: number) => void;
  /** How long a chunk is retried while ClickHouse or Kafka are unavailable before the consumer fails. */
  readonly retryDeadlineMs?: number;
}

/**
 * Offsets follow durability: a Kafka batch is written in chunks of `batchSize` records
 * (`write`), then its derived output is published once (`publish`), and only then is its last
 * offset resolved and committed — after ClickHouse confirmed every insert and Kafka
 * acknowledged the profile updates. A crash anywhere before the commit replays the chunk, which the idempotent
 * writes absorb. Read committed (the stitcher writes in transactions). Chunks of one partition
 * are written in order; partitions one after another (per-profile order is kept because both
 * input topics are keyed by profile id).
 */
export function createMaterializerConsumer<W>(options: MaterializerConsumerOptions<W>): Component & { readonly processed: () => number } {
  const logger = options.logger.child({ component: 'materializer-consumer', groupId: options.groupId });
  const abort = new AbortController();
  let consumer: BatchConsumer | undefined;
  let running = false;
  let failed = false;
  let processed = 0;
  let batches = 0;

  const retrying = <T>(task: () => Promise<T>): Promise<T> =>
    withRetry(task, {
      initialDelayMs: 200,
      maxDelayMs: 5_000,
      deadlineMs: options.retryDeadlineMs ?? 120_000,
      signal: abort.signal,
      shouldRetry: (error) => !abort.signal.aborted && isRetriable(error),
      onRetry: ({ attempt, delayMs, error }) => logger.warn({ attempt, delayMs, error }, 'materializing a batch failed, retrying'),
    });

  return {
    name: 'materializer-consumer',
    processed: () => processed,
    async start() {
      consumer = options.kafka.consumer({
        groupId: options.groupId,
        topics: options.topics,
        fromBeginning: true,
        minBytes: options.fetchMinBytes,
        maxWaitTimeInMs: options.lingerMs,
        maxBytesPerPartition: options.fetchMaxBytesPerPartition,
      });
      await connectWithBackoff('Kafka consumer', () => consumer!.connect(), logger, abort.signal);
      running = true;
      void consumer
        .run(async (batch, context) => {
          const started = Date.now();
          const written: W[] = [];
          for (let i = 0; i < batch.messages.length; i += options.batchSize) {
            if (!context.isRunning()) return; // not committed: the next owner reads it again
            const chunk = batch.messages.slice(i, i + options.batchSize);
            written.push(await retrying(() => options.write(chunk)));
            await context.heartbeat();
          }
          const last = batch.messages.at(-1);
          if (!last) return;
          await retrying(() => options.publish(written));
          batches += 1;
          options.beforeCommit?.(batches);
          context.resolveOffset(last.offset);
          await context.commit();
          processed += batch.messages.length;
          options.metrics?.batchSeconds.observe((Date.now() - started) / 1000);
        })
        .catch((error: unknown) => {
          failed = true;
          logger.error({ error: errorMessage(error) }, 'consumer stopped');
        });
      logger.info({ topics: options.topics }, 'consuming');
    },
    async stop() {
      abort.abort();
      running = false;
      await consumer?.disconnect().catch(() => undefined);
    },
    isHealthy: () => !failed,
    isReady: () => running && !failed,
  };
}
