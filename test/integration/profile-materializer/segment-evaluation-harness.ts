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
import { createSegment } from '../../../services/profile-materializer/segments/segment.repository';
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
import { embeddedHome, freshDatabase, materializerEnv, quietLogger } from './materializer-test-env';

/** What the segment evaluation tests drive: chDB, real Kafka and the registry, a controlled clock. */
export const HOUR = 3_600_000;
export const DAY = 24 * HOUR;
export const T0 = Date.UTC(2026, 10, 23, 12, 0, 0); // Monday 23 November 2026, 12:00 UTC
export const home = embeddedHome('segment-evaluation');

export interface Harness {
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

export async function harness(): Promise<Harness> {
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

export async function touched(evaluation: SegmentEvaluation, ...ids: string[]): Promise<void> {
  evaluation.evaluateTouched(ids);
  await evaluation.idle();
}

export async function members(ch: ClickHouse, segmentId: string): Promise<string[]> {
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
export async function runningMaterializer(h: Harness, prefix: string, env: Record<string, string>) {
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
