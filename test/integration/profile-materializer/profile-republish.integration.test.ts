import type { ClickHouse } from '../../../services/common/clickhouse/client-factory';
import type { EventProducer, KafkaClient } from '../../../services/common/kafka/client';
import { AvroCodec } from '../../../services/common/registry/avro-codec';
import { SchemaRegistryClient } from '../../../services/common/registry/schema-registry.client';
import { createServiceBase } from '../../../services/common/service-base';
import { loadMaterializerConfig, type MaterializerConfig } from '../../../services/profile-materializer/config';
import {
  createMaterializerService,
  materializerTopics,
} from '../../../services/profile-materializer/materializer.service';
import { parseRates } from '../../../services/profile-materializer/rfm/money';
import {
  createRfmSnapshotter,
  rfmChangesPage,
  writeRfmSnapshot,
} from '../../../services/profile-materializer/rfm/rfm-snapshot';
import { writeRfmSettings } from '../../../services/profile-materializer/rfm/rfm.repository';
import { createSegment } from '../../../services/profile-materializer/segments/segment.repository';
import { dateTime64Text } from '../../../services/common/clickhouse/datetime64';
import { defaultSegmentLimits } from '../../../services/profile-materializer/segments/validate-segment-sql';
import { eventWith, schema, type ProfileUpdate, type StitchedEvent } from '../../../schemas';
import { testKafka } from '../../support/kafka';
import { testStack, uniqueName } from '../../support/stack-env';
import { waitFor } from '../../support/wait-for';
import { embeddedHome, freshDatabase, materializerEnv, quietLogger } from './materializer-test-env';

/**
 * ProfileUpdates for changes that come without an event of the profile's own: its RFM scores
 * moving because other people bought, its segments changing at a sweep. Real Kafka, registry and
 * chDB; the updates topic is read back to its end and decoded through the registry, and the
 * assertions are on the last record of a profile — the one a compacted topic keeps.
 */
jest.setTimeout(180_000);
const DAY = 86_400_000;
const home = embeddedHome('profile-republish');

interface Harness {
  readonly config: MaterializerConfig;
  readonly ch: ClickHouse;
  readonly kafka: KafkaClient;
  readonly codec: AvroCodec;
  readonly producer: EventProducer;
  send(records: readonly StitchedEvent[]): Promise<void>;
  /** Every ProfileUpdate of `profileId` on the topic, in offset order. */
  updatesOf(profileId: string): Promise<ProfileUpdate[]>;
  /** The last ProfileUpdate of each profile on the topic: what compaction keeps. */
  lastUpdates(): Promise<Map<string, ProfileUpdate>>;
  close(): Promise<void>;
}

async function harness(env: Record<string, string>): Promise<Harness> {
  const kafka = testKafka();
  const ch = await freshDatabase(home);
  const config = loadMaterializerConfig({
    ...(await materializerEnv(kafka, home, ch, 'republish')),
    SEGMENT_CHANGES_TOPIC: uniqueName('republish-segment-changes'),
    ...env,
  });
  const registry = new SchemaRegistryClient({ url: testStack().registryUrl });
  const codec = new AvroCodec(registry, await registry.registerAll(materializerTopics(config)));
  const producer = kafka.producer();
  await producer.connect();
  const { service } = createMaterializerService(config, createServiceBase('profile-materializer', config));
  await service.start();
  const readUpdates = async (): Promise<ProfileUpdate[]> => {
    const raw: Buffer[] = [];
    await kafka.readToEnd({
      topic: config.MATERIALIZER_UPDATES_TOPIC,
      groupIdPrefix: uniqueName('read-back'),
      onBatch: (messages) => void raw.push(...messages.map((m) => m.value!)),
    });
    const decoded: ProfileUpdate[] = [];
    for (const value of raw)
      decoded.push((await codec.decode<ProfileUpdate>(value, schema('ProfileUpdate').type)).value);
    return decoded;
  };
  return {
    config,
    ch,
    kafka,
    codec,
    producer,
    async send(records) {
      await producer.send(
        config.MATERIALIZER_STITCHED_TOPIC,
        records.map((r) => ({ key: r.profileId, value: codec.encode(config.MATERIALIZER_STITCHED_TOPIC, r) })),
      );
    },
    async updatesOf(profileId) {
      return (await readUpdates()).filter((u) => u.profileId === profileId);
    },
    async lastUpdates() {
      return new Map((await readUpdates()).map((u) => [u.profileId, u]));
    },
    async close() {
      await service.stop();
      await producer.disconnect();
      await ch.close();
    },
  };
}

