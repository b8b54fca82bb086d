/**
 * The two gates every attempt of a destination passes: a semaphore bounding the requests in
 * flight (ACTIVATOR_CONCURRENCY) and a rate limiter (the destination's `rateLimit`). Both
 * are per destination, so one slow or failing destination only ever waits on its own.
 */
export class StoppedError extends Error {
  constructor() {
    super('delivery stopped');
    this.name = 'StoppedError';
  }
}

/**
 * Waiters are not tied to an AbortSignal each (thousands of changes may wait, and every listener
 * on one signal makes the next removal slower): a stop or rebalance calls `cancelWaiting()`.
 */
export class Semaphore {
  private active = 0;
  private waiters: { resolve: () => void; reject: (error: Error) => void }[] = [];

  constructor(private readonly limit: number) {}

  get inFlight(): number {
    return this.active;
  }

  /** The release function at once when a slot is free (no promise on the hot path), else a promise of it. */
  acquire(signal: AbortSignal): (() => void) | Promise<() => void> {
    if (signal.aborted) return Promise.reject(new StoppedError());
    if (this.active < this.limit) {
      this.active += 1;
      return this.releaser();
    }
    // Woken with the slot itself: one promise per waiter, not two.
    return new Promise<() => void>((resolve, reject) =>
      this.waiters.push({
        resolve: () => {
          const release = this.releaser();
          if (!signal.aborted) return resolve(release);
          reject(new StoppedError());
          // Handed on in a microtask of its own: a run of stopped waiters is no deep recursion.
          queueMicrotask(release);
        },
        reject,
      }),
    );
  }

  /** Every waiter gives up (StoppedError); slots held stay held until released. */
  cancelWaiting(): void {
    const waiters = this.waiters;
    this.waiters = [];
    for (const waiter of waiters) waiter.reject(new StoppedError());
  }

  private releaser(): () => void {
    let released = false;
    return () => {
      if (released) return;
      released = true;
      const next = this.waiters.shift();
      if (next) next.resolve();
      else this.active -= 1;
    };
  }
}

/**
 * A rate limit as a virtual schedule (GCRA): each request takes the next slot, `1/rate` after
 * the previous one, and waits for it; up to one second's worth may go at once after a quiet
 * spell. `rate` may change at any time (an update of the destination, a new share of its
 * partitions); null means no limit.
 */
export class RateLimiter {
  private nextSlot = 0;

  constructor(
    private rate: number | null,
    private readonly now: () => number = Date.now,
  ) {}

  setRate(rate: number | null): void {
    this.rate = rate;
  }

  /** Undefined when the slot is now, else a promise that resolves at it. */
  acquire(signal: AbortSignal): Promise<void> | undefined {
    const wait = this.reserve(this.now());
    return wait > 0 ? sleepUnlessStopped(wait, signal) : undefined;
  }

  /** Takes the next slot and says how long to wait for it (0: go now). */
  reserve(now: number): number {
    const rate = this.rate;
    if (rate === null || rate <= 0) return 0;
    const interval = 1000 / rate;
    const burst = Math.max(interval, 1000);
    const slot = Math.max(this.nextSlot, now - burst + interval);
    this.nextSlot = slot + interval;
    return Math.max(0, slot - now);
  }
}

/** Waits `ms`; rejects with StoppedError as soon as `signal` aborts. */
export function sleepUnlessStopped(ms: number, signal: AbortSignal): Promise<void> {
  if (signal.aborted) return Promise.reject(new StoppedError());
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => {
      signal.removeEventListener('abort', onAbort);
      resolve();
    }, ms);
    const onAbort = (): void => {
      clearTimeout(timer);
      reject(new StoppedError());
    };
    signal.addEventListener('abort', onAbort, { once: true });
  });
}
