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
import { createSegment } from '../../../services/profile-materializer/segments/segment.repository';
import { defaultSegmentLimits } from '../../../services/profile-materializer/segments/validate-segment-sql';
import { eventWith, schema, type ProfileUpdate, type StitchedEvent } from '../../../schemas';
import { testKafka } from '../../support/kafka';
import { testStack, uniqueName } from '../../support/stack-env';
import { waitFor } from '../../support/wait-for';
import { embeddedHome, freshDatabase, materializerEnv } from './materializer-test-env';

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
