import type { Component } from '../common/lifecycle';
import type { Logger } from '../common/logger';
import type { BatchConsumer, IncomingMessage, KafkaClient } from '../common/kafka/client';
import { connectWithBackoff } from '../common/dependency';
import { errorMessage, isRetriable } from '../common/errors';
import { withRetry } from '../common/retry';
import type { MaterializerMetrics } from './materializer.metrics';

export interface MaterializerConsumerOptions<P = unknown, W = unknown> {
  readonly kafka: KafkaClient;
  readonly logger: Logger;
  readonly groupId: string;
  readonly topics: readonly string[];
  /** Records per write; a longer Kafka batch is written in chunks of this size. */
  readonly batchSize: number;
  readonly lingerMs: number;
  readonly fetchMinBytes: number;
  readonly fetchMaxBytesPerPartition: number;
  /** Decodes one chunk into rows (nothing written). */
  readonly prepare: (messages: readonly IncomingMessage[]) => Promise<P>;
  /** Writes one prepared chunk and resolves once its rows are durable. */
  readonly store: (prepared: P) => Promise<W>;
  /** Derived output (profile updates) of written chunks, durable when it resolves. */
  readonly publish: (written: readonly W[]) => Promise<unknown>;
  /** Profiles a written chunk touched (bounds how much is published at once). */
  readonly touchedOf: (written: W) => number;
  /**
   * While the consumer is behind, written chunks are published together at most every
   * `refreshIntervalMs`, or sooner once they touched `refreshMaxProfiles` profiles. A batch that
   * reaches the end of its partition is published at once.
   */
  readonly refreshIntervalMs: number;
  readonly refreshMaxProfiles: number;
  readonly metrics?: MaterializerMetrics;
  /** Called with the publish count after written batches and their profile updates are durable, just before their offsets are committed (fault injection). */
  readonly beforeCommit?: (batchNumber: number) => void;
  /** How long a chunk is retried while ClickHouse or Kafka are unavailable before the consumer fails. */
  readonly retryDeadlineMs?: number;
}

/**
 * Offsets follow durability: a Kafka batch is written in chunks of `batchSize` records
 * (`write`); the derived output of written chunks is published (`publish`), and only then are
 * their offsets committed — after ClickHouse confirmed every insert AND Kafka acknowledged the
 * profile updates of those records. A crash anywhere before the commit replays the records,
 * which the idempotent writes absorb. Read committed (the stitcher writes in transactions).
 * Chunks of one partition are written in order; partitions one after another (per-profile order
 * is kept because both input topics are keyed by profile id).
 *
 * Publishing across batches: the cost of a refresh is per touched profile, not per event, so
 * while the consumer is behind, written chunks wait (written, offsets resolved in kafkajs so the
 * next fetch moves on, NOT committed) and are published together when `refreshIntervalMs` has
 * passed since the oldest, or when they touched `refreshMaxProfiles` profiles, or when a batch
 * reaches the end of its partition (caught up: publish at once), or from a timer when no further
 * batch comes. Then every offset written so far is committed. A crash or rebalance before that
 * commit replays all waiting records (idempotent writes; profile updates are published again,
 * on a compacted topic). Events, orders and revenue in ClickHouse never depend on the publish:
 * they are exact from the moment the insert is confirmed.
 */
