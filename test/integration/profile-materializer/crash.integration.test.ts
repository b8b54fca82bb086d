import { testPrivacyKey } from '../../support/privacy-key';
import { spawn, type ChildProcess } from 'node:child_process';
import path from 'node:path';
import { createClickHouse } from '../../../services/common/clickhouse/client-factory';
import { AvroCodec } from '../../../services/common/registry/avro-codec';
import { SchemaRegistryClient } from '../../../services/common/registry/schema-registry.client';
import { loadMaterializerConfig } from '../../../services/profile-materializer/config';
import { materializerTopics } from '../../../services/profile-materializer/materializer.service';
import type { StitchedEvent } from '../../../schemas';
import { createTestTopic, testKafka } from '../../support/kafka';
import { freePort } from '../../support/ports';
import { testStack, uniqueName } from '../../support/stack-env';
import { waitFor } from '../../support/wait-for';
import { embeddedHome, quietLogger } from './materializer-test-env';

/**
 * SIGKILL between insert and commit. The materializer runs as a real process (dist/, so run
 * `npm run build` first) with small batches; it is killed -9 while it is midway through the
 * stream, a second process takes over the same group, and the figures in ClickHouse must be
 * exactly those of the stream. The second process's dedup-hit counter proves the kill left
 * rows written whose offsets were not committed (the window this test is about).
 */
jest.setTimeout(240_000);
const DAY = 86_400_000;
const root = path.resolve(__dirname, '../../..');

