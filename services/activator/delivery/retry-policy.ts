/**
 * What an attempt's outcome means (pure; unit-tested with plain objects):
 * - 2xx: delivered.
 * - 408, 429, 5xx, redirects (never followed: a receiver that moved must be reconfigured),
 *   timeouts and connection failures: try again after an exponential backoff with full jitter,
 *   or after the receiver's `Retry-After` on 429 and 503; after `maxAttempts` the change is
 *   dead-lettered as exhausted.
 * - any other 4xx: the receiver refuses this message for good; it is dead-lettered at once.
 */
export interface AttemptOutcome {
  /** HTTP status, null when there was no answer. */
  readonly status: number | null;
  readonly headers: Readonly<Record<string, string>>;
  readonly error: string | null;
}

export interface RetryPolicy {
  readonly initialDelayMs: number;
  readonly maxDelayMs: number;
  readonly maxAttempts: number;
  /** Longest `Retry-After` honoured as asked (longer ones are cut to it). */
  readonly maxRetryAfterMs: number;
}

export type Verdict =
  | { readonly kind: 'delivered' }
  | { readonly kind: 'retry'; readonly delayMs: number; readonly reason: string }
  | { readonly kind: 'rejected'; readonly reason: string }
  | { readonly kind: 'exhausted'; readonly reason: string };

export function judgeAttempt(
  outcome: AttemptOutcome,
  attempt: number,
  policy: RetryPolicy,
  now: number = Date.now(),
  random: () => number = Math.random,
): Verdict {
  const { status } = outcome;
  if (status !== null && status >= 200 && status < 300) return { kind: 'delivered' };
  const reason = describeFailure(outcome);
  if (status !== null && status >= 400 && status < 500 && status !== 408 && status !== 429)
    return { kind: 'rejected', reason };
  if (attempt >= policy.maxAttempts)
    return { kind: 'exhausted', reason: `${reason} (attempt ${attempt} of ${policy.maxAttempts})` };
  const asked = status === 429 || status === 503 ? retryAfterMs(outcome.headers['retry-after'], now) : undefined;
  const delayMs = asked !== undefined ? Math.min(asked, policy.maxRetryAfterMs) : backoffMs(attempt, policy, random);
  return { kind: 'retry', delayMs, reason };
}

/** Exponential backoff with full jitter: between half and all of min(max, initial × 2^(attempt−1)). */
export function backoffMs(attempt: number, policy: RetryPolicy, random: () => number = Math.random): number {
  const ceiling = Math.min(policy.maxDelayMs, policy.initialDelayMs * 2 ** Math.min(attempt - 1, 30));
  return Math.round(ceiling / 2 + (random() * ceiling) / 2);
}

/** `Retry-After` as milliseconds from `now`: delay-seconds or an HTTP date; undefined when absent or unreadable. */
export function retryAfterMs(header: string | undefined, now: number): number | undefined {
  if (header === undefined) return undefined;
  const text = header.trim();
  if (/^\d+$/.test(text)) return Number(text) * 1000;
  const at = Date.parse(text);
  return Number.isNaN(at) ? undefined : Math.max(0, at - now);
}

function describeFailure(outcome: AttemptOutcome): string {
  if (outcome.status === null) return outcome.error ?? 'no answer';
  if (outcome.status >= 300 && outcome.status < 400) {
    const location = outcome.headers.location;
    return `HTTP ${outcome.status}: redirect refused${location ? ` (to ${location})` : ''}`;
  }
  return `HTTP ${outcome.status}`;
}