export function createMaterializerConsumer<P, W>(options: MaterializerConsumerOptions<P, W>): Component & { readonly processed: () => number } {
  const logger = options.logger.child({ component: 'materializer-consumer', groupId: options.groupId });
  const abort = new AbortController();
  let consumer: BatchConsumer | undefined;
  let running = false;
  let failed = false;
  let processed = 0;
  let batches = 0;
  /** Written, not yet published or committed: chunks, their next offsets, records and start time. */
  let waiting: { written: W[]; offsets: Map<string, { topic: string; partition: number; offset: string }>; records: number; profiles: number; since: number } | null = null;
  let timer: NodeJS.Timeout | undefined;
  /** One batch or timer flush at a time: they share `waiting`. */
  let lock: Promise<unknown> = Promise.resolve();
  const exclusive = <T>(task: () => Promise<T>): Promise<T> => {
    const run = lock.then(task, task);
    lock = run.catch(() => undefined);
    return run;
  };

  /** Publishes what waits, then commits its offsets with `commit`. */
  const flush = async (commit: (offsets: { topic: string; partition: number; offset: string }[]) => Promise<void>): Promise<void> => {
    if (!waiting) return;
    const current = waiting;
    await retrying(() => options.publish(current.written));
    // Published: nothing waits any more. Should the commit below fail (say, a rebalance), the
    // offsets stay resolved and go with the next commit, or the records are replayed; either way
    // no offset is committed before its records' profile updates were acknowledged.
    waiting = null;
    batches += 1;
    options.beforeCommit?.(batches);
    await commit([...current.offsets.values()]);
    processed += current.records;
    options.metrics?.batchSeconds.observe((Date.now() - current.since) / 1000);
  };

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
      // No further batch may come for a while (caught up, or only an open transaction left):
      // then what waits is published and committed from here.
      timer = setInterval(() => {
        if (!waiting || Date.now() - waiting.since < options.refreshIntervalMs) return;
        const commitOutside = async (offsets: { topic: string; partition: number; offset: string }[]): Promise<void> => {
          if (!consumer?.commitOffsets) throw new Error('this Kafka consumer cannot commit outside a batch');
          await consumer.commitOffsets(offsets);
        };
        void exclusive(() => flush(commitOutside)).catch((error: unknown) => {
          // Not committed: published again by the next batch or tick if the publish failed, and
          // the records are replayed after a restart or rebalance.
          logger.warn({ error: errorMessage(error) }, 'publishing or committing waiting batches failed; their offsets stay uncommitted');
          if (waiting) waiting.since = Date.now();
        });
      }, Math.max(50, Math.min(1_000, options.refreshIntervalMs)));
      timer.unref();
      void consumer
        .run((batch, context) =>
          exclusive(async () => {
            const last = batch.messages.at(-1);
            if (!last) return;
            // Pipelined: chunk n+1 is decoded while chunk n is being inserted; inserts stay in order.
            const written: W[] = [];
            let storing: Promise<W> | null = null;
            try {
              for (let i = 0; i < batch.messages.length; i += options.batchSize) {
                if (!context.isRunning()) return; // not committed: the next owner reads it again
                const chunk = batch.messages.slice(i, i + options.batchSize);
                const prepared = await retrying(() => options.prepare(chunk));
                if (storing) written.push(await storing);
                storing = retrying(() => options.store(prepared));
                await context.heartbeat();
              }
              if (storing) written.push(await storing);
            } finally {
              // A chunk still being stored when the loop stopped early: wait for it, result unused.
              await storing?.catch(() => undefined);
            }
            waiting ??= { written: [], offsets: new Map(), records: 0, profiles: 0, since: Date.now() };
            waiting.written.push(...written);
            waiting.offsets.set(`${batch.topic}\u0000${batch.partition}`, { topic: batch.topic, partition: batch.partition, offset: (BigInt(last.offset) + 1n).toString() });
            waiting.records += batch.messages.length;
            waiting.profiles += written.reduce((n, w) => n + options.touchedOf(w), 0);
            // Resolved, not committed: the next fetch continues after this batch.
            context.resolveOffset(last.offset);
            // Caught up: nothing (but transaction markers) left in this partition when fetched.
            const caughtUp = BigInt(batch.highWatermark) - BigInt(last.offset) <= 2n;
            if (caughtUp || waiting.profiles >= options.refreshMaxProfiles || Date.now() - waiting.since >= options.refreshIntervalMs) {
              await flush(() => context.commit());
            }
          }),
        )
        .catch((error: unknown) => {
          failed = true;
          logger.error({ error: errorMessage(error) }, 'consumer stopped');
        });
      logger.info({ topics: options.topics }, 'consuming');
    },
    async stop() {
      abort.abort();
      running = false;
      if (timer) clearInterval(timer);
      await consumer?.disconnect().catch(() => undefined);
    },
    isHealthy: () => !failed,
    isReady: () => running && !failed,
  };
}
