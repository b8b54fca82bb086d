import type { Clock } from '../common/clock';
import { errorMessage } from '../common/errors';
import { createExclusive } from '../common/exclusive';
import type { BatchContext } from '../common/kafka/client';
import type { IncomingMessage, MessageBatch } from '../common/kafka/messages';
import type { Logger } from '../common/logger';
import type { ChunkWriter } from './chunk-writer';
import type { MaterializerMetrics } from './materializer.metrics';
import { partitionKey } from './replay-window';

type Offset = { topic: string; partition: number; offset: string };

/**
 * Records of one or more batches that are published and committed together. Its records are
 * `unwritten` (parked: waiting to be written with the rest of their fetch) or `written` (a chunk
 * each, stored or being stored); their offsets are resolved in kafkajs, never committed before
 * the group's profile updates are published.
 */
interface Group<W> {
  /** Written chunks, in order: each resolves once durable (it may still be being stored). */
  written: Promise<W>[];
  unwritten: IncomingMessage[];
  offsets: Map<string, Offset>;
  records: number;
  /** Distinct profiles the durable chunks touched: a refresh costs per profile, however many chunks named it. */
  profiles: Set<string>;
  since: number;
}

/**
 * Where the publisher stands: nothing under way; a group being published (then committed); or
 * a group being published while the next became due (it goes the moment this one ends).
 */
export type PublisherState = 'idle' | 'publishing' | 'publishing-next-due';

export interface PublishGroupsDeps<W> {
  readonly writer: Pick<ChunkWriter<unknown, W>, 'write'>;
  /** Derived output (profile updates) of written chunks, durable when it resolves. */
  readonly publish: (written: readonly W[]) => Promise<unknown>;
  readonly touchedOf: (written: W) => Iterable<string>;
  readonly commitOffsets: (offsets: readonly Offset[]) => Promise<void>;
  readonly retrying: <T>(task: () => Promise<T>) => Promise<T>;
  readonly batchSize: number;
  readonly refreshIntervalMs: number;
  readonly refreshMaxProfiles: number;
  readonly clock: Clock;
  readonly logger: Logger;
  readonly metrics?: Pick<MaterializerMetrics, 'batchSeconds'>;
  /** Called with the publish count just before a group's offsets are committed (fault injection). */
  readonly beforeCommit?: (publishCount: number) => void;
}

/** Behind, caught up: how long no batch must have been in hand before a caught-up group is published. */
const SETTLE_MS = 25;

/**
 * The materializer's commit machinery: batches gather in a group, written as they come (or
 * parked to be written with the rest of their fetch), and a group is published, then committed,
 * when it is due — when `refreshIntervalMs` has passed since its oldest record, or its chunks
 * touched `refreshMaxProfiles` distinct profiles, or a batch reached the end of its partition
 * (caught up: published once the rest of that fetch is written, see settleThenFlush), or from
 * the timer when no further batch comes. One publish at a time, groups in order: while one
 * runs, the next batches are written into the next group, which goes the moment it ends; a
 * group twice the bound waits for it (backpressure). A failed publish keeps its group as
 * `retry`, published with the next. A crash or rebalance before a commit replays every waiting
 * record (idempotent writes; profile updates are published again, on a compacted topic).
 */
export class PublishGroups<W> {
  private gathering: Group<W> | null = null;
  private retry: Group<W> | null = null;
  private publisher: PublisherState = 'idle';
  private publishing: Promise<void> = Promise.resolve();
  /** One batch or timer flush at a time: they share the gathering group. */
  private readonly exclusive = createExclusive();
  private cancelSettle: (() => void) | undefined;
  private cancelParkedWrite: (() => void) | undefined;
  private publishes = 0;
  private committedRecords = 0;

  constructor(private readonly deps: PublishGroupsDeps<W>) {}

  /** Records whose offsets were committed. */
  get processed(): number {
    return this.committedRecords;
  }

  get state(): PublisherState {
    return this.publisher;
  }

  /** The consumer's batch handler. */
  onBatch(batch: MessageBatch, context: BatchContext): Promise<void> {
    this.moreComing();
    return this.exclusive(() => this.take(batch, context));
  }

  /** The timer: no further batch may come for a while (caught up, or only an open transaction left). */
  tick(): void {
    const { gathering } = this;
    if ((gathering && this.deps.clock.now() - gathering.since >= this.deps.refreshIntervalMs) || this.retry)
      void this.flushOutside();
  }