let seq = 0;
function track(profileId: string, at: number, name: string, properties: Record<string, unknown> = {}): StitchedEvent {
  seq += 1;
  return {
    profileId,
    identifiers: [{ type: 'user_id', value: `u-${profileId}` }],
    stitchedAt: Date.now(),
    event: eventWith({
      messageId: uniqueName(`republish-${seq}`),
      type: 'track',
      event: name,
      userId: `u-${profileId}`,
      timestamp: at,
      channel: 'web',
      source: 'test',
      properties: JSON.stringify(properties),
    }),
  };
}
function identify(profileId: string, at: number, traits: Record<string, unknown>): StitchedEvent {
  const record = track(profileId, at, 'unused');
  return { ...record, event: { ...record.event, type: 'identify', event: null, traits: JSON.stringify(traits) } };
}
const order = (profileId: string, at: number, orderId: string, revenue: number): StitchedEvent =>
  track(profileId, at, 'Order Completed', { order_id: orderId, revenue, currency: 'USD' });

describe('ProfileUpdates without an event of the profile', () => {
  it('a profile whose RFM label moves only because others bought gets a new ProfileUpdate with the new label', async () => {
    const h = await harness({ RFM_SNAPSHOT_MIN_INTERVAL_MS: '200' });
    try {
      const now = Date.now();
      // ann alone: every score among one purchaser is 1, "Lost".
      await h.send([order('ann', now - DAY, 'a1', 100), order('ann', now - DAY + 60_000, 'a2', 100)]);
      await waitFor(
        async () =>
          expect((await h.updatesOf('ann')).at(-1)?.rfm).toMatchObject({
            frequency: 2,
            monetary: 200,
            r: 1,
            f: 1,
            m: 1,
            label: 'Lost',
          }),
        { timeoutMs: 60_000, intervalMs: 500 },
      );
      const before = (await h.updatesOf('ann')).length;

      // Four older, smaller, one-order buyers: ann is now the best of five on every score.
      await h.send(['bob', 'cy', 'dan', 'eve'].map((id, i) => order(id, now - (30 + 10 * i) * DAY, `${id}-1`, 10)));
      await waitFor(
        async () => {
          const updates = await h.updatesOf('ann');
          expect(updates.length).toBeGreaterThan(before);
          expect(updates.at(-1)).toMatchObject({
            profileId: 'ann',
            mergedInto: null,
            identifiers: [{ type: 'user_id', value: 'u-ann' }],
            rfm: { frequency: 2, monetary: 200, recencyDays: 0, r: 5, f: 5, m: 5, label: 'Champions' },
          });
        },
        { timeoutMs: 60_000, intervalMs: 500 },
      );
      // The same figures as the rfm view (the snapshot the change was found in).
      expect(await h.ch.query("SELECT r_score, f_score, m_score, label FROM rfm WHERE profile_id = 'ann'")).toEqual([
        { r_score: 5, f_score: 5, m_score: 5, label: 'Champions' },
      ]);
    } finally {
      await h.close();
    }
  });

  it('an RFM snapshot that changes 5,000 profiles of ~1.6 KB each republishes every one (far more than a record batch holds)', async () => {
    const h = await harness({ RFM_SNAPSHOT_MIN_INTERVAL_MS: '200' });
    try {
      const now = Date.now();
      const ids = Array.from({ length: 5_000 }, (_, i) => `big-${String(i).padStart(4, '0')}`);
      const withTraits = (record: StitchedEvent): StitchedEvent => ({
        ...record,
        event: { ...record.event, traits: JSON.stringify({ notes: 'n'.repeat(1_500) }) },
      });
      const orders = ids.map((id, i) => withTraits(order(id, now - (i % 300) * DAY, `${id}-1`, 10 + (i % 97))));
      // In sends of 500, so the input reaches the materializer whether or not the producer splits large sends.
      for (let i = 0; i < orders.length; i += 500) await h.send(orders.slice(i, i + 500));
      // The snapshot republishes all 5,000 in one chunk: ~1.4 MB for each of the six partitions.
      await waitFor(
        async () => {
          const last = await h.lastUpdates();
          const priced = ids.filter((id) => last.get(id)?.rfm?.frequency === 1);
          expect(priced.length).toBe(ids.length);
        },
        { timeoutMs: 120_000, intervalMs: 2_000 },
      );
      const last = await h.lastUpdates();
      expect(last.get('big-0042')).toMatchObject({
        rfm: { frequency: 1, monetary: 10 + 42 },
        traits: JSON.stringify({ notes: 'n'.repeat(1_500) }),
      });
    } finally {
      await h.close();
    }
  });

  it('a profile whose merged traits pass 1 MiB gets ProfileUpdates with the keys set most recently, within 512 KiB; ClickHouse keeps every key', async () => {
    const h = await harness({});
    try {
      const now = Date.now();
      const traits = (prefix: string) =>
        Object.fromEntries(Array.from({ length: 4_000 }, (_, i) => [`${prefix}_${i}`, 'v'.repeat(90)]));
      // ~420 KB of new keys each; the newest by event time arrives first.
      for (const [prefix, age] of [
        ['c', 1_000],
        ['a', 3_000],
        ['b', 2_000],
      ] as const)
        await h.send([identify('max', now - age, traits(prefix))]);
      await waitFor(
        async () => {
          const kept = Object.keys(JSON.parse((await h.updatesOf('max')).at(-1)?.traits ?? '{}') as object);
          const count = (prefix: string) => kept.filter((key) => key.startsWith(`${prefix}_`)).length;
          expect([count('c'), count('a')]).toEqual([4_000, 0]);
          expect(count('b')).toBeGreaterThan(0);
          expect(count('b')).toBeLessThan(4_000);
        },
        { timeoutMs: 60_000, intervalMs: 1_000 },
      );
      const last = (await h.updatesOf('max')).at(-1)!;
      expect(Buffer.byteLength(last.traits)).toBeLessThanOrEqual(512 * 1024);
      expect(Buffer.byteLength(last.traits)).toBeGreaterThan(500 * 1024);
      expect(
        await h.ch.query("SELECT length(JSONExtractKeys(traits)) AS keys FROM profiles WHERE profile_id = 'max'"),
      ).toEqual([{ keys: '12000' }]);
    } finally {
      await h.close();
    }
  });

  it('a profile that leaves a time-relative segment at a sweep, without any new event, gets a ProfileUpdate without it', async () => {
    const h = await harness({ SEGMENT_SWEEP_INTERVAL_MS: '1000' });
    try {
      const segment = await createSegment(
        h.ch,
        { name: 'browsed-last-minute', rule: { performed: { event: 'Product Viewed' }, within: { minutes: 1 } } },
        { limits: defaultSegmentLimits },
      );
      // Viewed 50 s ago: a member now (incremental), no longer one ~10 s later (the sweep).
      const viewedAt = Date.now() - 50_000;
      await h.send([track('fay', viewedAt, 'Product Viewed')]);
      await waitFor(
        async () => expect((await h.updatesOf('fay')).map((u) => u.segments)).toContainEqual([segment.id]),
        { timeoutMs: 30_000, intervalMs: 300 },
      );
      await waitFor(
        async () => {
          const updates = await h.updatesOf('fay');
          expect(updates.at(-1)).toMatchObject({
            profileId: 'fay',
            segments: [],
            identifiers: [{ type: 'user_id', value: 'u-fay' }],
            lastSeen: viewedAt,
          });
          expect(updates.at(-1)!.updatedAt).toBeGreaterThanOrEqual(viewedAt + 60_000);
        },
        { timeoutMs: 60_000, intervalMs: 500 },
      );
      expect(
        await h.ch.query('SELECT count() AS n FROM segment_members WHERE segment_id = {id:String}', { id: segment.id }),
      ).toEqual([{ n: '0' }]);
    } finally {
      await h.close();
    }
  });
});

