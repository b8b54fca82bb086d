import type { Component } from '../common/lifecycle';
import type { Logger } from '../common/logger';
import type { BatchConsumer, IncomingMessage, KafkaClient } from '../common/kafka/client';
import { connectWithBackoff } from '../common/dependency';
import { errorMessage, isRetriable } from '../common/errors';
import { sleep, withRetry } from '../common/retry';
import type { MaterializerMetrics } from './materializer.metrics';
import { partitionKey } from './replay-window';

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
}

/**
 * Not yet published or committed: written chunks, records parked to be written with the rest
 * of their fetch (`unwritten`, see the handler), their next offsets, counts and start time.
 */
interface Waiting<W> {
  /** Written chunks, in order: each resolves once durable (it may still be being stored). */
  written: Promise<W>[];
  unwritten: IncomingMessage[];
  offsets: Map<string, { topic: string; partition: number; offset: string }>;
  records: number;
  /** Distinct profiles the durable chunks touched: a refresh costs per profile, however many chunks named it. */
  profiles: Set<string>;
  since: number;
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
 * passed since the oldest, or when they touched `refreshMaxProfiles` distinct profiles, or when a batch
 * reaches the end of its partition (caught up: published once the rest of that fetch is
 * written, see flushSoon), or from a timer when no further batch comes. The publish runs while
 * the next batches are written (see flush); then that group's offsets are committed, groups in
 * order. A crash or rebalance before that
 * commit replays all waiting records (idempotent writes; profile updates are published again,
 * on a compacted topic). Events, orders and revenue in ClickHouse never depend on the publish:
 * they are exact from the moment the insert is confirmed.
 */
export function createMaterializerConsumer<P, W>(
  options: MaterializerConsumerOptions<P, W>,
): Component & { readonly processed: () => number } {
  const logger = options.logger.child({ component: 'materializer-consumer', groupId: options.groupId });
  const abort = new AbortController();
  let consumer: BatchConsumer | undefined;
  let running = false;
  let failed = false;
  let processed = 0;
  let batches = 0;
  let waiting: Waiting<W> | null = null;
  let timer: NodeJS.Timeout | undefined;
  let soon: NodeJS.Timeout | undefined;
  let parked: NodeJS.Immediate | undefined;
  /** One batch or timer flush at a time: they share `waiting`. */
  let lock: Promise<unknown> = Promise.resolve();
  const exclusive = <T>(task: () => Promise<T>): Promise<T> => {
    const run = lock.then(task, task);
    lock = run.catch(() => undefined);
    return run;
  };

  /**
   * The store under way: chunks are stored one at a time, in order. It may outlast the batch
   * handler that started it, so ClickHouse inserts one batch's last chunk while the next batch
   * is decoded (a handler waiting for its last insert left ClickHouse idle at every fetch).
   * Settles, never rejects: a failed store is handled once, by storeFailed.
   */
  let lastStore: Promise<unknown> = Promise.resolve();

  /**
   * A chunk could not be stored within the retry deadline. Records after it may already have
   * been handed over, so nothing may be committed from here on: the consumer stops, and a
   * restart reads everything uncommitted again (idempotent writes).
   */
  const storeFailed = (error: unknown): void => {
    if (failed) return;
    failed = true;
    logger.error(
      { error: errorMessage(error) },
      'storing a chunk failed: consumer stopped, nothing more is committed (uncommitted records are read again after a restart)',
    );
    void consumer?.disconnect().catch(() => undefined);
  };

  /**
   * Writes records in chunks of `batchSize`, pipelined: chunk n+1 is decoded while chunk n is
   * being inserted; inserts stay in order. Resolves once the last chunk's store has started,
   * with a promise per chunk that resolves once it is durable; null if `keepGoing` said stop
   * (nothing more written).
   */
  const write = async (
    messages: readonly IncomingMessage[],
    keepGoing: () => Promise<boolean> = async () => true,
  ): Promise<Promise<W>[] | null> => {
    const stores: Promise<W>[] = [];
    for (let i = 0; i < messages.length; i += options.batchSize) {
      const chunk = messages.slice(i, i + options.batchSize);
      const prepared = await retrying(() => options.prepare(chunk));
      await lastStore;
      if (failed) throw new Error('an earlier chunk could not be stored; the consumer has stopped');
      const stored = retrying(() => options.store(prepared));
      lastStore = stored.catch(storeFailed);
      stores.push(stored);
      if (!(await keepGoing())) return null;
    }
    return stores;
  };

  type Offsets = { topic: string; partition: number; offset: string }[];
  /** The publish and commit under way (one at a time, so commits go out in order). */
  let publishing: Promise<void> = Promise.resolve();
  /** A group whose publish failed: it goes again with the next one. */
  let unpublished: Waiting<W> | null = null;

  const commitOffsets = async (offsets: Offsets): Promise<void> => {
    if (!consumer?.commitOffsets) throw new Error('this Kafka consumer cannot commit outside a batch');
    await consumer.commitOffsets(offsets);
  };

  /** A publish is under way; `flushWanted`: a group became due meanwhile (flushed when it ends). */
  let inFlight = false;
  let flushWanted = false;

  /**
   * Writes what is parked, then hands what waits to the publisher and returns: the next batches
   * are written while ClickHouse refreshes this group's profiles, instead of queueing behind the
   * refresh (inserts, hence "queryable", never wait for it). One publish at a time: while one
   * runs, what waits keeps growing and is handed over the moment it ends, so under load groups
   * grow to what a refresh can keep up with. `mustWait`: the waiting group is as big as we let
   * it get (backpressure), so this waits for the publish under way first.
   */
  const flush = async (mustWait = false): Promise<void> => {
    const current = waiting;
    await writeParked(current);
    if (inFlight && !mustWait) {
      flushWanted = true;
      return;
    }
    await publishing;
    waiting = null;
    const group = unpublished && current ? merged(unpublished, current) : (unpublished ?? current);
    unpublished = null;
    if (!group) return;
    inFlight = true;
    publishing = publishAndCommit(group).finally(() => {
      inFlight = false;
      if (flushWanted) {
        flushWanted = false;
        void flushOutside();
      }
    });
  };

  /**
   * Publishes a group's profile updates, then commits its offsets: no offset is committed before
   * its records' updates were acknowledged. A failed publish keeps the group for the next one; a
   * failed commit (a rebalance, say) leaves the offsets to the group's next commit or to a replay,
   * which the idempotent writes absorb.
   */
  const publishAndCommit = async (group: Waiting<W>): Promise<void> => {
    // The group's last chunk may still be being stored: the publish reads what it wrote.
    // A chunk that failed for good stopped the consumer (storeFailed): nothing is committed.
    const written = await Promise.all(group.written).catch(() => null);
    if (!written) return;
    try {
      await retrying(() => options.publish(written));
    } catch (error) {
      unpublished = group;
      logger.warn(
        { error: errorMessage(error), records: group.records },
        'publishing profile updates failed; they go again with the next batches, offsets stay uncommitted',
      );
      return;
    }
    try {
      batches += 1;
      options.beforeCommit?.(batches);
      await commitOffsets([...group.offsets.values()]);
      processed += group.records;
      options.metrics?.batchSeconds.observe((Date.now() - group.since) / 1000);
    } catch (error) {
      logger.warn(
        { error: errorMessage(error) },
        'committing offsets failed; they stay uncommitted until a later commit or a replay',
      );
    }
  };

  /**
   * Writes the records parked in `current` (see the batch handler), then `more`, and records
   * their chunks in `current` (as written once each is durable). False if `keepGoing` said
   * stop: then nothing is recorded.
   */
  const writeParked = async (
    current: Waiting<W> | null,
    more: readonly IncomingMessage[] = [],
    keepGoing?: () => Promise<boolean>,
  ): Promise<boolean> => {
    if (!current || current.unwritten.length + more.length === 0) return true;
    const stores = await write([...current.unwritten, ...more], keepGoing);
    if (!stores) return false;
    current.unwritten = [];
    for (const stored of stores) {
      current.written.push(stored);
      stored.then(
        (chunk) => {
          for (const id of options.touchedOf(chunk)) current.profiles.add(id);
        },
        () => undefined,
      ); // a failure is handled by storeFailed
    }
    return true;
  };

  // Parked records that could not be written stay parked, and are written by the next batch or
  // tick (or replayed after a restart); nothing of theirs was committed.
  const parkedWriteFailed = (error: unknown): void => {
    logger.warn({ error: errorMessage(error) }, 'writing parked records failed; retried with the next batch or tick');
  };

  /** Publishes and commits what waits from outside a batch handler (timer, caught up). */
  const flushOutside = (): Promise<void> =>
    exclusive(flush).catch((error: unknown) => {
      parkedWriteFailed(error);
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
    if (parked) clearImmediate(parked);
    parked = undefined;
  };

  /**
   * Behind, small batches: one fetch brings a batch per partition of both topics, each far
   * below `batchSize`, and writing each on its own made a round of inserts (and parts, and
   * merges) per partition. They are parked instead and written together once the fetch is
   * handed over: kafkajs hands a fetch's batches over without waiting on I/O, so the
   * immediate below runs only once the last of them was handled (a new batch cancels it, see
   * moreComing) and the write overlaps the next fetch.
   */
  const writeParkedSoon = (): void => {
    if (parked) clearImmediate(parked);
    parked = setImmediate(() => {
      parked = undefined;
      exclusive(() => writeParked(waiting)).catch(parkedWriteFailed);
    });
  };

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
        includeEmptyBatches: true,
        ...(options.sessionTimeoutMs !== undefined ? { sessionTimeoutMs: options.sessionTimeoutMs } : {}),
      });
      await connectWithBackoff('Kafka consumer', () => consumer!.connect(), logger, abort.signal);
      running = true;
      // No further batch may come for a while (caught up, or only an open transaction left):
      // then what waits is published and committed from here.
      timer = setInterval(
        () => {
          if ((waiting && Date.now() - waiting.since >= options.refreshIntervalMs) || unpublished) void flushOutside();
        },
        Math.max(50, Math.min(1_000, options.refreshIntervalMs)),
      );
      timer.unref();
      void consumer
        .run((batch, context) => {
          moreComing();
          return exclusive(async () => {
            const last = batch.messages.at(-1);
            // Past its last record (markers included): committing there leaves no lag behind.
            // A batch of markers only has no message (includeEmptyBatches) and is committed the same way.
            const end =
              last && BigInt(last.offset) > BigInt(batch.lastOffset) ? BigInt(last.offset) : BigInt(batch.lastOffset);
            // Caught up: nothing left in this partition when fetched.
            const caughtUp = BigInt(batch.highWatermark) - end <= 1n;
            const current: Waiting<W> = (waiting ??= {
              written: [],
              unwritten: [],
              offsets: new Map(),
              records: 0,
              profiles: new Set(),
              since: Date.now(),
            });
            const key = partitionKey(batch.topic, batch.partition);
            if (!last) {
              keepLatest(current.offsets, key, {
                topic: batch.topic,
                partition: batch.partition,
                offset: (end + 1n).toString(),
              });
              if (caughtUp) flushSoon();
              else if (current.unwritten.length > 0) writeParkedSoon();
              return;
            }
            if (current.unwritten.length + batch.messages.length < options.batchSize) {
              // Parked, and written with the rest of the fetch: one round of inserts for all
              // partitions instead of one per partition (caught up: when it is published, see
              // flushSoon; behind: once the fetch is handed over, see writeParkedSoon).
              current.unwritten.push(...batch.messages);
            } else {
              const keepGoing = async (): Promise<boolean> => {
                await context.heartbeat();
                return context.isRunning();
              };
              // Stopped (rebalance, shutdown): nothing waiting is committed; the next owner reads it again.
              if (!(await writeParked(current, batch.messages, keepGoing))) {
                waiting = null;
                return;
              }
            }
            current.offsets.set(key, { topic: batch.topic, partition: batch.partition, offset: (end + 1n).toString() });
            current.records += batch.messages.length;
            // Resolved, not committed: the next fetch continues after this batch.
            context.resolveOffset(end.toString());
            const profiles = current.profiles.size;
            if (profiles >= options.refreshMaxProfiles || Date.now() - current.since >= options.refreshIntervalMs)
              await flush(profiles >= 2 * options.refreshMaxProfiles);
            else if (caughtUp) flushSoon();
            else if (current.unwritten.length > 0) writeParkedSoon();
          });
        })
        .catch((error: unknown) => {
          failed = true;
          logger.error({ error: errorMessage(error) }, 'consumer stopped');
        });
      logger.info({ topics: options.topics }, 'consuming');
    },
    async stop() {
      running = false;
      if (timer) clearInterval(timer);
      moreComing();
      // Graceful: what is written gets its profile updates and its commit, if that is quick;
      // otherwise it is replayed after the restart (idempotent writes).
      await Promise.race([
        exclusive(() => flush(true)).then(() => publishing),
        sleep(options.stopGraceMs ?? 10_000),
      ]).catch(() => undefined);
      abort.abort();
      await consumer?.disconnect().catch(() => undefined);
    },
    isHealthy: () => !failed,
    // Not ready while kafkajs restarts a crashed consumer: nothing is consumed meanwhile.
    isReady: () => running && !failed && (consumer?.isConsuming?.() ?? true),
  };
}

/** Two groups as one: written chunks in order, the later offset of each partition, records summed, profiles united. */
function merged<W>(earlier: Waiting<W>, later: Waiting<W>): Waiting<W> {
  const offsets = new Map(earlier.offsets);
  for (const [key, value] of later.offsets) keepLatest(offsets, key, value);
  return {
    written: [...earlier.written, ...later.written],
    unwritten: [...earlier.unwritten, ...later.unwritten],
    offsets,
    records: earlier.records + later.records,
    profiles: new Set([...earlier.profiles, ...later.profiles]),
    since: Math.min(earlier.since, later.since),
  };
}

/** Records `next` as its partition's offset to commit, unless a later one is there already. */
function keepLatest(
  offsets: Waiting<unknown>['offsets'],
  key: string,
  next: { topic: string; partition: number; offset: string },
): void {
  const previous = offsets.get(key);
  if (!previous || BigInt(next.offset) > BigInt(previous.offset)) offsets.set(key, next);
}