function startMaterializer(env: Record<string, string>): ChildProcess {
  const child = spawn(process.execPath, [path.join(root, 'dist/services/profile-materializer/main.js')], {
    env: { ...process.env, ...env },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  // Kept for a failing run: the child's own log, not printed otherwise.
  const log: Buffer[] = [];
  child.stderr?.on('data', (chunk: Buffer) => log.length < 200 && log.push(chunk));
  child.stdout?.on('data', (chunk: Buffer) => log.length < 200 && log.push(chunk));
  (child as ChildProcess & { log: Buffer[] }).log = log;
  return child;
}

function exited(child: ChildProcess): Promise<void> {
  return new Promise((resolve) =>
    child.exitCode !== null || child.signalCode !== null ? resolve() : child.once('exit', () => resolve()),
  );
}

it('counts every event, order and cent exactly once after a SIGKILL between insert and commit', async () => {
  const kafka = testKafka();
  const [stitched, changes, updates, dlq] = await Promise.all(
    ['stitched', 'changes', 'updates', 'dlq'].map((p) => createTestTopic(kafka, `crash-${p}`, 1)),
  );
  const home = embeddedHome('crash');
  const database = uniqueName('t').replace(/-/g, '_');
  const groupId = uniqueName('crash-group');
  const env = {
    KAFKA_BROKERS: testStack().brokers.join(','),
    SCHEMA_REGISTRY_URL: testStack().registryUrl,
    LOG_LEVEL: 'warn',
    KUMIKI_HOME: home,
    CLICKHOUSE_DATABASE: database,
    KUMIKI_ADMIN_TOKEN: 'test-admin-token-0123456789',
    KUMIKI_PRIVACY_KEY: testPrivacyKey,
    PRIVACY_REQUESTS_TOPIC: `${groupId}.privacy`,
    MATERIALIZER_STITCHED_TOPIC: stitched!,
    MATERIALIZER_CHANGES_TOPIC: changes!,
    MATERIALIZER_UPDATES_TOPIC: updates!,
    MATERIALIZER_DLQ_TOPIC: dlq!,
    MATERIALIZER_GROUP_ID: groupId,
    MATERIALIZER_BATCH_SIZE: '200',
    MATERIALIZER_FETCH_MAX_BYTES_PER_PARTITION: '65536',
    MATERIALIZER_FETCH_MIN_BYTES: '1',
    MATERIALIZER_LINGER_MS: '10',
    // Every batch touches all 200 profiles, so each is due for a publish at once; the batches
    // written while a publish runs go out together with the next one, so the kill below leaves
    // written-but-uncommitted records of more than one batch behind.
    MATERIALIZER_REFRESH_MAX_PROFILES: '200',
  };
  const config = loadMaterializerConfig(env);
  const registry = new SchemaRegistryClient({ url: testStack().registryUrl });
  const codec = new AvroCodec(registry, await registry.registerAll(materializerTopics(config)));

  // 12 000 orders of 200 profiles; cents known exactly.
  const now = Date.now();
  const total = 12_000;
  const expected = new Map<string, { orders: number; cents: number }>();
  const records: StitchedEvent[] = [];
  for (let i = 0; i < total; i++) {
    const profileId = `P${i % 200}`;
    const cents = 100 + ((i * 7919) % 10_000);
    const e = expected.get(profileId) ?? { orders: 0, cents: 0 };
    expected.set(profileId, { orders: e.orders + 1, cents: e.cents + cents });
    const at = now - (1 + (i % 300)) * DAY;
    records.push({
      profileId,
      identifiers: [{ type: 'user_id', value: `u-${profileId}` }],
      stitchedAt: now,
      event: {
        messageId: `crash-${i}`,
        type: 'track',
        event: 'Order Completed',
        name: null,
        userId: `u-${profileId}`,
        anonymousId: null,
        previousId: null,
        groupId: null,
        timestamp: at,
        sentAt: null,
        receivedAt: at,
        channel: 'web',
        source: 'test',
        context: '{}',
        traits: '{}',
        consent: {},
        properties: JSON.stringify({ order_id: `order-${i}`, revenue: (cents / 100).toFixed(2) }),
      },
    });
  }
  const producer = kafka.producer();
  await producer.connect();
  for (let i = 0; i < total; i += 2_000) {
    await producer.send(
      stitched!,
      records.slice(i, i + 2_000).map((r) => ({ key: r.profileId, value: codec.encode(stitched!, r) })),
    );
  }
  await producer.disconnect();

  const admin = kafka.admin();
  await admin.connect();
  const committed = async (): Promise<number> => {
    const lags = await admin.groupLag(groupId, [stitched!]);
    return Math.max(0, ...lags.map((l) => Number(l.committed)));
  };

  // First process: kills itself with SIGKILL after its 5th publish of profile updates (its
  // batches are in ClickHouse, their updates on Kafka) but before their offsets are committed.
  const first = startMaterializer({
    ...env,
    HTTP_PORT: String(await freePort()),
    MATERIALIZER_FAULT_KILL_BEFORE_COMMIT: '5',
  });
  // Bounded: a process that never publishes five times would otherwise be waited for until the test's timeout.
  const killed = await Promise.race([
    exited(first).then(() => true),
    new Promise<boolean>((resolve) => setTimeout(() => resolve(false), 90_000).unref()),
  ]);
  if (!killed) {
    first.kill('SIGKILL');
    throw new Error(
      'the first materializer did not reach its 5th publish within 90 s, so the fault was never injected',
    );
  }
  expect(first.signalCode).toBe('SIGKILL');
  const committedAtKill = await committed();
  expect(committedAtKill).toBeGreaterThan(0);
  expect(committedAtKill).toBeLessThan(total);

  // Second process, same group: resumes from the committed offset.
  const port = await freePort();
  const second = startMaterializer({ ...env, HTTP_PORT: String(port) });
  await waitFor(
    async () => {
      if ((await committed()) !== total) throw new Error('not done');
    },
    { timeoutMs: 120_000, intervalMs: 200 },
  );
  const metrics = await (await fetch(`http://127.0.0.1:${port}/metrics`)).text();
  const dedupHits = Number(/^kumiki_materializer_dedup_hits_total(?:\{[^}]*\})? (\d+)/m.exec(metrics)?.[1] ?? 'NaN');
  second.kill('SIGTERM');
  await exited(second);
  await admin.disconnect();
  // Rows the first process inserted but never committed were read and written again.
  expect(dedupHits).toBeGreaterThan(0);

  const ch = await createClickHouse(
    {
      CLICKHOUSE_URL: undefined,
      CLICKHOUSE_USER: 'default',
      CLICKHOUSE_PASSWORD: '',
      CLICKHOUSE_DATABASE: database,
      KUMIKI_HOME: home,
    },
    quietLogger,
  );
  try {
    const totalCents = [...expected.values()].reduce((sum, e) => sum + e.cents, 0);
    expect(
      await ch.query(
        'SELECT count() AS n, uniqExact(order_id) AS orders, toString(sum(revenue)) AS revenue FROM events',
      ),
    ).toEqual([
      { n: String(total), orders: String(total), revenue: (totalCents / 100).toFixed(2).replace(/\.?0+$/, '') },
    ]);
    const rfm = await ch.query<{ profile_id: string; frequency: number; monetary_cents: string }>(
      'SELECT profile_id, frequency, toString(monetary_cents) AS monetary_cents FROM rfm_as_of(as_of = fromUnixTimestamp64Milli({t:Int64}))',
      { t: now },
    );
    expect(rfm).toHaveLength(expected.size);
    for (const row of rfm) {
      const want = expected.get(row.profile_id)!;
      expect({ id: row.profile_id, frequency: Number(row.frequency), cents: Number(row.monetary_cents) }).toEqual({
        id: row.profile_id,
        frequency: want.orders,
        cents: want.cents,
      });
    }
  } finally {
    await ch.close();
  }
});
