import { systemClock, type Clock } from '../common/clock';
import { connectWithBackoff } from '../common/dependency';
import { errorMessage, isRetriable } from '../common/errors';
import type { BatchConsumer, IncomingMessage, KafkaClient } from '../common/kafka/client';
import type { Component } from '../common/lifecycle';
import type { Logger } from '../common/logger';
import { withRetry } from '../common/retry';
import { ChunkWriter } from './chunk-writer';
import type { MaterializerMetrics } from './materializer.metrics';
import { PublishGroups } from './publish-groups';

export interface MaterializerConsumerOptions<P = unknown, W = unknown> {
  /** Only its consumer is used (the benchmark hands over an in-memory one). */
  readonly kafka: Pick<KafkaClient, 'consumer'>;
  readonly logger: Logger;
  readonly groupId: string;
  readonly topics: readonly string[];
  /** Records per write; a longer Kafka batch is written in chunks of this size. */
  readonly batchSize: number;
  readonly lingerMs: number;
  readonly fetchMinBytes: number;
  readonly fetchMaxBytesPerPartition: number;
  /** How soon a crashed instance's partitions go to another (kafkajs' default, 30 s, when absent). */
  readonly sessionTimeoutMs?: number;
  /** Decodes one chunk into rows (nothing written). */
  readonly prepare: (messages: readonly IncomingMessage[]) => Promise<P>;
  /** Writes one prepared chunk and resolves once its rows are durable. */
  readonly store: (prepared: P) => Promise<W>;
  /** Derived output (profile updates) of written chunks, durable when it resolves. */
  readonly publish: (written: readonly W[]) => Promise<unknown>;
  /** Ids of the profiles a written chunk touched (bounds how much is published at once). */
  readonly touchedOf: (written: W) => Iterable<string>;
  /**
   * While the consumer is behind, written chunks are published together at most every
   * `refreshIntervalMs`, or sooner once they touched `refreshMaxProfiles` distinct profiles. A batch that
   * reaches the end of its partition is published at once.
   */
  readonly refreshIntervalMs: number;
  readonly refreshMaxProfiles: number;
  readonly metrics?: MaterializerMetrics;
  /** Called with the publish count after written batches and their profile updates are durable, just before their offsets are committed (fault injection). */
  readonly beforeCommit?: (batchNumber: number) => void;
  /** How long a chunk is retried while ClickHouse or Kafka are unavailable before the consumer fails. */
  readonly retryDeadlineMs?: number;
  /** On stop, how long to wait for what is written to be published and committed (default 10 s). */
  readonly stopGraceMs?: number;
  readonly clock?: Clock;
}

/**
 * Offsets follow durability: a Kafka batch is written in chunks of `batchSize` records
 * (ChunkWriter); the derived output of written chunks is published (`publish`), and only then
 * are their offsets committed — after ClickHouse confirmed every insert AND Kafka acknowledged
 * the profile updates of those records. A crash anywhere before the commit replays the records,
 * which the idempotent writes absorb. Read committed (the stitcher writes in transactions).
 * Chunks of one partition are written in order; partitions one after another (per-profile order
 * is kept because both input topics are keyed by profile id).
 *
 * Publishing across batches: the cost of a refresh is per touched profile, not per event, so
 * while the consumer is behind, written chunks wait (written, offsets resolved in kafkajs so the
 * next fetch moves on, NOT committed) and are published together (PublishGroups says when).
 * Events, orders and revenue in ClickHouse never depend on the publish: they are exact from the
 * moment the insert is confirmed.
 *
 * Here the pieces are wired: the Kafka consumer, the ChunkWriter, PublishGroups and its timer.
 * What a group's publish produces is `publish` (materializer.service.ts composes it: profile
 * updates, then segment evaluation) — output that must go out before a group's offsets are
 * committed is added there.
 */
export function createMaterializerConsumer<P, W>(
  options: MaterializerConsumerOptions<P, W>,
): Component & { readonly processed: () => number } {
  const logger = options.logger.child({ component: 'materializer-consumer', groupId: options.groupId });
  const clock = options.clock ?? systemClock;
  const abort = new AbortController();
  let consumer: BatchConsumer | undefined;
  let running = false;
  let cancelTimer: (() => void) | undefined;

  const retrying = <T>(task: () => Promise<T>): Promise<T> =>
    withRetry(task, {
      initialDelayMs: 200,
      maxDelayMs: 5_000,
      deadlineMs: options.retryDeadlineMs ?? 120_000,
      signal: abort.signal,
      shouldRetry: (error) => !abort.signal.aborted && isRetriable(error),
      onRetry: ({ attempt, delayMs, error }) =>
        logger.warn({ attempt, delayMs, error }, 'materializing a batch failed, retrying'),
    });
  const writer = new ChunkWriter<P, W>({
    batchSize: options.batchSize,
    prepare: options.prepare,
    store: options.store,
    retrying,
    onStoreFailed: (error) => {
      logger.error(
        { error: errorMessage(error) },
        'storing a chunk failed: consumer stopped, nothing more is committed (uncommitted records are read again after a restart)',
      );
      void consumer?.disconnect().catch(() => undefined);
    },
  });
  const groups = new PublishGroups<W>({
    writer,
    publish: options.publish,
    touchedOf: options.touchedOf,
    commitOffsets: async (offsets) => {
      if (!consumer?.commitOffsets) throw new Error('this Kafka consumer cannot commit outside a batch');
      await consumer.commitOffsets(offsets);
    },
    retrying,
    batchSize: options.batchSize,
    refreshIntervalMs: options.refreshIntervalMs,
    refreshMaxProfiles: options.refreshMaxProfiles,
    clock,
    logger,
    ...(options.metrics ? { metrics: options.metrics } : {}),
    ...(options.beforeCommit ? { beforeCommit: options.beforeCommit } : {}),
  });

  return {
    name: 'materializer-consumer',
    processed: () => groups.processed,
    async start() {
      const joined = options.kafka.consumer({
        groupId: options.groupId,
        topics: options.topics,
        fromBeginning: true,
        minBytes: options.fetchMinBytes,
        maxWaitTimeInMs: options.lingerMs,
        maxBytesPerPartition: options.fetchMaxBytesPerPartition,
        includeEmptyBatches: true,
        ...(options.sessionTimeoutMs !== undefined ? { sessionTimeoutMs: options.sessionTimeoutMs } : {}),
      });
      consumer = joined;
      await connectWithBackoff('Kafka consumer', () => joined.connect(), logger, abort.signal);
      running = true;
      // No further batch may come for a while (caught up, or only an open transaction left):
      // then what waits is published and committed from here.
      cancelTimer = clock.every(Math.max(50, Math.min(1_000, options.refreshIntervalMs)), () => groups.tick());
      void joined
        .run((batch, context) => groups.onBatch(batch, context))
        .catch((error: unknown) => {
          writer.fail();
          logger.error({ error: errorMessage(error) }, 'consumer stopped');
        });
      logger.info({ topics: options.topics }, 'consuming');
    },
    async stop() {
      running = false;
      cancelTimer?.();
      await groups.drain(options.stopGraceMs ?? 10_000);
      abort.abort();
      await consumer?.disconnect().catch(() => undefined);
    },
    isHealthy: () => !writer.failed,
    // Not ready while kafkajs restarts a crashed consumer: nothing is consumed meanwhile.
    isReady: () => running && !writer.failed && (consumer?.isConsuming?.() ?? true),
  };
}
