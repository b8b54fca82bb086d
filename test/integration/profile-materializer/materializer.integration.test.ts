import type { ClickHouse } from '../../../services/common/clickhouse/client-factory';
import { createServiceBase } from '../../../services/common/service-base';
import { AvroCodec } from '../../../services/common/registry/avro-codec';
import { SchemaRegistryClient } from '../../../services/common/registry/schema-registry.client';
import type { EventProducer, KafkaClient } from '../../../services/common/kafka/client';
import { loadMaterializerConfig, type MaterializerConfig } from '../../../services/profile-materializer/config';
import {
  createMaterializerService,
  materializerTopics,
} from '../../../services/profile-materializer/materializer.service';
import { readRfm } from '../../../services/profile-materializer/rfm/rfm.repository';
import { eventWith, schema, type IdentityChange, type ProfileUpdate, type StitchedEvent } from '../../../schemas';
import { testKafka } from '../../support/kafka';
import { freePort } from '../../support/ports';
import { testStack, uniqueName } from '../../support/stack-env';
import { waitFor } from '../../support/wait-for';
import { embeddedHome, freshDatabase, materializerEnv } from './materializer-test-env';

/**
 * The materializer end to end on real Kafka, the real registry and embedded ClickHouse:
 * records in on the stitched and identity-changes topics, exact figures out in ClickHouse and
 * ProfileUpdates out on the updates topic.
 */
jest.setTimeout(180_000);
const DAY = 86_400_000;
const home = embeddedHome('materializer');

interface Harness {
  config: MaterializerConfig;
  ch: ClickHouse;
  codec: AvroCodec;
  producer: EventProducer;
  kafka: KafkaClient;
  start(groupId?: string): Promise<{ stop(): Promise<void>; processed(): number }>;
  close(): Promise<void>;
}

async function harness(): Promise<Harness> {
  const kafka = testKafka();
  const ch = await freshDatabase(home);
  const env = {
    ...(await materializerEnv(kafka, home, ch, 'mat')),
    RFM_CURRENCY_RATES: 'EUR=1.10',
  };
  const config = loadMaterializerConfig(env);
  const registry = new SchemaRegistryClient({ url: testStack().registryUrl });
  const codec = new AvroCodec(registry, await registry.registerAll(materializerTopics(config)));
  const producer = kafka.producer();
  await producer.connect();
  const running: Array<{ stop(): Promise<void> }> = [];
  return {
    config,
    ch,
    codec,
    producer,
    kafka,
    async start(groupId) {
      const cfg = loadMaterializerConfig({
        ...env,
        ...(groupId ? { MATERIALIZER_GROUP_ID: groupId } : {}),
        HTTP_PORT: String(await freePort()),
      });
      const { service, consumer } = createMaterializerService(cfg, createServiceBase('profile-materializer', cfg));
      await service.start();
      const handle = { stop: async () => void (await service.stop()), processed: () => consumer.processed() };
      running.push(handle);
      return handle;
    },
    async close() {
      for (const r of running) await r.stop();
      await producer.disconnect();
      await ch.close();
    },
  };
}

let seq = 0;
function event(
  profileId: string,
  overrides: Partial<StitchedEvent['event']> & { at: number },
  identifiers = [{ type: 'user_id', value: `u-${profileId}` }],
): StitchedEvent {
  seq += 1;
  const { at, ...rest } = overrides;
  return {
    profileId,
    identifiers,
    stitchedAt: Date.now(),
    event: eventWith({
      messageId: `msg-${seq}-${Math.random().toString(36).slice(2, 8)}`,
      type: 'track',
      event: 'Page Viewed',
      userId: `u-${profileId}`,
      timestamp: at,
      channel: 'web',
      source: 'test',
      ...rest,
    }),
  };
}

function order(
  profileId: string,
  at: number,
  orderId: string,
  revenue: number | string,
  extra: Partial<StitchedEvent['event']> = {},
): StitchedEvent {
  return event(profileId, {
    at,
    event: 'Order Completed',
    properties: JSON.stringify({ order_id: orderId, revenue, currency: 'USD' }),
    ...extra,
  });
}