describe('RFM snapshot changes (staged in ClickHouse)', () => {
  let ch: ClickHouse;
  const asOf = Date.UTC(2026, 10, 23, 12, 0, 0);
  beforeEach(async () => {
    ch = await freshDatabase(home);
    await writeRfmSettings(ch, {
      purchaseEvents: ['Order Completed'],
      refundEvents: ['Order Refunded'],
      windowDays: 365,
      rates: parseRates('', 'USD'),
      reportingCurrency: 'USD',
    });
  });
  afterEach(async () => ch.close());

  const orders = async (
    ...rows: Array<[profile: string, at: number, orderId: string, revenue: number]>
  ): Promise<void> => {
    await ch.insert(
      'events_store',
      rows.map(([profile, at, orderId, revenue]) => {
        seq += 1;
        return {
          message_id: `m${seq}`,
          profile_id: profile,
          type: 'track',
          event: 'Order Completed',
          timestamp: dateTime64Text(at),
          received_at: dateTime64Text(at),
          channel: 'web',
          order_id: orderId,
          revenue,
          currency: 'USD',
          version: seq,
        };
      }),
    );
  };
  const changes = async (version: number, pageSize = 1_000): Promise<string[][]> => {
    const pages: string[][] = [];
    for (let after = ''; ; ) {
      const page = await rfmChangesPage(ch, version, after, pageSize);
      if (page.length === 0) return pages;
      pages.push(page);
      after = page.at(-1)!;
    }
  };

  it('holds exactly the profiles newly in, gone, or with other figures, scores or label; not those whose recency only grew', async () => {
    await orders(
      ['p1', asOf - 1 * DAY, 'o1', 25],
      ['p2', asOf - 2 * DAY, 'o2', 20],
      ['p3', asOf - 3 * DAY, 'o3', 30],
      ['p4', asOf - 4 * DAY, 'o4', 40],
      ['p5', asOf - 300 * DAY, 'o5', 50],
    );
    const first = await writeRfmSnapshot(ch, asOf);
    expect(first).toMatchObject({ purchasers: 5, changed: 5 }); // no snapshot before: all new
    expect(await changes(first.version)).toEqual([['p1', 'p2', 'p3', 'p4', 'p5']]);

    // A day later every recency grew by one day, and nothing else changed: nothing staged.
    const second = await writeRfmSnapshot(ch, asOf + DAY + 3_600_000);
    expect(second).toMatchObject({ purchasers: 5, changed: 0 });
    expect(await changes(second.version)).toEqual([]);

    // p6 buys (new), p2 buys again (figures), p5 is merged into p4 (p5 gone, p4 combined); p1
    // does nothing, but two people now bought more recently and two spent more: its scores drop.
    await orders(['p6', asOf + 1.5 * DAY, 'o6', 100], ['p2', asOf + 1.5 * DAY, 'o7', 20]);
    await ch.insert('profile_aliases_store', [
      {
        absorbed_profile_id: 'p5',
        surviving_profile_id: 'p4',
        merged_at: dateTime64Text(asOf + DAY),
        message_id: 'merge-1',
        version: 1,
      },
    ]);
    const third = await writeRfmSnapshot(ch, asOf + 2 * DAY);
    const staged = (await changes(third.version)).flat();
    expect(staged).toEqual(expect.arrayContaining(['p1', 'p2', 'p4', 'p5', 'p6']));
    const rows = await ch.query<{ profile_id: string; v: string; row: string }>(
      `SELECT profile_id, toString(version) AS v, toString(tuple(last_purchase_at, frequency, monetary_cents, r_score, f_score, m_score, label)) AS row
       FROM rfm_snapshot_rows_store WHERE version IN ({a:UInt64}, {b:UInt64})`,
      { a: second.version, b: third.version },
    );
    const rowOf = (id: string, version: number): string | undefined =>
      rows.find((r) => r.profile_id === id && r.v === String(version))?.row;
    const scoresOfP1 = (version: number): Promise<unknown[]> =>
      ch.query(
        "SELECT r_score, f_score, m_score FROM rfm_snapshot_rows_store WHERE profile_id = 'p1' AND version = {v:UInt64}",
        { v: version },
      );
    expect(await scoresOfP1(second.version)).toEqual([{ r_score: 5, f_score: 1, m_score: 2 }]);
    expect(await scoresOfP1(third.version)).toEqual([{ r_score: 3, f_score: 1, m_score: 1 }]);
    // Staged exactly when the rows differ (p3's r_score moved too; nobody else is left out or in).
    for (const id of ['p1', 'p2', 'p3', 'p4', 'p5', 'p6']) {
      expect(`${id} ${staged.includes(id) ? 'staged' : 'not staged'}`).toBe(
        `${id} ${rowOf(id, second.version) === rowOf(id, third.version) ? 'not staged' : 'staged'}`,
      );
    }
    // Pages are in profile id order and bounded.
    expect(await changes(third.version, 2)).toEqual(chunk([...staged].sort(), 2));
  });

  it('the snapshotter hands the changes over page by page, and a page that failed again after the next snapshot', async () => {
    const now = Date.now();
    await orders(['p1', now - DAY, 'o1', 10], ['p2', now - 2 * DAY, 'o2', 20], ['p3', now - 3 * DAY, 'o3', 30]);
    const calls: string[][] = [];
    let failures = 1;
    const snapshotter = createRfmSnapshotter({
      clickhouse: () => ch,
      logger: quietLogger,
      intervalMs: 3_600_000,
      minIntervalMs: 1,
      changesPageSize: 2,
      onProfilesChanged: async (ids) => {
        calls.push([...ids]);
        if (ids.length > 0 && failures-- > 0) throw new Error('broker down');
      },
    });
    try {
      await snapshotter.start(); // first snapshot: all three are new; the first page fails
      await waitFor(() => expect(calls).toEqual([['p1', 'p2']]));
      snapshotter.request(); // nothing changed since, but the failed page and the rest go now
      await waitFor(() => expect(calls).toEqual([['p1', 'p2'], ['p1', 'p2'], ['p3']]));
      await waitFor(() => expect(snapshotter.snapshots()).toBe(2));
      snapshotter.request(); // nothing at all: called with none, so the callee's own backlog can go
      await waitFor(() => expect(calls).toEqual([['p1', 'p2'], ['p1', 'p2'], ['p3'], []]));
    } finally {
      await snapshotter.stop();
    }
  });

  it("a snapshot whose process was killed before handing its changes over is handed over by the next process's first", async () => {
    const now = Date.now();
    await orders(['p1', now - DAY, 'o1', 10], ['p2', now - 2 * DAY, 'o2', 20], ['p3', now - 3 * DAY, 'o3', 30]);
    // The killed process: its snapshot is complete (and the rfm view reads it), its changes staged, none published.
    const orphan = await writeRfmSnapshot(ch, now - 60_000);
    expect(orphan).toMatchObject({ purchasers: 3, changed: 3 });
    // Found by the chaos soak: the next snapshot staged nothing (nothing changed since), so
    // p1–p3 kept their RFM-less ProfileUpdates for good.
    const handedOver = async (): Promise<string[][]> => {
      const calls: string[][] = [];
      const snapshotter = createRfmSnapshotter({
        clickhouse: () => ch,
        logger: quietLogger,
        intervalMs: 3_600_000,
        minIntervalMs: 1,
        onProfilesChanged: async (ids) => void calls.push([...ids]),
      });
      try {
        await snapshotter.start();
        await waitFor(() => expect(snapshotter.snapshots()).toBe(1));
        await waitFor(() => expect(calls.length).toBeGreaterThan(0));
        await snapshotter.stop();
        return calls;
      } finally {
        await snapshotter.stop();
      }
    };
    expect(await handedOver()).toEqual([['p1', 'p2', 'p3']]);
    // Handed over and marked: the process after that has nothing left over.
    expect(await handedOver()).toEqual([[]]);
  });
});

function chunk<T>(items: readonly T[], size: number): T[][] {
  const out: T[][] = [];
  for (let i = 0; i < items.length; i += size) out.push(items.slice(i, i + size));
  return out;
}
