import { DependencyUnavailableError, InvalidInputError } from '../../../services/common/errors';
import { withRetry } from '../../../services/common/retry';

const fast = { initialDelayMs: 1, maxDelayMs: 4, deadlineMs: 1_000 };

describe('withRetry', () => {
  it('retries retriable errors until the task succeeds', async () => {
    let calls = 0;
    const value = await withRetry(async () => {
      calls += 1;
      if (calls < 3) throw new DependencyUnavailableError('down');
      return 'ok';
    }, fast);
    expect(value).toBe('ok');
    expect(calls).toBe(3);
  });

  it('never retries errors that are not retriable, nor plain bugs', async () => {
    for (const error of [new InvalidInputError('bad'), new TypeError('bug')]) {
      let calls = 0;
      await expect(
        withRetry(async () => {
          calls += 1;
          throw error;
        }, fast),
      ).rejects.toBe(error);
      expect(calls).toBe(1);
    }
  });

  it('gives up at the deadline with the last error', async () => {
    let calls = 0;
    await expect(
      withRetry(
        async () => {
          calls += 1;
          throw new DependencyUnavailableError(`down ${calls}`);
        },
        { initialDelayMs: 5, maxDelayMs: 10, deadlineMs: 60 },
      ),
    ).rejects.toThrow(/down \d+/);
    expect(calls).toBeGreaterThan(1);
    expect(calls).toBeLessThan(30);
  });
});
