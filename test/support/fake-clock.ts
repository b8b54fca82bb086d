import type { Clock } from '../../services/common/clock';

interface Timer {
  at: number;
  readonly every: number | undefined;
  readonly task: () => void;
}

/**
 * A clock that moves only when told: `advance(ms)` runs every timer due by then, in time order;
 * `turn()` runs what was handed to `nextTurn`. Promises settle between the two as usual.
 */
export class FakeClock implements Clock {
  private time: number;
  private readonly timers = new Set<Timer>();
  private turns: (() => void)[] = [];

  constructor(start = 1_700_000_000_000) {
    this.time = start;
  }

  now(): number {
    return this.time;
  }

  after(ms: number, task: () => void): () => void {
    return this.add({ at: this.time + ms, every: undefined, task });
  }

  every(ms: number, task: () => void): () => void {
    return this.add({ at: this.time + ms, every: ms, task });
  }

  nextTurn(task: () => void): () => void {
    this.turns.push(task);
    return () => {
      this.turns = this.turns.filter((t) => t !== task);
    };
  }

  sleep(ms: number): Promise<void> {
    return new Promise((resolve) => this.after(ms, resolve));
  }

  /** Tasks waiting for the next turn, and timers waiting for their time. */
  get pending(): { turns: number; timers: number } {
    return { turns: this.turns.length, timers: this.timers.size };
  }

  /** Runs the tasks handed to `nextTurn` so far, then lets the promises they settle run. */
  async turn(): Promise<void> {
    const tasks = this.turns;
    this.turns = [];
    for (const task of tasks) task();
    await settle();
  }

  /** Moves time on by `ms`, running each timer as its time comes, and the promises it settles after it. */
  async advance(ms: number): Promise<void> {
    const until = this.time + ms;
    for (;;) {
      const next = [...this.timers].filter((t) => t.at <= until).sort((a, b) => a.at - b.at)[0];
      if (!next) break;
      this.time = next.at;
      if (next.every === undefined) this.timers.delete(next);
      else next.at += next.every;
      next.task();
      await settle();
    }
    this.time = until;
    await settle();
  }

  private add(timer: Timer): () => void {
    this.timers.add(timer);
    return () => void this.timers.delete(timer);
  }
}

/** Lets every promise chain that can move on without I/O do so. */
async function settle(): Promise<void> {
  for (let i = 0; i < 10; i++) await new Promise<void>((resolve) => setImmediate(resolve));
}
