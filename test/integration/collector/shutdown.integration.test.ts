import type { Event } from '../../../schemas';
import { AvroCodec, SchemaRegistryClient } from '../../../services/common/registry';
import { startCollector } from '../../support/collector';
import { readMessages, testKafka } from '../../support/kafka';
import { testStack, uniqueName } from '../../support/stack-env';

/**
 * SIGTERM under load: intake stops, requests already inside are answered only once Kafka has
 * their events, the process exits 0 — and every event answered 200 is on the topic.
 */
it('SIGTERM under load loses no acknowledged event and exits 0', async () => {
  const collector = await startCollector();
  const run = uniqueName('term');
  const requests = 60;
  const perRequest = 50;
  const answers: Promise<{ index: number; status: number | 'no connection' }>[] = [];
  let firstAnswered!: () => void;
  const first = new Promise<void>((resolve) => (firstAnswered = resolve));
  for (let index = 0; index < requests; index++) {
    const batch = Array.from({ length: perRequest }, (_, i) => ({
      type: 'track',
      userId: `u${i}`,
      event: 'Load',
      messageId: `${run}-${index}-${i}`,
    }));
    answers.push(
      fetch(`${collector.url}/v1/batch`, {
        method: 'POST',
        headers: { authorization: collector.auth },
        body: JSON.stringify({ batch }),
      })
        .then((response) => ({ index, status: response.status }))
        .catch(() => ({ index, status: 'no connection' as const }))
        .finally(firstAnswered),
    );
  }
  await first;
  collector.child.kill('SIGTERM');
  const outcomes = await Promise.all(answers);
  expect(await collector.exit).toEqual({ code: 0, signal: null });

  const acknowledged = outcomes.filter((o) => o.status === 200).map((o) => o.index);
  expect(acknowledged.length).toBeGreaterThan(0);
  expect(outcomes.every((o) => o.status === 200 || o.status === 503 || o.status === 'no connection')).toBe(true);
  const expected = acknowledged.flatMap((index) =>
    Array.from({ length: perRequest }, (_, i) => `${run}-${index}-${i}`),
  );
  const codec = new AvroCodec(new SchemaRegistryClient({ url: testStack().registryUrl }));
  const messages = await readMessages(testKafka(), collector.eventsTopic, expected.length);
  const onTopic = new Set(
    await Promise.all(messages.map(async (m) => (await codec.decode<Event>(m.value!)).value.messageId)),
  );
  expect(expected.filter((id) => !onTopic.has(id))).toEqual([]);
  const lines = collector
    .output()
    .split('\n')
    .filter((l) => l.includes('component stopped'))
    .map((l) => (JSON.parse(l) as { component: string }).component);
  expect(lines).toEqual(['http-server', 'producer', 'schema-registry', 'kafka']);
});
