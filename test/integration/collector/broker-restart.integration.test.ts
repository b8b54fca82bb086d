import pino from 'pino';
import type { Event } from '../../../schemas';
import { createKafkaClient } from '../../../services/common/kafka/client';
import { AvroCodec, SchemaRegistryClient } from '../../../services/common/registry';
import { startCollector, type RunningCollector } from '../../support/collector';
import { readMessages } from '../../support/kafka';
import { startPrivateBroker, type PrivateBroker } from '../../support/private-broker';
import { testStack, uniqueName } from '../../support/stack-env';
import { waitFor } from '../../support/wait-for';

/**
 * A real broker outage. The shared broker cannot be stopped, so this test starts a private
 * single-node Kafka (the same jars and settings `kumiki up` uses, its own ports and data
 * directory), points a collector at it, stops the broker, and starts it again on the same
 * data. Clients behave like Segment SDKs: they retry 503 after Retry-After.
 *
 * Asserted: while the broker is down every request is refused with 503 + Retry-After and
 * none is acknowledged; after it returns, the retries succeed; every event ever answered
 * 200 is on the topic.
 */
let broker: PrivateBroker | undefined;
let collector: RunningCollector | undefined;

afterAll(async () => {
  await collector?.stop();
  await broker?.close();
});

it('503 while the broker is down, nothing acknowledged is lost, retries succeed after it returns', async () => {
  broker = await startPrivateBroker();
  const address = broker.address;
  collector = await startCollector({
    env: { KAFKA_BROKERS: address, COLLECTOR_RETRY_AFTER_SECONDS: '1', COLLECTOR_PRODUCE_TIMEOUT_MS: '3000' },
  });
  const run = uniqueName('outage');
  const acknowledged = new Set<string>();
  const post = async (id: string): Promise<{ status: number; retryAfter: string | null }> => {
    const response = await fetch(`${collector!.url}/v1/batch`, {
      method: 'POST',
      headers: { authorization: collector!.auth },
      body: JSON.stringify({
        batch: [1, 2, 3].map((n) => ({
          type: 'track',
          userId: `u-${id}`,
          event: 'Outage',
          messageId: `${run}-${id}-${n}`,
        })),
      }),
    });
    await response.arrayBuffer();
    if (response.status === 200) for (const n of [1, 2, 3]) acknowledged.add(`${run}-${id}-${n}`);
    return { status: response.status, retryAfter: response.headers.get('retry-after') };
  };

  for (let i = 0; i < 5; i++) expect((await post(`before-${i}`)).status).toBe(200);

  await broker.stop();
  const duringOutage: { status: number; retryAfter: string | null }[] = [];
  const pending: string[] = [];
  for (let i = 0; i < 5; i++) {
    const answer = await post(`during-${i}`);
    duringOutage.push(answer);
    pending.push(`during-${i}`);
  }
  expect(duringOutage.map((a) => a.status)).toEqual([503, 503, 503, 503, 503]);
  expect(duringOutage.every((a) => a.retryAfter === '1')).toBe(true);
  expect(await (await fetch(`${collector.url}/ready`)).json()).toMatchObject({ status: 'not ready' });

  await broker.start();
  // Retry like an SDK: after Retry-After, until accepted (bounded).
  for (const id of pending) {
    await waitFor(
      async () => {
        const { status } = await post(id);
        if (status !== 200) throw new Error(`retry of ${id} answered ${status}`);
      },
      { timeoutMs: 90_000, intervalMs: 1_000 },
    );
  }
  expect(acknowledged.size).toBe(30);

  const client = createKafkaClient({
    brokers: [address],
    clientId: uniqueName('reader'),
    logger: pino({ level: 'silent' }),
  });
  const codec = new AvroCodec(new SchemaRegistryClient({ url: testStack().registryUrl }));
  const messages = await readMessages(client, collector.eventsTopic, 30, 60_000);
  const onTopic = new Set(
    await Promise.all(messages.map(async (m) => (await codec.decode<Event>(m.value!)).value.messageId)),
  );
  expect([...acknowledged].filter((id) => !onTopic.has(id))).toEqual([]);
});
