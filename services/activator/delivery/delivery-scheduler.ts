import type { IncomingMessage } from '../../common/kafka/client';

/**
 * Which changes of one destination may be delivered now, and how far its consumer group may
 * commit.
 *
 * Order: a profile's changes go one after another, in offset order (they share a partition,
 * keyed by profile id); different profiles go at once. A change that waits for a retry holds
 * back only its own profile's later changes.
 *
 * Commits: a partition's committable offset is its lowest change not yet finished — delivered,
 * dead-lettered or deliberately skipped — or, with none pending, the offset after the last
 * fetched record (transaction markers included). So a committed offset always means every
 * change before it is finished: a crash, a rebalance or a stop re-delivers from there, and
 * nothing after an unfinished change is ever taken as done.
 *
 * Generations: `reset()` (a rebalance, a stop) abandons everything in hand; jobs still running
 * see their signal aborted, and what they finish afterwards no longer counts. kafkajs then
 * fetches again from the committed offsets.
 */
export interface DeliveryJob {
  readonly message: IncomingMessage;
  /** `performance.now()` when its batch arrived. */
  readonly receivedAt: number;
  readonly signal: AbortSignal;
}

export interface SchedulerOptions {
  /** Delivers one change: resolves once it is finished (delivered, dead-lettered or skipped). */
  readonly run: (job: DeliveryJob) => Promise<unknown>;
  /** Changes held at once; `offer` waits beyond. */
  readonly maxPending: number;
  /**
   * Changes being delivered at once (preparing, in flight, or waiting for a retry); the others
   * wait their turn before any work is done on them, so a large batch never becomes one long
   * burst of synchronous work that holds up the answers of requests in flight.
   */
  readonly maxActive: number;
  /** A job that threw (a bug or an outage it could not outlast): the caller restarts the worker. */
  readonly onFailure: (error: unknown) => void;
}

interface Entry {
  readonly offset: bigint;
  done: boolean;
}

class PartitionProgress {
  private readonly entries: Entry[] = [];
  private head = 0;
  private fetchedTo = -1n;

  add(offset: bigint): Entry {
    const entry = { offset, done: false };
    this.entries.push(entry);
    return entry;
  }

  fetched(after: bigint): void {
    if (after > this.fetchedTo) this.fetchedTo = after;
  }

  finished(): void {
    while (this.head < this.entries.length && this.entries[this.head]!.done) this.head += 1;
    if (this.head > 1024 && this.head * 2 > this.entries.length) {
      this.entries.splice(0, this.head);
      this.head = 0;
    }
  }

  /** The offset to commit: the first unfinished change, else past the last fetched record; -1 before any. */
  committable(): bigint {
    return this.head < this.entries.length ? this.entries[this.head]!.offset : this.fetchedTo;
  }
}

export class DeliveryScheduler {
  private generation = 0;
  private controller = new AbortController();
  private readonly progress = new Map<string, PartitionProgress>();
  /** Per profile (record key): its changes waiting behind the one being delivered. */
  private readonly queues = new Map<string, { job: DeliveryJob; entry: Entry; partition: string }[]>();
  private pending = 0;
  private active = 0;
  /** Heads of profile queues waiting for an active slot, oldest first. */
  private ready: { profile: string; job: DeliveryJob; entry: Entry; partition: string }[] = [];
  private readyHead = 0;
  private capacityWaiters: (() => void)[] = [];

  constructor(private readonly options: SchedulerOptions) {}

  get pendingCount(): number {
    return this.pending;
  }

  /** Takes a fetched batch; resolves once there is room for more (or the generation ended). */
  offer(
    topic: string,
    partition: number,
    messages: readonly IncomingMessage[],
    lastOffset: string,
    receivedAt: number,
  ): Promise<void> {
    const key = `${topic}/${partition}`;
    let progress = this.progress.get(key);
    if (!progress) this.progress.set(key, (progress = new PartitionProgress()));
    for (const message of messages) {
      const entry = progress.add(BigInt(message.offset));
      const job: DeliveryJob = { message, receivedAt, signal: this.controller.signal };
      this.pending += 1;
      const profile = `${key}/${message.key?.toString('utf8') ?? ''}`;
      const queue = this.queues.get(profile);
      if (queue) queue.push({ job, entry, partition: key });
      else {
        this.queues.set(profile, [{ job, entry, partition: key }]);
        this.start(profile, job, entry, key);
      }
    }
    progress.fetched(BigInt(lastOffset) + 1n);
    return this.room();
  }

  /** Abandons everything in hand (see the class comment). */
  reset(): void {
    this.generation += 1;
    this.controller.abort();
    this.controller = new AbortController();
    this.progress.clear();
    this.queues.clear();
    this.pending = 0;
    this.active = 0;
    this.ready = [];
    this.readyHead = 0;
    this.releaseWaiters();
  }

  /** The signal of the current generation (aborted by `reset`). */
  get signal(): AbortSignal {
    return this.controller.signal;
  }

  /** Offsets that may be committed now, per `topic/partition` key. */
  committable(): Map<string, bigint> {
    const out = new Map<string, bigint>();
    for (const [key, progress] of this.progress) {
      const offset = progress.committable();
      if (offset >= 0n) out.set(key, offset);
    }
    return out;
  }

  private start(profile: string, job: DeliveryJob, entry: Entry, partition: string): void {
    if (this.active >= this.options.maxActive) {
      this.ready.push({ profile, job, entry, partition });
      return;
    }
    this.active += 1;
    const generation = this.generation;
    this.options.run(job).then(
      () => {
        if (generation !== this.generation) return;
        this.finish(profile, entry, partition);
      },
      (error: unknown) => {
        if (generation !== this.generation || job.signal.aborted) return;
        this.options.onFailure(error);
      },
    );
  }

  private finish(profile: string, entry: Entry, partition: string): void {
    entry.done = true;
    this.pending -= 1;
    this.active -= 1;
    if (this.readyHead < this.ready.length) {
      const next = this.ready[this.readyHead]!;
      this.readyHead += 1;
      if (this.readyHead > 1024 && this.readyHead * 2 > this.ready.length) {
        this.ready = this.ready.slice(this.readyHead);
        this.readyHead = 0;
      }
      this.start(next.profile, next.job, next.entry, next.partition);
    }
    this.progress.get(partition)?.finished();
    const queue = this.queues.get(profile);
    if (queue) {
      queue.shift();
      const next = queue[0];
      if (next) this.start(profile, next.job, next.entry, next.partition);
      else this.queues.delete(profile);
    }
    if (this.pending < this.options.maxPending) this.releaseWaiters();
  }

  private room(): Promise<void> {
    if (this.pending < this.options.maxPending) return Promise.resolve();
    return new Promise((resolve) => this.capacityWaiters.push(resolve));
  }

  private releaseWaiters(): void {
    const waiters = this.capacityWaiters;
    this.capacityWaiters = [];
    for (const resolve of waiters) resolve();
  }
}
