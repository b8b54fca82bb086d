import type { ClickHouse } from '../../../services/common/clickhouse/client-factory';
import { Registry } from '../../../services/common/metrics';
import type { KafkaClient } from '../../../services/common/kafka/client';
import { AvroCodec } from '../../../services/common/registry/avro-codec';
import { SchemaRegistryClient } from '../../../services/common/registry/schema-registry.client';
import { parseRates } from '../../../services/profile-materializer/rfm/money';
import { writeRfmSettings } from '../../../services/profile-materializer/rfm/rfm.repository';
import {
  createSegmentEvaluation,
  type SegmentEvaluation,
  type SegmentEvaluationDeps,
} from '../../../services/profile-materializer/segments/evaluation/segment-evaluation.component';
import { dateTime64Text } from '../../../services/common/clickhouse/datetime64';
import { createSegment, deleteSegment } from '../../../services/profile-materializer/segments/segment.repository';
import { defaultSegmentLimits } from '../../../services/profile-materializer/segments/validate-segment-sql';
import { eventWith, schema, type SegmentChange, type StitchedEvent } from '../../../schemas';
import { createServiceBase } from '../../../services/common/service-base';
import { loadMaterializerConfig } from '../../../services/profile-materializer/config';
import {
  createMaterializerService,
  materializerTopics,
} from '../../../services/profile-materializer/materializer.service';
import { testKafka } from '../../support/kafka';
import { testStack, uniqueName } from '../../support/stack-env';
import { waitFor } from '../../support/wait-for';
import { embeddedHome, freshDatabase, materializerEnv, quietLogger } from './materializer-test-env';

/**
 * Segment evaluation on real Kafka (transactions, read_committed), the real registry and chDB,
 * with a controlled clock. Profile state is written straight into the store tables (what the
 * materializer writes), the evaluator is driven as the materializer drives it — evaluateTouched
 * after a batch, sweep on the timer — and the changes topic is read back through the registry
 * to its end, so the assertions are the exact sequences of SegmentChange records.
 */
jest.setTimeout(180_000);

const HOUR = 3_600_000;
const DAY = 24 * HOUR;
const T0 = Date.UTC(2026, 10, 23, 12, 0, 0); // Monday 23 November 2026, 12:00 UTC
const home = embeddedHome('segment-evaluation');

interface Harness {
  readonly ch: ClickHouse;
  readonly kafka: KafkaClient;
  readonly topic: string;
  readonly transactionalId: string;
  clock: number;
  start(extra?: Partial<SegmentEvaluationDeps>): Promise<SegmentEvaluation>;
  segment(name: string, definition: Record<string, unknown>): Promise<string>;
  profile(id: string, traits: Record<string, unknown>, consent?: Record<string, boolean>): Promise<void>;
  event(profileId: string, at: number, fields: Record<string, unknown>): Promise<void>;
  merge(absorbed: string, survivor: string): Promise<void>;
  /**
   * Every committed change on the topic, read to its end, as `segment profile change evaluation`:
   * by profile, then segment name, each (segment, profile) in offset order — the order that is
   * guaranteed (one partition per profile); segments of one evaluation have no defined order.
   */
  changes(): Promise<string[]>;
  close(): Promise<void>;
}

let sequence = 0;

