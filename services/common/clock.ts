/**
 * Time as the commit machinery sees it: the current time and the three ways it waits. Passed in,
 * so unit tests drive the machinery with a fake clock (test/support/fake-clock.ts) instead of
 * sleeping.
 */
export interface Clock {
  /** Milliseconds since the epoch. */
  now(): number;
  /** Runs `task` once, `ms` from now; returns what cancels it. */
  after(ms: number, task: () => void): () => void;
  /** Runs `task` every `ms`, never keeping the process alive for it; returns what cancels it. */
  every(ms: number, task: () => void): () => void;
  /** Runs `task` in the event loop's next turn, once pending I/O is handled (setImmediate). */
  nextTurn(task: () => void): () => void;
  sleep(ms: number): Promise<void>;
}

export const systemClock: Clock = {
  now: () => Date.now(),
  after(ms, task) {
    const timer = setTimeout(task, ms);
    return () => clearTimeout(timer);
  },
  every(ms, task) {
    const timer = setInterval(task, ms);
    timer.unref();
    return () => clearInterval(timer);
  },
  nextTurn(task) {
    const immediate = setImmediate(task);
    return () => clearImmediate(immediate);
  },
  sleep: (ms) => new Promise((resolve) => setTimeout(resolve, ms)),
};
