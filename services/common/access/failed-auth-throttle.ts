/**
 * Slows brute force down: failed authentications are counted per subject (a source address, a
 * key id) in a sliding window; once a subject has `maxFailures` within `windowMs`, it is blocked
 * for `blockMs` and its attempts are answered 429 with Retry-After before any secret is checked.
 * `recordFailure` says when a block starts, so the one alert of a burst is raised there.
 */
export interface ThrottleSettings {
  readonly maxFailures: number;
  readonly windowMs: number;
  readonly blockMs: number;
}

interface SubjectState {
  failures: number[];
  blockedUntil: number;
}

/** Subjects kept at most; the oldest are forgotten first (an attacker cycling addresses cannot exhaust memory). */
const maxSubjects = 100_000;

export class FailedAuthThrottle {
  private readonly subjects = new Map<string, SubjectState>();

  constructor(
    private readonly settings: ThrottleSettings,
    private readonly now: () => number = Date.now,
  ) {}

  /** Seconds until `subject` may try again, or undefined when it is not blocked. */
  retryAfter(subject: string): number | undefined {
    const state = this.subjects.get(subject);
    const left = state ? state.blockedUntil - this.now() : 0;
    return left > 0 ? Math.ceil(left / 1000) : undefined;
  }

  /** Counts one failure; true when this failure started a block. */
  recordFailure(subject: string): boolean {
    const now = this.now();
    let state = this.subjects.get(subject);
    if (!state) {
      if (this.subjects.size >= maxSubjects) this.subjects.delete(this.subjects.keys().next().value!);
      state = { failures: [], blockedUntil: 0 };
      this.subjects.set(subject, state);
    }
    state.failures = state.failures.filter((at) => at > now - this.settings.windowMs);
    state.failures.push(now);
    if (state.blockedUntil > now || state.failures.length < this.settings.maxFailures) return false;
    state.blockedUntil = now + this.settings.blockMs;
    state.failures = [];
    return true;
  }
}