async function send(h: Harness, records: readonly StitchedEvent[]): Promise<void> {
  await h.producer.send(
    h.config.MATERIALIZER_STITCHED_TOPIC,
    records.map((r) => ({ key: r.profileId, value: h.codec.encode(h.config.MATERIALIZER_STITCHED_TOPIC, r) })),
  );
}

async function sendChange(
  h: Harness,
  change: Omit<IdentityChange, 'changeId' | 'rule' | 'reason' | 'changedAt'>,
): Promise<void> {
  const value: IdentityChange = {
    changeId: uniqueName('change'),
    rule: 'user_id',
    reason: null,
    changedAt: Date.now(),
    ...change,
  };
  await h.producer.send(h.config.MATERIALIZER_CHANGES_TOPIC, [
    { key: value.profileId, value: h.codec.encode(h.config.MATERIALIZER_CHANGES_TOPIC, value) },
  ]);
}

/**
 * Waits until `check` passes on the latest ProfileUpdate of each profile. Their RFM is the RFM
 * snapshot's, so figures arrive with the snapshot taken after the orders (republished then).
 */
async function untilLatestUpdates(h: Harness, check: (latest: Map<string, ProfileUpdate>) => void): Promise<void> {
  await waitFor(
    async () => {
      const values: Buffer[] = [];
      await h.kafka.readToEnd({
        topic: h.config.MATERIALIZER_UPDATES_TOPIC,
        groupIdPrefix: uniqueName('read-back'),
        onBatch: (messages) => void values.push(...messages.map((m) => m.value!)),
      });
      const latest = new Map<string, ProfileUpdate>();
      for (const value of values) {
        const { value: update } = await h.codec.decode<ProfileUpdate>(value, schema('ProfileUpdate').type);
        latest.set(update.profileId, update);
      }
      check(latest);
    },
    { timeoutMs: 60_000, intervalMs: 500 },
  );
}

