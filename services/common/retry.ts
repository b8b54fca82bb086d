import { errorMessage, isRetriable } from './errors';

export interface RetryOptions {
  /** First delay; each later one doubles, with full jitter. */
  readonly initialDelayMs: number;
  readonly maxDelayMs: number;
  /** Give up (rethrow the last error) once this much time has passed since the first try. */
  readonly deadlineMs: number;
  /** Decides which errors are worth another try; defaults to `isRetriable`. */
  readonly shouldRetry?: (error: unknown) => boolean;
  readonly onRetry?: (info: { attempt: number; delayMs: number; error: string }) => void;
  readonly signal?: AbortSignal;
}

export const defaultRetry: RetryOptions = { initialDelayMs: 200, maxDelayMs: 5_000, deadlineMs: 30_000 };

/** Exponential backoff with full jitter, bounded by a deadline (as KafkaJS' retrier does). */
export async function withRetry<T>(
  task: (attempt: number) => Promise<T>,
  options: RetryOptions = defaultRetry,
): Promise<T> {
  const shouldRetry = options.shouldRetry ?? isRetriable;
  const started = Date.now();
  for (let attempt = 1; ; attempt++) {
    try {
      return await task(attempt);
    } catch (error) {
      const ceiling = Math.min(options.maxDelayMs, options.initialDelayMs * 2 ** (attempt - 1));
      const delayMs = Math.round(ceiling / 2 + (Math.random() * ceiling) / 2);
      const outOfTime = Date.now() - started + delayMs > options.deadlineMs;
      if (!shouldRetry(error) || outOfTime || options.signal?.aborted) throw error;
      options.onRetry?.({ attempt, delayMs, error: errorMessage(error) });
      await sleep(delayMs, options.signal);
    }
  }
}

export function sleep(ms: number, signal?: AbortSignal): Promise<void> {
  return new Promise((resolve) => {
    const timer = setTimeout(done, ms);
    function done(): void {
      clearTimeout(timer);
      signal?.removeEventListener('abort', done);
      resolve();
    }
    signal?.addEventListener('abort', done, { once: true });
  });
}