  /**
   * On stop: what is written gets its profile updates and its commit, if that takes less than
   * `graceMs`; otherwise it is replayed after the restart (idempotent writes).
   */
  async drain(graceMs: number): Promise<void> {
    this.moreComing();
    await Promise.race([
      this.exclusive(() => this.flush(true)).then(() => this.publishing),
      this.deps.clock.sleep(graceMs),
    ]).catch(() => undefined);
  }

  private async take(batch: MessageBatch, context: BatchContext): Promise<void> {
    const { deps } = this;
    const last = batch.messages.at(-1);
    // Past its last record (markers included): committing there leaves no lag behind.
    // A batch of markers only has no message (includeEmptyBatches) and is committed the same way.
    const end = last && BigInt(last.offset) > BigInt(batch.lastOffset) ? BigInt(last.offset) : BigInt(batch.lastOffset);
    // Caught up: nothing left in this partition when fetched.
    const caughtUp = BigInt(batch.highWatermark) - end <= 1n;
    const current = (this.gathering ??= newGroup(deps.clock.now()));
    const key = partitionKey(batch.topic, batch.partition);
    const offset = { topic: batch.topic, partition: batch.partition, offset: (end + 1n).toString() };
    if (!last) {
      keepLatest(current.offsets, key, offset);
      if (caughtUp) this.settleThenFlush();
      else if (current.unwritten.length > 0) this.writeParkedSoon();
      return;
    }
    if (current.unwritten.length + batch.messages.length < deps.batchSize) {
      // Parked, and written with the rest of the fetch: one round of inserts for all partitions
      // instead of one per partition (caught up: when it is published, see settleThenFlush;
      // behind: once the fetch is handed over, see writeParkedSoon).
      current.unwritten.push(...batch.messages);
    } else {
      const keepGoing = async (): Promise<boolean> => {
        await context.heartbeat();
        return context.isRunning();
      };
      // Stopped (rebalance, shutdown): nothing waiting is committed; the next owner reads it again.
      if (!(await this.writeParked(current, batch.messages, keepGoing))) {
        this.gathering = null;
        return;
      }
    }
    current.offsets.set(key, offset);
    current.records += batch.messages.length;
    // Resolved, not committed: the next fetch continues after this batch.
    context.resolveOffset(end.toString());
    const profiles = current.profiles.size;
    if (profiles >= deps.refreshMaxProfiles || deps.clock.now() - current.since >= deps.refreshIntervalMs)
      await this.flush(profiles >= 2 * deps.refreshMaxProfiles);
    else if (caughtUp) this.settleThenFlush();
    else if (current.unwritten.length > 0) this.writeParkedSoon();
  }

  /**
   * Writes what is parked, then hands the gathering group to the publisher and returns: the next
   * batches are written while ClickHouse refreshes this group's profiles (inserts, hence
   * "queryable", never wait for it). While a publish runs, the group keeps growing and is handed
   * over the moment it ends, so under load groups grow to what a refresh can keep up with.
   * `mustWait`: the group is as big as we let it get (backpressure), so this waits for the
   * publish under way first.
   */
  private async flush(mustWait = false): Promise<void> {
    const current = this.gathering;
    await this.writeParked(current);
    if (this.publisher !== 'idle' && !mustWait) {
      this.publisher = 'publishing-next-due';
      return;
    }
    await this.publishing;
    this.gathering = null;
    const group = this.retry && current ? merged(this.retry, current) : (this.retry ?? current);
    this.retry = null;
    if (!group) return;
    this.publisher = 'publishing';
    this.publishing = this.publishAndCommit(group).finally(() => {
      const nextDue = this.publisher === 'publishing-next-due';
      this.publisher = 'idle';
      if (nextDue) void this.flushOutside();
    });
  }

  /**
   * Publishes a group's profile updates, then commits its offsets: no offset is committed before
   * its records' updates were acknowledged. A failed publish keeps the group for the next one; a
   * failed commit (a rebalance, say) leaves the offsets to the group's next commit or to a replay,
   * which the idempotent writes absorb.
   */
  private async publishAndCommit(group: Group<W>): Promise<void> {
    const { deps } = this;
    // The group's last chunk may still be being stored: the publish reads what it wrote.
    // A chunk that failed for good stopped the consumer (ChunkWriter): nothing is committed.
    const written = await Promise.all(group.written).catch(() => null);
    if (!written) return;
    try {
      await deps.retrying(() => deps.publish(written));
    } catch (error) {
      this.retry = group;
      deps.logger.warn(
        { error: errorMessage(error), records: group.records },
        'publishing profile updates failed; they go again with the next batches, offsets stay uncommitted',
      );
      return;
    }
    try {
      this.publishes += 1;
      deps.beforeCommit?.(this.publishes);
      await deps.commitOffsets([...group.offsets.values()]);
      this.committedRecords += group.records;
      deps.metrics?.batchSeconds.observe((deps.clock.now() - group.since) / 1000);
    } catch (error) {
      deps.logger.warn(
        { error: errorMessage(error) },
        'committing offsets failed; they stay uncommitted until a later commit or a replay',
      );
    }
  }

