import { startCollector, type RunningCollector } from '../../support/collector';
import { readMessages, testKafka } from '../../support/kafka';

/**
 * Bounded memory: with a tiny bound on bytes awaiting Kafka, concurrent requests beyond it
 * get 429 + Retry-After instead of being buffered, and exactly the events answered 200 land.
 */
let collector: RunningCollector;

beforeAll(async () => {
  collector = await startCollector({ env: { COLLECTOR_MAX_PENDING_BYTES: '1', COLLECTOR_LINGER_MS: '20' } });
});

afterAll(async () => {
  await collector?.stop();
});

it('answers 429 with Retry-After beyond the memory bound, and keeps what it answered 200', async () => {
  const answers = await Promise.all(
    Array.from({ length: 20 }, async (_, index) => {
      const response = await fetch(`${collector.url}/v1/batch`, {
        method: 'POST',
        headers: { authorization: collector.auth },
        body: JSON.stringify({ batch: [{ type: 'track', userId: `u${index}`, event: 'E', messageId: `bp-${index}` }] }),
      });
      return {
        index,
        status: response.status,
        retryAfter: response.headers.get('retry-after'),
        body: (await response.json()) as unknown,
      };
    }),
  );
  const refused = answers.filter((a) => a.status === 429);
  const accepted = answers.filter((a) => a.status === 200);
  expect(refused.length).toBeGreaterThan(0);
  expect(accepted.length).toBeGreaterThan(0);
  expect(refused.length + accepted.length).toBe(20);
  expect(refused[0]).toMatchObject({
    retryAfter: '1',
    body: { code: 'KUMIKI_OVERLOADED', message: 'the collector is at its memory bound' },
  });
  const messages = await readMessages(testKafka(), collector.eventsTopic, accepted.length);
  expect(messages.map((m) => m.key?.toString()).sort()).toEqual(accepted.map((a) => `u${a.index}`).sort());
});
