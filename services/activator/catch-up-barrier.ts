import { performance } from 'node:perf_hooks';

interface EndsRead {
  readonly startedAt: number;
  readonly ends: Promise<ReadonlyMap<number, string>>;
  /** The reader has passed `ends` (one wait shared by every caller of the read). */
  readonly caughtUp: Promise<void>;
}

/**
 * "Has this in-memory table read everything its topic held at some moment after `receivedAt`?"
 * for tables the activator builds from a topic (profiles, withheld people). At most one read of
 * the end offsets is in flight: a caller whose record arrived after it began waits for the next
 * one, which begins when it ends and serves every caller that came meanwhile. So the reads keep
 * pace with the broker's answers, not with the number of callers.
 */
export class CatchUpBarrier {
  private current: EndsRead | undefined;
  private queued: (EndsRead & { start(read: EndsRead): void }) | undefined;

  constructor(
    private readonly endOffsets: () => Promise<ReadonlyMap<number, string>>,
    private readonly caughtUpTo: (ends: ReadonlyMap<number, string>) => Promise<void>,
  ) {}

  /** `receivedAt` is a `performance.now()` taken when the caller's record arrived. */
  caughtUpSince(receivedAt: number): Promise<void> {
    let read: EndsRead;
    if (this.current && this.current.startedAt >= receivedAt) read = this.current;
    else if (this.current) read = this.nextRead();
    else read = this.startRead();
    return read.caughtUp;
  }

  private startRead(): EndsRead {
    const startedAt = performance.now();
    const ends = this.endOffsets();
    const read: EndsRead = { startedAt, ends, caughtUp: ends.then((at) => this.caughtUpTo(at)) };
    read.caughtUp.catch(() => undefined);
    this.current = read;
    const settle = (): void => {
      this.current = undefined;
      const queued = this.queued;
      this.queued = undefined;
      if (queued) queued.start(this.startRead());
    };
    read.ends.then(settle, settle);
    return read;
  }

  /** The read that begins once the current one ends (made by the first caller that needs it). */
  private nextRead(): EndsRead {
    if (!this.queued) {
      let start: (read: EndsRead) => void = () => undefined;
      const ends = new Promise<ReadonlyMap<number, string>>((resolve, reject) => {
        start = (read) => read.ends.then(resolve, reject);
      });
      // Its start time is after every caller's arrival so far: callers arriving later than the
      // current read's start join it too, and it begins only after they arrived.
      const caughtUp = ends.then((at) => this.caughtUpTo(at));
      caughtUp.catch(() => undefined);
      this.queued = { startedAt: Number.POSITIVE_INFINITY, ends, caughtUp, start };
    }
    return this.queued;
  }
}