async function harness(): Promise<Harness> {
  const kafka = testKafka();
  const ch = await freshDatabase(home);
  await writeRfmSettings(ch, {
    purchaseEvents: ['Order Completed'],
    refundEvents: ['Order Refunded'],
    windowDays: 365,
    rates: parseRates('', 'USD'),
    reportingCurrency: 'USD',
  });
  const topic = uniqueName('segment-changes');
  const transactionalId = uniqueName('segment-evaluator');
  const registry = new SchemaRegistryClient({ url: testStack().registryUrl });
  let codec: AvroCodec | undefined;
  const names = new Map<string, string>();
  const running: SegmentEvaluation[] = [];
  const versions = new Map<string, number>();
  const h: Harness = {
    ch,
    kafka,
    topic,
    transactionalId,
    clock: T0,
    async start(extra = {}) {
      const evaluation = createSegmentEvaluation({
        kafka,
        clickhouse: () => ch,
        registry: { url: testStack().registryUrl },
        settings: { topic, transactionalId, sweepIntervalMs: 0, maxProfilesPerRun: 1_000, sweepPageSize: 2 },
        logger: quietLogger,
        metrics: new Registry(),
        now: () => h.clock,
        ...extra,
      });
      running.push(evaluation);
      await evaluation.start();
      return evaluation;
    },
    async segment(name, definition) {
      const segment = await createSegment(
        ch,
        { name, ...definition },
        { limits: defaultSegmentLimits, now: () => h.clock },
      );
      names.set(segment.id, name);
      return segment.id;
    },
    async profile(id, traits, consent = {}) {
      const version = (versions.get(id) ?? 0) + 1;
      versions.set(id, version);
      await ch.insert('profiles_store', [
        {
          profile_id: id,
          traits: JSON.stringify(traits),
          first_seen: dateTime64Text(T0 - 30 * DAY),
          last_seen: dateTime64Text(h.clock),
          consent,
          channels: [],
          identifiers: [],
          version,
        },
      ]);
    },
    async event(profileId, at, fields) {
      sequence += 1;
      const time = dateTime64Text(at);
      await ch.insert('events_store', [
        {
          message_id: `m${sequence}`,
          profile_id: profileId,
          type: 'track',
          event: '',
          timestamp: time,
          received_at: time,
          channel: 'web',
          version: sequence,
          ...fields,
        },
      ]);
    },
    async merge(absorbed, survivor) {
      sequence += 1;
      await ch.insert('profile_aliases_store', [
        {
          absorbed_profile_id: absorbed,
          surviving_profile_id: survivor,
          merged_at: dateTime64Text(h.clock),
          message_id: `merge-${sequence}`,
          version: sequence,
        },
      ]);
    },
    async changes() {
      codec ??= new AvroCodec(
        registry,
        await registry.registerAll([
          { name: topic, partitions: 6, cleanup: 'delete', key: 'profile id', valueSchema: 'SegmentChange' },
        ]),
      );
      const read: Array<{ key: string; line: string }> = [];
      const raw: Array<{ partition: number; offset: bigint; value: Buffer }> = [];
      await kafka.readToEnd({
        topic,
        groupIdPrefix: uniqueName('read-back'),
        onBatch: (messages) =>
          void raw.push(
            ...messages.map((m) => ({ partition: m.partition, offset: BigInt(m.offset), value: m.value! })),
          ),
      });
      raw.sort((a, b) => a.partition - b.partition || (a.offset < b.offset ? -1 : 1));
      for (const { value } of raw) {
        const { value: change } = await codec.decode<SegmentChange>(value, schema('SegmentChange').type);
        expect(names.get(change.segmentId) ?? change.segmentId).toBe(change.segmentName);
        read.push({
          key: `${change.profileId}\u0000${change.segmentName}`,
          line: `${change.segmentName} ${change.profileId} ${change.change} ${change.evaluation}`,
        });
      }
      // Stable sort: a profile's changes share a partition, so their offset order is kept.
      return read.sort((a, b) => (a.key < b.key ? -1 : a.key > b.key ? 1 : 0)).map((r) => r.line);
    },
    async close() {
      for (const evaluation of running) await evaluation.stop();
      await ch.close();
    },
  };
  return h;
}

async function touched(evaluation: SegmentEvaluation, ...ids: string[]): Promise<void> {
  evaluation.evaluateTouched(ids);
  await evaluation.idle();
}

async function members(ch: ClickHouse, segmentId: string): Promise<string[]> {
  const rows = await ch.query<{ profile_id: string }>(
    'SELECT profile_id FROM segment_members WHERE segment_id = {id:String} ORDER BY profile_id',
    { id: segmentId },
  );
  return rows.map((r) => r.profile_id);
}

/**
 * The profile-materializer in process on the harness's database and changes topic (start it once
 * the segments exist), and a producer of its input: `send(person, fields)` puts one track event
 * of `prof-<person>` (fields override) on its stitched-events topic.
 */
