import type { Logger } from './logger';
import { errorMessage, isRetriable } from './errors';
import { withRetry } from './retry';

/**
 * Waits for a dependency the way a long-running service should: retry retriable failures
 * with capped exponential backoff for as long as the service is not being stopped, log each
 * wait once with its delay, and give up at once on errors that retrying cannot fix.
 */
export function connectWithBackoff<T>(
  what: string,
  task: () => Promise<T>,
  logger: Logger,
  signal: AbortSignal,
): Promise<T> {
  return withRetry(() => task(), {
    initialDelayMs: 250,
    maxDelayMs: 5_000,
    deadlineMs: Number.POSITIVE_INFINITY,
    signal,
    shouldRetry: (error) => !signal.aborted && isRetriable(error),
    onRetry: ({ attempt, delayMs, error }) =>
      logger.warn({ dependency: what, attempt, delayMs, error }, `${what} unavailable, retrying`),
  }).catch((error: unknown) => {
    if (signal.aborted) throw new StartAbortedError(what);
    logger.error({ dependency: what, error: errorMessage(error) }, `${what}: giving up`);
    throw error;
  });
}

/** Start was interrupted by a stop; not a failure. */
export class StartAbortedError extends Error {
  constructor(what: string) {
    super(`stopped while waiting for ${what}`);
    this.name = 'StartAbortedError';
  }
}
