import { startCollector, type RunningCollector } from '../../support/collector';

/**
 * Kafka unreachable: the shared development broker cannot be stopped (others use it), so the
 * collector is pointed at a port where nothing listens. Every tracking request must get 503
 * with Retry-After and nothing may be acknowledged. (A true stop/restart of a broker, with
 * retries succeeding afterwards, needs a private broker and is still to be written.)
 */
let collector: RunningCollector;

beforeAll(async () => {
  collector = await startCollector({
    env: { KAFKA_BROKERS: '127.0.0.1:1', COLLECTOR_RETRY_AFTER_SECONDS: '3' },
    waitReady: false,
  });
});

afterAll(async () => {
  await collector?.stop();
});

it('answers 503 with Retry-After, reports not ready, and stays alive', async () => {
  const ready = await fetch(`${collector.url}/ready`);
  expect(ready.status).toBe(503);
  expect(await ready.json()).toMatchObject({ status: 'not ready', components: { kafka: false } });

  for (const path of ['/v1/track', '/v1/batch', '/v1/identify']) {
    const response = await fetch(`${collector.url}${path}`, {
      method: 'POST',
      headers: { authorization: collector.auth, 'content-type': 'application/json' },
      body: JSON.stringify(
        path === '/v1/batch' ? { batch: [{ type: 'track', userId: 'u', event: 'E' }] } : { userId: 'u', event: 'E' },
      ),
    });
    expect(response.status).toBe(503);
    expect(response.headers.get('retry-after')).toBe('3');
    expect(await response.json()).toEqual({
      code: 'KUMIKI_UNAVAILABLE',
      message: 'Kafka is unavailable; nothing was accepted',
    });
  }
  const health = await fetch(`${collector.url}/health`);
  expect(health.status).toBe(200);
  const metrics = await (await fetch(`${collector.url}/metrics`)).text();
  expect(metrics).toMatch(
    /kumiki_collector_rejects_total\{code="KUMIKI_UNAVAILABLE",level="request",service="collector"\} 3/,
  );
  expect(metrics).not.toMatch(/kumiki_collector_events_total\{/);
});

it('stops on SIGTERM while still waiting for Kafka, exit code 0', async () => {
  collector.child.kill('SIGTERM');
  expect(await collector.exit).toEqual({ code: 0, signal: null });
});