async function runningMaterializer(h: Harness, prefix: string, env: Record<string, string>) {
  const config = loadMaterializerConfig({
    ...(await materializerEnv(h.kafka, home, h.ch, prefix)),
    SEGMENT_CHANGES_TOPIC: h.topic,
    ...env,
  });
  const { service } = createMaterializerService(config, createServiceBase('profile-materializer', config));
  const registry = new SchemaRegistryClient({ url: testStack().registryUrl });
  const codec = new AvroCodec(registry, await registry.registerAll(materializerTopics(config)));
  const producer = h.kafka.producer();
  await producer.connect();
  return {
    service,
    async send(person: string, fields: Partial<Parameters<typeof eventWith>[0]>): Promise<void> {
      sequence += 1;
      const at = Date.now();
      const record: StitchedEvent = {
        profileId: `prof-${person}`,
        identifiers: [{ type: 'user_id', value: person }],
        stitchedAt: at,
        event: eventWith({
          messageId: uniqueName(`e2e-${sequence}`),
          type: 'track',
          userId: person,
          timestamp: at,
          channel: 'web',
          source: 'test',
          ...fields,
        }),
      };
      await producer.send(config.MATERIALIZER_STITCHED_TOPIC, [
        { key: record.profileId, value: codec.encode(config.MATERIALIZER_STITCHED_TOPIC, record) },
      ]);
    },
    metrics: async (): Promise<string> => (await fetch(`http://127.0.0.1:${config.HTTP_PORT}/metrics`)).text(),
    async close(): Promise<void> {
      await producer.disconnect();
      await service.stop();
    },
  };
}

