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
 * reaches the end of its partition (caught up: published once the rest of that fetch is
 * written, see flushSoon), or from a timer when no further
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
  /**
   * Not yet published or committed: written chunks, records parked to be written with the rest
   * of their fetch (`unwritten`, see the handler), their next offsets, counts and start time.
   */
  interface Waiting {
    written: W[];
    unwritten: IncomingMessage[];
    offsets: Map<string, { topic: string; partition: number; offset: string }>;
    records: number;
    profiles: number;
    since: number;
  }
  let waiting: Waiting | null = null;
  let timer: NodeJS.Timeout | undefined;
  let soon: NodeJS.Timeout | undefined;
  /** One batch or timer flush at a time: they share `waiting`. */
  let lock: Promise<unknown> = Promise.resolve();
  const exclusive = <T>(task: () => Promise<T>): Promise<T> => {
    const run = lock.then(task, task);
    lock = run.catch(() => undefined);
    return run;
  };

  /**
   * Writes records in chunks of `batchSize`, pipelined: chunk n+1 is decoded while chunk n is
   * being inserted; inserts stay in order. Null if `keepGoing` said stop (nothing more written).
   */
  const write = async (messages: readonly IncomingMessage[], keepGoing: () => Promise<boolean> = async () => true): Promise<W[] | null> => {
    const written: W[] = [];
    let storing: Promise<W> | null = null;
    try {
      for (let i = 0; i < messages.length; i += options.batchSize) {
        const chunk = messages.slice(i, i + options.batchSize);
        const prepared = await retrying(() => options.prepare(chunk));
        if (storing) written.push(await storing);
        storing = retrying(() => options.store(prepared));
        if (!(await keepGoing())) return null;
      }
      if (storing) written.push(await storing);
      return written;
    } finally {
      // A chunk still being stored when the loop stopped early: wait for it, result unused.
      await storing?.catch(() => undefined);
    }
  };

  /** Writes what is parked, publishes what waits, then commits its offsets with `commit`. */
  const flush = async (commit: (offsets: { topic: string; partition: number; offset: string }[]) => Promise<void>): Promise<void> => {
    if (!waiting) return;
    const current = waiting;
    if (current.unwritten.length > 0) {
      const written = (await write(current.unwritten))!;
      current.unwritten = [];
      current.written.push(...written);
    }
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

  /** Publishes and commits what waits from outside a batch handler (timer, caught up). */
  const flushOutside = (): Promise<void> =>
    exclusive(() =>
      flush(async (offsets) => {
        if (!consumer?.commitOffsets) throw new Error('this Kafka consumer cannot commit outside a batch');
        await consumer.commitOffsets(offsets);
      }),
    ).catch((error: unknown) => {
      // Not committed: published again by the next batch or tick if the publish failed, and
      // the records are replayed after a restart or rebalance.
      logger.warn({ error: errorMessage(error) }, 'publishing or committing waiting batches failed; their offsets stay uncommitted');
      if (waiting) waiting.since = Date.now();
    });

  /**
   * Caught up: publish once the batches already fetched are written. One fetch brings a batch
   * per partition and kafkajs hands them over one by one; publishing after each would refresh
   * (and evaluate segments) once per partition, and every later partition would wait for the
   * earlier ones' refreshes: several times the latency at a steady trickle. So the publish waits
   * until no batch has been in hand for `settleMs` (a new batch cancels it, see run below).
   */
  const settleMs = 25;
  const flushSoon = (): void => {
    if (soon) clearTimeout(soon);
    soon = setTimeout(() => {
      soon = undefined;
      void flushOutside();
    }, settleMs);
  };
  const moreComing = (): void => {
    if (soon) clearTimeout(soon);
    soon = undefined;
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
        if (waiting && Date.now() - waiting.since >= options.refreshIntervalMs) void flushOutside();
      }, Math.max(50, Math.min(1_000, options.refreshIntervalMs)));
      timer.unref();
      void consumer
        .run((batch, context) => {
          moreComing();
          return exclusive(async () => {
            const last = batch.messages.at(-1);
            if (!last) return;
            // Past its last record (markers included): committing there leaves no lag behind.
            const end = BigInt(batch.lastOffset) > BigInt(last.offset) ? BigInt(batch.lastOffset) : BigInt(last.offset);
            // Caught up: nothing left in this partition when fetched.
            const caughtUp = BigInt(batch.highWatermark) - end <= 1n;
            const current: Waiting = (waiting ??= { written: [], unwritten: [], offsets: new Map(), records: 0, profiles: 0, since: Date.now() });
            if (caughtUp && current.unwritten.length + batch.messages.length < options.batchSize) {
              // A trickle: parked, and written with the rest of the fetch when it is published —
              // one insert for all partitions instead of one round of inserts per partition.
              current.unwritten.push(...batch.messages);
            } else {
              const written = await write([...current.unwritten, ...batch.messages], async () => {
                await context.heartbeat();
                return context.isRunning();
              });
              // Stopped (rebalance, shutdown): nothing waiting is committed; the next owner reads it again.
              if (!written) {
                waiting = null;
                return;
              }
              current.unwritten = [];
              current.written.push(...written);
              current.profiles += written.reduce((n, w) => n + options.touchedOf(w), 0);
            }
            current.offsets.set(`${batch.topic}\u0000${batch.partition}`, { topic: batch.topic, partition: batch.partition, offset: (end + 1n).toString() });
            current.records += batch.messages.length;
            // Resolved, not committed: the next fetch continues after this batch.
            context.resolveOffset(end.toString());
            if (current.profiles >= options.refreshMaxProfiles || Date.now() - current.since >= options.refreshIntervalMs) {
              await flush(() => context.commit());
            } else if (caughtUp) flushSoon();
          });
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
      if (timer) clearInterval(timer);
      if (soon) clearTimeout(soon);
      await consumer?.disconnect().catch(() => undefined);
    },
    isHealthy: () => !failed,
    isReady: () => running && !failed,
  };
}
