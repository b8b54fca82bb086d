import {
  backoffMs,
  judgeAttempt,
  retryAfterMs,
  type RetryPolicy,
} from '../../../../services/activator/delivery/retry-policy';

const policy: RetryPolicy = { initialDelayMs: 1_000, maxDelayMs: 60_000, maxAttempts: 5, maxRetryAfterMs: 3_600_000 };
const answer = (status: number | null, headers: Record<string, string> = {}, error: string | null = null) => ({
  status,
  headers,
  error,
});
const now = Date.UTC(2026, 0, 1);

describe('judgeAttempt', () => {
  it('takes every 2xx as delivered', () => {
    for (const status of [200, 201, 202, 204, 299])
      expect(judgeAttempt(answer(status), 1, policy, now)).toEqual({ kind: 'delivered' });
  });

  it('dead-letters a 4xx other than 408 and 429 at once', () => {
    for (const status of [400, 401, 403, 404, 410, 413, 422])
      expect(judgeAttempt(answer(status), 1, policy, now)).toEqual({ kind: 'rejected', reason: `HTTP ${status}` });
  });

  it('retries 408, 429, 5xx, redirects and failures without an answer', () => {
    const cases: [ReturnType<typeof answer>, string][] = [
      [answer(408), 'HTTP 408'],
      [answer(429), 'HTTP 429'],
      [answer(500), 'HTTP 500'],
      [answer(503), 'HTTP 503'],
      [
        answer(301, { location: 'https://elsewhere.example/hook' }),
        'HTTP 301: redirect refused (to https://elsewhere.example/hook)',
      ],
      [
        answer(null, {}, 'ECONNREFUSED: connect ECONNREFUSED 127.0.0.1:9'),
        'ECONNREFUSED: connect ECONNREFUSED 127.0.0.1:9',
      ],
    ];
    for (const [outcome, reason] of cases)
      expect(judgeAttempt(outcome, 2, policy, now, () => 0)).toEqual({ kind: 'retry', delayMs: 1_000, reason });
  });

  it('honours Retry-After on 429 and 503, in seconds or as a date, up to its bound', () => {
    expect(judgeAttempt(answer(429, { 'retry-after': '7' }), 1, policy, now)).toMatchObject({ delayMs: 7_000 });
    expect(
      judgeAttempt(answer(503, { 'retry-after': new Date(now + 90_000).toUTCString() }), 1, policy, now),
    ).toMatchObject({ delayMs: 90_000 });
    expect(judgeAttempt(answer(429, { 'retry-after': '86400' }), 1, policy, now)).toMatchObject({ delayMs: 3_600_000 });
    // Not on a 500: the backoff decides.
    expect(judgeAttempt(answer(500, { 'retry-after': '7' }), 1, policy, now, () => 0)).toMatchObject({ delayMs: 500 });
  });

  it('gives up after maxAttempts, as exhausted', () => {
    expect(judgeAttempt(answer(500), 5, policy, now)).toEqual({
      kind: 'exhausted',
      reason: 'HTTP 500 (attempt 5 of 5)',
    });
  });
});

describe('backoffMs', () => {
  it('doubles from the first delay up to the maximum, with jitter between half and all of it', () => {
    expect([1, 2, 3, 4].map((attempt) => backoffMs(attempt, policy, () => 1))).toEqual([1_000, 2_000, 4_000, 8_000]);
    expect([1, 2, 3, 4].map((attempt) => backoffMs(attempt, policy, () => 0))).toEqual([500, 1_000, 2_000, 4_000]);
    expect(backoffMs(40, policy, () => 1)).toBe(60_000);
  });
});

describe('retryAfterMs', () => {
  it('reads seconds and HTTP dates, and nothing else', () => {
    expect(retryAfterMs('120', now)).toBe(120_000);
    expect(retryAfterMs(new Date(now - 5_000).toUTCString(), now)).toBe(0);
    expect(retryAfterMs('soon', now)).toBeUndefined();
    expect(retryAfterMs(undefined, now)).toBeUndefined();
  });
});