describe('segment evaluation', () => {
  it('every rule kind enters and exits at the right time: incremental after events, the sweep as time passes', async () => {
    const h = await harness();
    try {
      const vip = await h.segment('vip', { rule: { trait: 'plan', op: 'eq', value: 'pro' } });
      const freeSql = await h.segment('free-sql', {
        sql: "SELECT profile_id FROM profiles WHERE JSONExtractString(traits, 'plan') = 'free'",
      });
      await h.segment('twice-in-14-days', {
        rule: { performed: { event: 'Order Completed' }, within: { days: 14 }, count: { op: 'gte', value: 2 } },
      });
      await h.segment('cart-abandoned', {
        rule: {
          performed: { event: 'Product Added' },
          notFollowedBy: { event: 'Order Completed' },
          within: { days: 1 },
          lookback: { days: 7 },
        },
      });
      await h.segment('repurchase-day-4', {
        rule: { lastPerformed: { event: 'Order Completed' }, op: 'eq', value: { days: 4 } },
      });
      const webAndStore = await h.segment('web-and-store', { rule: { channels: ['web', 'store'], match: 'all' } });
      const birthday = await h.segment('birthday-month', {
        rule: { trait: 'birthday', part: 'month', op: 'eq', value: 'now' },
      });
      const rfmRepeat = await h.segment('rfm-repeat', { rule: { rfm: 'frequency', op: 'gte', value: 2 } });
      await h.segment('vip-browsers', { rule: { and: [{ inSegment: vip }, { performed: { type: 'page' } }] } });
      const marketable = await h.segment('marketable', { rule: { consent: 'marketing' } });
      const evaluation = await h.start();

      // T0: ann (pro, birthday in December, marketing consent) views a page and adds to cart; bob (free) buys on the web.
      await h.profile('ann', { plan: 'pro', birthday: '1990-12-05' }, { marketing: true });
      await h.event('ann', T0 - HOUR, { type: 'page', name: 'Home' });
      await h.event('ann', T0, { event: 'Product Added' });
      await h.profile('bob', { plan: 'free' });
      await h.event('bob', T0, { event: 'Order Completed', order_id: 'o1', revenue: 10, currency: 'USD' });
      await touched(evaluation, 'ann', 'bob');
      // T0 + 2 h: bob buys again, in the store.
      h.clock = T0 + 2 * HOUR;
      await h.event('bob', h.clock, {
        event: 'Order Completed',
        order_id: 'o2',
        revenue: 20,
        currency: 'USD',
        channel: 'store',
      });
      await touched(evaluation, 'bob');
      // Nothing time-relative has happened yet.
      expect((await evaluation.sweep()).changes).toBe(0);
      // T0 + 1 d + 1 h: ann's cart has waited a day.
      h.clock = T0 + DAY + HOUR;
      await evaluation.sweep();
      // T0 + 4 d + 3 h: bob's last purchase was 4 days ago (day 4); T0 + 5 d + 3 h: day 5.
      h.clock = T0 + 4 * DAY + 3 * HOUR;
      await evaluation.sweep();
      h.clock = T0 + 5 * DAY + 3 * HOUR;
      await evaluation.sweep();
      // 1 December: ann's birthday month begins; her cart is past the 7-day lookback.
      h.clock = Date.UTC(2026, 11, 1, 13, 0, 0);
      await evaluation.sweep();
      // T0 + 15 d: bob's two orders are no longer within 14 days (RFM counts a year: he stays).
      h.clock = T0 + 15 * DAY;
      await evaluation.sweep();
      // ann downgrades: she leaves vip (and vip-browsers, which reads it) and enters free-sql.
      await h.profile('ann', { plan: 'free', birthday: '1990-12-05' }, { marketing: true });
      await touched(evaluation, 'ann');
      // A sweep with nothing new publishes nothing.
      expect((await evaluation.sweep()).changes).toBe(0);

      expect(await h.changes()).toEqual([
        'birthday-month ann entered scheduled',
        'cart-abandoned ann entered scheduled',
        'cart-abandoned ann exited scheduled',
        'free-sql ann entered incremental',
        'marketable ann entered incremental',
        'vip ann entered incremental',
        'vip ann exited incremental',
        'vip-browsers ann entered incremental',
        'vip-browsers ann exited incremental',
        'free-sql bob entered incremental',
        'repurchase-day-4 bob entered scheduled',
        'repurchase-day-4 bob exited scheduled',
        'rfm-repeat bob entered incremental',
        'twice-in-14-days bob entered incremental',
        'twice-in-14-days bob exited scheduled',
        'web-and-store bob entered incremental',
      ]);
      expect(await members(h.ch, vip)).toEqual([]);
      const current = await evaluation.currentSegments(['ann', 'bob', 'nobody']);
      expect(current.get('ann')).toEqual([freeSql, birthday, marketable].sort());
      expect(current.get('bob')).toEqual([freeSql, webAndStore, rfmRepeat].sort());
      expect(current.get('nobody')).toEqual([]);
    } finally {
      await h.close();
    }
  });

  it('a segment with a purpose never has members without that consent, and revoking it makes the profile exit', async () => {
    const h = await harness();
    try {
      const pro = await h.segment('pro-marketing', {
        rule: { trait: 'plan', op: 'eq', value: 'pro' },
        purpose: 'marketing',
      });
      const proSql = await h.segment('pro-marketing-sql', {
        sql: "SELECT profile_id FROM profiles WHERE JSONExtractString(traits, 'plan') = 'pro'",
        purpose: 'marketing',
      });
      const evaluation = await h.start();
      await h.profile('cy', { plan: 'pro' }, { marketing: true });
      await h.profile('dan', { plan: 'pro' }); // no consent recorded
      await h.profile('eve', { plan: 'pro' }, { marketing: false });
      await touched(evaluation, 'cy', 'dan', 'eve');
      await evaluation.sweep();
      expect(await members(h.ch, pro)).toEqual(['cy']);
      expect(await members(h.ch, proSql)).toEqual(['cy']);

      h.clock = T0 + HOUR;
      await h.profile('cy', { plan: 'pro' }, { marketing: false });
      await touched(evaluation, 'cy');
      expect(await members(h.ch, pro)).toEqual([]);
      expect(await h.changes()).toEqual([
        'pro-marketing cy entered incremental',
        'pro-marketing cy exited incremental',
        'pro-marketing-sql cy entered incremental',
        'pro-marketing-sql cy exited incremental',
      ]);
    } finally {
      await h.close();
    }
  });

  it('a merge moves membership to the survivor: the absorbed id exits, the survivor never exits and re-enters', async () => {
    const h = await harness();
    try {
      const vip = await h.segment('vip', { rule: { trait: 'plan', op: 'eq', value: 'pro' } });
      const buyers = await h.segment('buyers', { rule: { performed: { event: 'Order Completed' } } });
      const republished: string[][] = [];
      const evaluation = await h.start({ onMembershipChanged: async (ids) => void republished.push([...ids]) });
      // sam (survivor) and abe are both vip; only abe bought.
      await h.profile('sam', { plan: 'pro' });
      await h.profile('abe', { plan: 'pro' });
      await h.event('abe', T0, { event: 'Order Completed', order_id: 'o1', revenue: 5, currency: 'USD' });
      await touched(evaluation, 'sam', 'abe');
      // abe is merged into sam: the materializer writes the alias and sam's merged snapshot, and touches sam.
      h.clock = T0 + HOUR;
      await h.merge('abe', 'sam');
      await h.profile('sam', { plan: 'pro' });
      await touched(evaluation, 'sam');
      await evaluation.sweep(); // and a sweep finds nothing more
      expect(await members(h.ch, vip)).toEqual(['sam']);
      expect(await members(h.ch, buyers)).toEqual(['sam']);
      expect(await h.changes()).toEqual([
        'buyers abe entered incremental',
        'buyers abe exited incremental',
        'vip abe entered incremental',
        'vip abe exited incremental',
        'buyers sam entered incremental',
        'vip sam entered incremental',
      ]);
      // Profiles whose membership changed are handed on for a fresh ProfileUpdate, with their current segments.
      expect(republished).toEqual([
        ['abe', 'sam'],
        ['abe', 'sam'],
      ]);
      expect((await evaluation.currentSegments(['sam'])).get('sam')).toEqual([buyers, vip].sort());
    } finally {
      await h.close();
    }
  });

  it('a deleted segment: its members exit at the next sweep, and nothing more follows', async () => {
    const h = await harness();
    try {
      const vip = await h.segment('vip', { rule: { trait: 'plan', op: 'eq', value: 'pro' } });
      await h.profile('fay', { plan: 'pro' });
      await h.profile('gus', { plan: 'pro' });
      const evaluation = await h.start();
      await evaluation.sweep();
      h.clock = T0 + HOUR;
      await deleteSegment(h.ch, vip, { now: () => h.clock });
      expect(await evaluation.sweep()).toEqual({ segments: 1, changes: 2 });
      expect(await evaluation.sweep()).toEqual({ segments: 0, changes: 0 });
      await touched(evaluation, 'fay');
      expect(await h.changes()).toEqual([
        'vip fay entered scheduled',
        'vip fay exited scheduled',
        'vip gus entered scheduled',
        'vip gus exited scheduled',
      ]);
    } finally {
      await h.close();
    }
  });

  describe('a restart in the middle of an evaluation publishes every change exactly once', () => {
    const crash = (): { hook: () => Promise<void>; release: () => void; reached: Promise<void> } => {
      let reach: () => void = () => undefined;
      const reached = new Promise<void>((resolve) => (reach = resolve));
      let fail: (error: Error) => void = () => undefined;
      let calls = 0;
      return {
        reached,
        release: () => fail(new Error('the process died here')),
        // The second publish (second page of the sweep) freezes at the hook until released, as a dead process would.
        hook: () => {
          calls += 1;
          if (calls !== 2) return Promise.resolve();
          reach();
          return new Promise<void>((_, reject) => (fail = reject));
        },
      };
    };

    it.each([
      ['after the changes were sent, before the transaction committed', 'afterSend'],
      ['after the transaction committed, before segment_members was written', 'afterCommit'],
    ] as const)('%s', async (_name, moment) => {
      const h = await harness();
      try {
        const vip = await h.segment('vip', { rule: { trait: 'plan', op: 'eq', value: 'pro' } });
        const people = ['p1', 'p2', 'p3', 'p4', 'p5'];
        for (const id of people) await h.profile(id, { plan: 'pro' });
        const fault = crash();
        const first = await h.start({ faults: { [moment]: fault.hook } });
        const sweep = first.sweep().catch(() => undefined);
        await fault.reached; // page 1 (p1, p2) is published and applied; page 2 (p3, p4) is frozen

        // A new instance with the same transactional id: it fences the first, settles its
        // transaction, recovers, and evaluates.
        const second = await h.start();
        const stopping = first.stop();
        fault.release();
        await stopping;
        await sweep;
        await second.sweep();
        expect(await members(h.ch, vip)).toEqual(people);

        // And the exit that follows is not missed.
        h.clock = T0 + HOUR;
        await h.profile('p3', { plan: 'free' });
        await touched(second, 'p3');
        expect(await h.changes()).toEqual([
          ...people.flatMap((id) => [
            `vip ${id} entered scheduled`,
            ...(id === 'p3' ? ['vip p3 exited incremental'] : []),
          ]),
        ]);
        expect(await members(h.ch, vip)).toEqual(['p1', 'p2', 'p4', 'p5']);
      } finally {
        await h.close();
      }
    });
  });

  it('through the running materializer: a qualifying event enters within seconds, a consent revoke exits', async () => {
    const h = await harness();
    const m = await runningMaterializer(h, 'segeval', { SEGMENT_SWEEP_INTERVAL_MS: '3600000' });
    try {
      const segmentId = await h.segment('pro-marketing', {
        rule: { trait: 'plan', op: 'eq', value: 'pro' },
        purpose: 'marketing',
      });
      await m.service.start();
      const send = (consent: Record<string, boolean>): Promise<void> =>
        m.send('ann', { type: 'identify', traits: JSON.stringify({ plan: 'pro' }), consent });
      const waitForChanges = (expected: string[]): Promise<void> =>
        waitFor(async () => expect(await h.changes()).toEqual(expected), { timeoutMs: 30_000, intervalMs: 200 });

      await send({ marketing: true });
      await waitForChanges(['pro-marketing prof-ann entered incremental']);
      const metrics = await m.metrics();
      expect(metrics).toMatch(
        /^kumiki_segment_changes_total\{[^}]*change="entered"[^}]*evaluation="incremental"[^}]*\} 1$/m,
      );
      expect(metrics).toMatch(new RegExp(`^kumiki_segment_members\\{[^}]*segment_id="${segmentId}"[^}]*\\} 1$`, 'm'));
      expect(metrics).toMatch(/^kumiki_segment_freshness_lag_seconds\{[^}]*\} 0$/m);
      expect(metrics).toMatch(/^kumiki_segment_evaluation_seconds_count\{[^}]*evaluation="incremental"[^}]*\} [1-9]/m);
      await send({ marketing: false });
      await waitForChanges(['pro-marketing prof-ann entered incremental', 'pro-marketing prof-ann exited incremental']);
    } finally {
      await m.close();
      await h.close();
    }
  });

  it('segments over RFM move after the snapshot, for profiles whose scores other purchases moved, with the sweep off', async () => {
    const h = await harness();
    const m = await runningMaterializer(h, 'segrfm', { SEGMENT_SWEEP_INTERVAL_MS: '0' });
    try {
      // m_score = 1 + floor(5 × purchasers with less money / purchasers): ann (150) alone scores
      // 1; after bob (50), 3; after cy (10), 4. Only ann ever qualifies, and only once cy bought:
      // an event of someone else, found by the snapshot that follows it.
      await h.segment('sql-top-spenders', { sql: 'SELECT profile_id FROM rfm WHERE m_score >= 4' });
      await h.segment('rule-top-spenders', { rule: { rfm: 'm_score', op: 'gte', value: 4 } });
      await m.service.start();
      for (const [person, revenue] of [
        ['ann', 150],
        ['bob', 50],
        ['cy', 10],
      ] as const) {
        await m.send(person, {
          event: 'Order Completed',
          properties: JSON.stringify({ order_id: `o-${person}`, revenue, currency: 'USD' }),
        });
        // One purchase per snapshot, so ann's own order is long evaluated when cy's arrives.
        await waitFor(
          async () =>
            expect(
              await h.ch.query('SELECT m_score FROM rfm WHERE profile_id = {id:String}', { id: `prof-${person}` }),
            ).toHaveLength(1),
          { timeoutMs: 30_000, intervalMs: 100 },
        );
      }
      await waitFor(
        async () =>
          expect(await h.changes()).toEqual([
            'rule-top-spenders prof-ann entered incremental',
            'sql-top-spenders prof-ann entered incremental',
          ]),
        { timeoutMs: 30_000, intervalMs: 200 },
      );
      expect(await m.metrics()).toMatch(/^kumiki_segment_derived_profiles_total\{[^}]*source="rfm"[^}]*\} [3-9]$/m);
    } finally {
      await m.close();
      await h.close();
    }
  });
});