describe('profile-materializer on Kafka and embedded ClickHouse', () => {
  let h: Harness;
  beforeEach(async () => {
    h = await harness();
  });
  afterEach(async () => h.close());

  it('materializes exact profiles and RFM, and a replay from offset 0 changes nothing', async () => {
    const now = Date.now();
    const records = [
      event('A', {
        at: now - 5 * DAY,
        type: 'identify',
        event: null,
        traits: '{"name":"Ann","plan":"silver"}',
        consent: { email: true },
      }),
      event('A', { at: now - 2 * DAY, type: 'identify', event: null, traits: '{"plan":"gold"}' }),
      order('A', now - 3 * DAY, 'o1', 100, { channel: 'store' }),
      order('A', now - 1 * DAY, 'o2', '50.5', { consent: { email: false, sms: true } }),
      event('A', { at: now - 0.5 * DAY, event: 'Order Refunded', properties: '{"order_id":"o2","revenue":20.5}' }),
      order('B', now - 40 * DAY, 'o3', 30),
      // Late arrivals: older than what is already there.
      event('A', { at: now - 10 * DAY, type: 'identify', event: null, traits: '{"plan":"bronze","city":"Kyoto"}' }),
      order('A', now - 30 * DAY, 'o0', 10),
    ];
    await send(h, records);
    const first = await h.start();
    await waitFor(() => expect(first.processed()).toBe(records.length), { timeoutMs: 60_000 });

    const expectedRfm = {
      A: { frequency: 3, monetary: 140, recencyDays: 1, r: 3, f: 3, m: 3, label: 'Need attention' },
      B: { frequency: 1, monetary: 30, recencyDays: 40, r: 1, f: 1, m: 1, label: 'Lost' },
    };
    const check = async (): Promise<void> => {
      expect(await h.ch.query('SELECT count() AS n, sum(revenue) AS revenue FROM events')).toEqual([
        { n: '8', revenue: 211 },
      ]);
      const rfm = await readRfm(h.ch, Date.now());
      expect(rfm.get('A')).toMatchObject(expectedRfm.A);
      expect(rfm.get('B')).toMatchObject(expectedRfm.B);
      const [profile] = await h.ch.query<Record<string, unknown>>(
        "SELECT traits, toUnixTimestamp64Milli(first_seen) AS first, toUnixTimestamp64Milli(last_seen) AS last, channels, consent, identifiers FROM profiles WHERE profile_id = 'A'",
      );
      expect(profile).toEqual({
        traits: '{"city":"Kyoto","name":"Ann","plan":"gold"}',
        first: String(now - 30 * DAY),
        last: String(now - 0.5 * DAY),
        channels: ['store', 'web'],
        consent: { email: false, sms: true },
        identifiers: ['user_id:u-A'],
      });
    };
    await check();
    await untilLatestUpdates(h, (updates) => {
      expect(updates.get('A')).toMatchObject({
        mergedInto: null,
        traits: '{"city":"Kyoto","name":"Ann","plan":"gold"}',
        rfm: expectedRfm.A,
        consent: { email: false, sms: true },
        firstSeen: now - 30 * DAY,
      });
      expect(updates.get('B')).toMatchObject({ rfm: expectedRfm.B, identifiers: [{ type: 'user_id', value: 'u-B' }] });
    });

    // The same partition read again from offset 0 (a new group): nothing counts twice.
    await first.stop();
    const replay = await h.start(uniqueName('replay'));
    await waitFor(() => expect(replay.processed()).toBe(records.length), { timeoutMs: 60_000 });
    expect(await h.ch.query<{ n: string }>('SELECT count() AS n FROM events_store')).not.toEqual([{ n: '0' }]);
    await check();
    // And the same records sent again (a producer retry) are deduplicated as well.
    await send(h, records.slice(2, 6));
    await waitFor(() => expect(replay.processed()).toBe(records.length + 4), { timeoutMs: 60_000 });
    await check();
  });

  it('merges two profiles that both purchased: the survivor gets the combined, exact RFM', async () => {
    const now = Date.now();
    await send(h, [
      order('A', now - 10 * DAY, 'o1', 100),
      order('B', now - 2 * DAY, 'o2', 40),
      order('B', now - 1 * DAY, 'o3', '15.25'),
      order('C', now - 100 * DAY, 'o4', 5),
    ]);
    const run = await h.start();
    await waitFor(() => expect(run.processed()).toBe(4), { timeoutMs: 60_000 });
    expect((await readRfm(h.ch, Date.now())).get('B')).toMatchObject({ frequency: 2, monetary: 55.25 });

    await sendChange(h, {
      kind: 'merge',
      profileId: 'A',
      absorbedProfileIds: ['B'],
      identifiers: [{ type: 'user_id', value: 'u-B' }],
      messageId: 'm-merge',
      eventTime: now,
    });
    await waitFor(() => expect(run.processed()).toBe(5), { timeoutMs: 60_000 });
    const rfm = await readRfm(h.ch, Date.now());
    expect(rfm.has('B')).toBe(false);
    expect(rfm.get('A')).toMatchObject({ frequency: 3, monetary: 155.25, recencyDays: 1, r: 3, f: 3, m: 3 });
    expect(rfm.get('C')).toMatchObject({ frequency: 1, monetary: 5, recencyDays: 100, r: 1, f: 1, m: 1 });
    expect(await h.ch.query("SELECT DISTINCT profile_id FROM events WHERE order_id IN ('o2', 'o3')")).toEqual([
      { profile_id: 'A' },
    ]);
    expect(await h.ch.query("SELECT profile_id FROM profiles WHERE profile_id IN ('A', 'B')")).toEqual([
      { profile_id: 'A' },
    ]);

    await untilLatestUpdates(h, (updates) => {
      expect(updates.get('B')).toMatchObject({ mergedInto: 'A', rfm: null });
      expect(updates.get('A')).toMatchObject({
        mergedInto: null,
        identifiers: [
          { type: 'user_id', value: 'u-A' },
          { type: 'user_id', value: 'u-B' },
        ],
        rfm: { frequency: 3, monetary: 155.25 },
      });
    });

    // A chain merge read in the "wrong" order keeps the alias map flat: A into Z.
    await sendChange(h, {
      kind: 'merge',
      profileId: 'Z',
      absorbedProfileIds: ['A'],
      identifiers: [],
      messageId: 'm-merge-2',
      eventTime: now,
    });
    await waitFor(() => expect(run.processed()).toBe(6), { timeoutMs: 60_000 });
    expect(
      await h.ch.query(
        'SELECT absorbed_profile_id, surviving_profile_id FROM profile_aliases ORDER BY absorbed_profile_id',
      ),
    ).toEqual([
      { absorbed_profile_id: 'A', surviving_profile_id: 'Z' },
      { absorbed_profile_id: 'B', surviving_profile_id: 'Z' },
    ]);
    expect((await readRfm(h.ch, Date.now())).get('Z')).toMatchObject({ frequency: 3, monetary: 155.25 });
  });

  it('computes RFM exactly for generated orders (expected values computed here, independently)', async () => {
    const asOf = Date.now();
    let s = 42;
    const rand = (): number => (s = (s * 1103515245 + 12345) % 2147483648) / 2147483648;
    const orders: { profile: string; at: number; cents: number; id: string }[] = [];
    for (let i = 0; i < 300; i++) {
      orders.push({
        profile: `P${Math.floor(rand() * 40)}`,
        at: Math.floor(asOf - rand() * 400 * DAY),
        cents: 100 + Math.floor(rand() * 20_000),
        id: `ord-${i}`,
      });
    }
    const records = orders.map((o) => order(o.profile, o.at, o.id, (o.cents / 100).toFixed(2)));
    await send(h, [...records, ...records.slice(0, 25)]); // 25 records delivered twice
    const run = await h.start();
    await waitFor(() => expect(run.processed()).toBe(325), { timeoutMs: 60_000 });

    // Independent computation: a plain reading of docs/rfm.md.
    const inWindow = orders.filter((o) => o.at > asOf - 365 * DAY);
    const byProfile = new Map<string, { last: number; count: number; cents: number }>();
    for (const o of inWindow) {
      const p = byProfile.get(o.profile) ?? { last: 0, count: 0, cents: 0 };
      byProfile.set(o.profile, { last: Math.max(p.last, o.at), count: p.count + 1, cents: p.cents + o.cents });
    }
    const all = [...byProfile].map(([id, p]) => ({
      id,
      days: Math.floor((asOf - p.last) / DAY),
      count: p.count,
      cents: p.cents,
    }));
    const score = (worse: number): number => 1 + Math.floor((5 * worse) / all.length);
    const grid: Record<number, string[]> = {
      1: ['Lost', 'Lost', 'At risk', 'At risk', "Can't lose them"],
      2: ['Hibernating', 'Hibernating', 'At risk', 'At risk', "Can't lose them"],
      3: ['About to sleep', 'About to sleep', 'Need attention', 'Loyal customers', 'Loyal customers'],
      4: ['Promising', 'Potential loyalists', 'Potential loyalists', 'Loyal customers', 'Loyal customers'],
      5: ['New customers', 'Potential loyalists', 'Potential loyalists', 'Champions', 'Champions'],
    };
    const expected = new Map(
      all.map((p) => {
        const r = score(all.filter((q) => q.days > p.days).length);
        const f = score(all.filter((q) => q.count < p.count).length);
        const m = score(all.filter((q) => q.cents < p.cents).length);
        return [
          p.id,
          {
            recencyDays: p.days,
            frequency: p.count,
            monetary: p.cents / 100,
            r,
            f,
            m,
            label: grid[r]![Math.round((f + m) / 2 + 0.01) - 1],
          },
        ];
      }),
    );

    const actual = await readRfm(h.ch, asOf);
    expect(actual.size).toBe(expected.size);
    for (const [id, want] of expected) expect({ id, ...actual.get(id) }).toMatchObject({ id, ...want });
    const labels = new Set([...expected.values()].map((v) => v.label));
    expect(labels.size).toBeGreaterThan(4);
  });
});