  /**
   * Writes the records parked in `group`, then `more`, and records their chunks in the group (as
   * written once each is durable). False if `keepGoing` said stop: then nothing is recorded.
   */
  private async writeParked(
    group: Group<W> | null,
    more: readonly IncomingMessage[] = [],
    keepGoing?: () => Promise<boolean>,
  ): Promise<boolean> {
    if (!group || group.unwritten.length + more.length === 0) return true;
    const stores = await this.deps.writer.write([...group.unwritten, ...more], keepGoing);
    if (!stores) return false;
    group.unwritten = [];
    for (const stored of stores) {
      group.written.push(stored);
      stored.then(
        (chunk) => {
          for (const id of this.deps.touchedOf(chunk)) group.profiles.add(id);
        },
        () => undefined, // a failure is handled by the ChunkWriter
      );
    }
    return true;
  }

  /**
   * Publishes and commits what waits, from outside a batch handler (timer, caught up). Parked
   * records that could not be written stay parked, and are written by the next batch or tick (or
   * replayed after a restart); nothing of theirs was committed.
   */
  private flushOutside(): Promise<void> {
    return this.exclusive(() => this.flush()).catch((error: unknown) => {
      this.parkedWriteFailed(error);
      if (this.gathering) this.gathering.since = this.deps.clock.now();
    });
  }

  private parkedWriteFailed(error: unknown): void {
    this.deps.logger.warn(
      { error: errorMessage(error) },
      'writing parked records failed; retried with the next batch or tick',
    );
  }

  /**
   * Caught up: publish once the batches already fetched are written. One fetch brings a batch per
   * partition and kafkajs hands them over one by one; publishing after each would refresh (and
   * evaluate segments) once per partition, and every later partition would wait for the earlier
   * ones' refreshes: several times the latency at a steady trickle. So the publish waits until no
   * batch has been in hand for SETTLE_MS (a new batch cancels it, see moreComing).
   */
  private settleThenFlush(): void {
    this.cancelSettle?.();
    this.cancelSettle = this.deps.clock.after(SETTLE_MS, () => {
      this.cancelSettle = undefined;
      void this.flushOutside();
    });
  }

  /**
   * Behind, small batches: one fetch brings a batch per partition of both topics, each far below
   * `batchSize`, and writing each on its own made a round of inserts (and parts, and merges) per
   * partition. They are parked instead and written together once the fetch is handed over:
   * kafkajs hands a fetch's batches over without waiting on I/O, so the next turn comes only once
   * the last of them was handled (a new batch cancels it, see moreComing) and the write overlaps
   * the next fetch.
   */
  private writeParkedSoon(): void {
    this.cancelParkedWrite?.();
    this.cancelParkedWrite = this.deps.clock.nextTurn(() => {
      this.cancelParkedWrite = undefined;
      this.exclusive(() => this.writeParked(this.gathering)).catch((error: unknown) => this.parkedWriteFailed(error));
    });
  }

  /** A batch is in hand: what waited for the fetch to end waits on. */
  private moreComing(): void {
    this.cancelSettle?.();
    this.cancelSettle = undefined;
    this.cancelParkedWrite?.();
    this.cancelParkedWrite = undefined;
  }
}

function newGroup<W>(now: number): Group<W> {
  return { written: [], unwritten: [], offsets: new Map(), records: 0, profiles: new Set(), since: now };
}

/** Two groups as one: written chunks in order, the later offset of each partition, records summed, profiles united. */
function merged<W>(earlier: Group<W>, later: Group<W>): Group<W> {
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
function keepLatest(offsets: Map<string, Offset>, key: string, next: Offset): void {
  const previous = offsets.get(key);
  if (!previous || BigInt(next.offset) > BigInt(previous.offset)) offsets.set(key, next);
}
