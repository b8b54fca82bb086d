import { mkdtempSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { SchemaRegistry } from '@kafkajs/confluent-schema-registry';
import pino from 'pino';
import { createKafkaClient } from '../../services/common/kafka/client';
import { profileIdFor } from '../../services/identity-stitcher/identity/identity-graph';
import { freePort } from '../support/ports';
import { startPrivateBroker, type PrivateBroker } from '../support/private-broker';
import {
  spawnService,
  waitUntilAnswering,
  withServiceLogsOnFailure,
  type ServiceName,
  type ServiceProcess,
} from '../support/service-process';
import { testStack, uniqueName } from '../support/stack-env';
import { waitFor } from '../support/wait-for';

/**
 * Crash recovery of the whole pipeline: a stream of events goes in over HTTP while each
 * service in turn is SIGKILLed and restarted and the Kafka broker is restarted once (a private
 * broker, so the shared one stays up). Afterwards every acknowledged messageId is in `events`
 * exactly once, every order and revenue figure is exact, and the identity graph is the one an
 * uninterrupted run gives (profile ids are derived from content, so they are known in advance),
 * and a segment defined before the stream (the better-spending half) has exactly the expected members,
 * each announced on its changes topic once.
 *
 * Size: CRASH_PEOPLE (default 150) people, CRASH_EVENTS_PER_PERSON (default 20) events each.
 * `npm run test:crash` runs a longer stream.
 */
const people = Number(process.env.CRASH_PEOPLE ?? 150);
const eventsPerPerson = Number(process.env.CRASH_EVENTS_PER_PERSON ?? 20);
const adminToken = 'adm_crash_test_token_000000';
const writeKey = 'wk_crash_test_key';

interface Person {
  readonly userId: string;
  readonly anonymousId: string;
  readonly identifyId: string;
}

let broker: PrivateBroker | undefined;
const running = new Map<ServiceName, ServiceProcess>();

afterAll(async () => {
  await Promise.all([...running.values()].map((service) => service.stop()));
  await broker?.close();
});

it(
  'loses nothing and counts nothing twice while every component crashes once',
  () => withServiceLogsOnFailure(crashEveryComponentOnce),
  900_000,
);

async function crashEveryComponentOnce(): Promise<void> {
  broker = await startPrivateBroker();
  const run = uniqueName('crash');
  const topic = (name: string) => `${run}.${name}`;
  const ports = {
    collector: await freePort(),
    'identity-stitcher': await freePort(),
    'profile-materializer': await freePort(),
  };
  const home = mkdtempSync(path.join(os.tmpdir(), 'kumiki-crash-'));
  const envOf: Record<ServiceName, Record<string, string>> = {
    'profile-materializer': {
      KUMIKI_HOME: home,
      KUMIKI_ADMIN_TOKEN: adminToken,
      MATERIALIZER_STITCHED_TOPIC: topic('stitched'),
      MATERIALIZER_CHANGES_TOPIC: topic('changes'),
      MATERIALIZER_UPDATES_TOPIC: topic('updates'),
      MATERIALIZER_DLQ_TOPIC: topic('dlq'),
      MATERIALIZER_GROUP_ID: `${run}-materializer`,
      SEGMENT_CHANGES_TOPIC: topic('segments'),
      PRIVACY_REQUESTS_TOPIC: topic('privacy'),
    },
    'identity-stitcher': {
      STITCHER_RAW_TOPIC: topic('raw'),
      STITCHER_JSON_TOPIC: topic('json'),
      STITCHER_STITCHED_TOPIC: topic('stitched'),
      STITCHER_CHANGES_TOPIC: topic('changes'),
      STITCHER_GRAPH_TOPIC: topic('graph'),
      STITCHER_DLQ_TOPIC: topic('dlq'),
      STITCHER_PRIVACY_TOPIC: topic('privacy'),
      STITCHER_SUBJECTS_TOPIC: topic('subjects'),
      STITCHER_GROUP_ID: `${run}-stitcher`,
      STITCHER_TRANSACTIONAL_ID: `${run}-stitcher`,
      STITCHER_SESSION_TIMEOUT_MS: '10000',
    },
    collector: {
      KUMIKI_WRITE_KEY: writeKey,
      COLLECTOR_EVENTS_TOPIC: topic('raw'),
      COLLECTOR_DLQ_TOPIC: topic('dlq'),
      COLLECTOR_RETRY_AFTER_SECONDS: '1',
    },
  };
  const url = (service: ServiceName) => `http://127.0.0.1:${ports[service]}`;
  const start = async (service: ServiceName): Promise<void> => {
    const process = spawnService(service, {
      KAFKA_BROKERS: broker!.address,
      HTTP_PORT: String(ports[service]),
      LOG_LEVEL: 'warn',
      ...envOf[service],
    });
    running.set(service, process);
    await waitUntilAnswering(process, url(service), '/ready', 120_000);
  };
  const crash = async (service: ServiceName): Promise<void> => {
    const process = running.get(service)!;
    process.child.kill('SIGKILL');
    await process.exit;
    await start(service);
  };
  for (const service of ['profile-materializer', 'identity-stitcher', 'collector'] as const) await start(service);

  // Like an SDK: retry the same batch (same messageIds) until it is acknowledged.
  const acknowledged = new Set<string>();
  const send = async (batch: Record<string, unknown>[]): Promise<void> => {
    await waitFor(
      async () => {
        const response = await fetch(`${url('collector')}/v1/batch`, {
          method: 'POST',
          headers: {
            authorization: `Basic ${Buffer.from(`${writeKey}:`).toString('base64')}`,
            'content-type': 'application/json',
          },
          body: JSON.stringify({ batch }),
        });
        await response.arrayBuffer();
        if (response.status !== 200) throw new Error(`collector answered ${response.status}`);
      },
      { timeoutMs: 180_000, intervalMs: 250 },
    );
    for (const event of batch) acknowledged.add(event.messageId as string);
  };

  const population: Person[] = Array.from({ length: people }, (_, i) => ({
    userId: `u-${run}-${i}`,
    anonymousId: `a-${run}-${i}`,
    identifyId: `${run}-identify-${i}`,
  }));
  // Each person's first event creates their profile; sent before the stream so it is first.
  await send(
    population.map((p) => ({
      type: 'identify',
      messageId: p.identifyId,
      userId: p.userId,
      anonymousId: p.anonymousId,
      traits: { plan: 'basic' },
    })),
  );

  const expectedOrders = new Map<string, { orders: number; revenue: number }>();
  const stream: Record<string, unknown>[] = [];
  for (let n = 0; n < eventsPerPerson; n++) {
    for (const [i, p] of population.entries()) {
      const messageId = `${run}-e-${n}-${i}`;
      if ((n + i) % 4 === 0) {
        const revenue = 10 + ((n * 31 + i) % 90);
        const expected = expectedOrders.get(p.userId) ?? { orders: 0, revenue: 0 };
        expectedOrders.set(p.userId, { orders: expected.orders + 1, revenue: expected.revenue + revenue });
        stream.push({
          type: 'track',
          event: 'Order Completed',
          messageId,
          userId: p.userId,
          properties: { order_id: `${run}-o-${n}-${i}`, revenue, currency: 'USD' },
        });
      } else {
        // Keyed by userId like the identify, so a person's events share one partition and their
        // order (hence the profile ids) is the same in every run.
        stream.push({
          type: 'page',
          name: 'Product',
          messageId,
          anonymousId: p.anonymousId,
          userId: p.userId,
          properties: { path: `/p/${n}` },
        });
      }
    }
  }

  // A segment defined before the stream: the better-spending half, by revenue in the window.
  const revenues = [...expectedOrders.values()].map((o) => o.revenue).sort((a, b) => a - b);
  const threshold = revenues[Math.floor(revenues.length / 2)]!;
  const created = await fetch(`${url('profile-materializer')}/v1/segments`, {
    method: 'POST',
    headers: { authorization: `Bearer ${adminToken}`, 'content-type': 'application/json' },
    body: JSON.stringify({
      name: 'big spenders',
      rule: {
        performed: { event: 'Order Completed' },
        within: { days: 365 },
        sum: { field: 'revenue', op: 'gte', value: threshold },
      },
    }),
  });
  expect(created.status).toBe(201);
  const segment = (await created.json()) as { id: string };

  // The stream, in batches of 50 from two senders, while the chaos below runs.
  let next = 0;
  const batches = Array.from({ length: Math.ceil(stream.length / 50) }, (_, b) => stream.slice(b * 50, b * 50 + 50));
  const senders = Promise.all(
    [0, 1].map(async () => {
      for (let b = next++; b < batches.length; b = next++) {
        await send(batches[b]!);
        await new Promise((resolve) => setTimeout(resolve, 40));
      }
    }),
  );
  const progress = (fraction: number) =>
    waitFor(
      () => {
        if (acknowledged.size < people + stream.length * fraction) throw new Error('stream not there yet');
      },
      { timeoutMs: 300_000, intervalMs: 100 },
    );
  await progress(0.15);
  await crash('identity-stitcher');
  await progress(0.35);
  await crash('profile-materializer');
  await progress(0.55);
  await crash('collector');
  await progress(0.7);
  await broker.restart();
  await senders;
  const total = people + stream.length;
  expect(acknowledged.size).toBe(total);

  const sql = async <T>(query: string): Promise<T[]> => {
    const response = await fetch(`${url('profile-materializer')}/v1/sql`, {
      method: 'POST',
      headers: { authorization: `Bearer ${adminToken}`, 'content-type': 'application/json' },
      body: JSON.stringify({ query }),
    });
    const body = (await response.json()) as { rows: T[]; message?: string };
    if (!response.ok) throw new Error(body.message);
    return body.rows;
  };
  await waitFor(
    async () => {
      const [row] = await sql<{ u: string }>('SELECT uniqExact(message_id) AS u FROM events');
      if (Number(row?.u) < total) throw new Error(`${row?.u} of ${total} events queryable`);
    },
    { timeoutMs: 300_000, intervalMs: 500 },
  );

  // Every acknowledged messageId exactly once: rows in the public view, and distinct ids.
  const [counts] = await sql<{ n: string; u: string }>('SELECT count() AS n, uniqExact(message_id) AS u FROM events');
  const lost = total - Number(counts!.u);
  const duplicated = Number(counts!.n) - Number(counts!.u);
  process.stdout.write(`crash recovery: ${total} events acknowledged, ${lost} lost, ${duplicated} duplicated\n`);
  expect({ lost, duplicated }).toEqual({ lost: 0, duplicated: 0 });

  // Orders and revenue exact per person (each order once, whatever was replayed).
  const orders = await sql<{ user_id: string; orders: string; revenue: string }>(
    "SELECT user_id, toString(uniqExact(order_id)) AS orders, toString(sum(revenue)) AS revenue FROM events WHERE event = 'Order Completed' GROUP BY user_id",
  );
  const actualOrders = new Map(
    orders.map((row) => [row.user_id, { orders: Number(row.orders), revenue: Number(row.revenue) }]),
  );
  expect(actualOrders).toEqual(expectedOrders);

  // The identity graph of an uninterrupted run: one profile per person, with the id derived
  // from the person's first event, holding both identifiers.
  const identities = await sql<{ identifier_type: string; identifier_value: string; profile_id: string }>(
    "SELECT identifier_type, identifier_value, profile_id FROM identities WHERE identifier_type IN ('user_id', 'anonymous_id') ORDER BY identifier_value",
  );
  const expectedIdentities = population
    .flatMap((p) => {
      const profileId = profileIdFor(p.identifyId, 'user_id', p.userId);
      return [
        { identifier_type: 'anonymous_id', identifier_value: p.anonymousId, profile_id: profileId },
        { identifier_type: 'user_id', identifier_value: p.userId, profile_id: profileId },
      ];
    })
    .sort((a, b) => (a.identifier_value < b.identifier_value ? -1 : a.identifier_value > b.identifier_value ? 1 : 0));
  expect(identities).toEqual(expectedIdentities);
  const [profiles] = await sql<{ n: string }>('SELECT uniqExact(profile_id) AS n FROM events');
  expect(Number(profiles!.n)).toBe(people);

  // The segment: exactly the people spending at least the median, each entered once on the topic
  // (read committed, decoded through the registry), whatever crashed in between.
  const profileOf = new Map(population.map((p) => [p.userId, profileIdFor(p.identifyId, 'user_id', p.userId)]));
  const spenders = new Set(
    [...expectedOrders].filter(([, o]) => o.revenue >= threshold).map(([userId]) => profileOf.get(userId)!),
  );
  expect(spenders.size).toBeGreaterThan(people / 4);
  expect(spenders.size).toBeLessThan(people);
  await waitFor(
    async () => {
      const members = await sql<{ profile_id: string }>(
        `SELECT profile_id FROM segment_members WHERE segment_id = '${segment.id}'`,
      );
      expect(new Set(members.map((m) => m.profile_id))).toEqual(spenders);
    },
    { timeoutMs: 120_000, intervalMs: 500 },
  );
  const registry = new SchemaRegistry({ host: testStack().registryUrl });
  const changes: { profileId: string; change: string; segmentId: string }[] = [];
  const reader = createKafkaClient({
    brokers: [broker.address],
    clientId: uniqueName('segment-reader'),
    logger: pino({ level: 'silent' }),
  });
  // Partitions with a transaction open when the broker went down answer "not the leader" until
  // the restarted broker has settled it (seconds): the read is taken again from the start.
  await waitFor(
    async () => {
      changes.length = 0;
      await reader.readToEnd({
        topic: topic('segments'),
        groupIdPrefix: uniqueName('segment-reader'),
        onBatch: async (messages) => {
          for (const message of messages)
            changes.push(
              (await registry.decode(message.value!)) as { profileId: string; change: string; segmentId: string },
            );
        },
      });
    },
    { timeoutMs: 60_000, intervalMs: 1_000 },
  );
  const entered = changes.filter((c) => c.segmentId === segment.id && c.change === 'entered').map((c) => c.profileId);
  const repeated = entered.length - new Set(entered).size;
  process.stdout.write(
    `crash recovery: ${entered.length} segment entries for ${spenders.size} expected members, ${repeated} repeated\n`,
  );
  expect({ repeated, exited: changes.filter((c) => c.change === 'exited').length, entered: new Set(entered) }).toEqual({
    repeated: 0,
    exited: 0,
    entered: spenders,
  });
}
