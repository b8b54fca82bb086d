/**
 * Order-to-SegmentChange latency at a steady load, through the running profile-materializer
 * (in process, default settings, embedded chDB) on real Kafka and the real registry.
 *
 *   npm run bench -- segment-latency
 *   npm run build && node dist/bench/segment-latency.js [ordersPerSecond=200] [seconds=60]
 *
 * Every event is a new profile's first `Order Completed` (150 USD), produced onto the
 * stitched-events topic at a steady rate. Two segments, each entered by every profile:
 * - a rule segment, `{ "performed": { "event": "Order Completed" } }`: it reads the events, so
 *   the incremental evaluation after the batch moves it (target p95 ≤ 2 s);
 * - an SQL segment, `SELECT profile_id FROM rfm WHERE monetary >= 100`: `rfm` is the RFM
 *   snapshot, so it can only move after the next snapshot holds the order, when the snapshot
 *   announces the profiles whose RFM changed (target p95 ≤ 10 s).
 * Latency = when a read_committed consumer of the changes topic received the profile's `entered`
 * minus when its order was handed to the producer. Reported per segment: p50, p95, p99, max, how
 * many entered through which evaluation (incremental or the sweep), the snapshots written, and
 * the load average of the machine, which other work may share.
 * MATERIALIZER_*, RFM_SNAPSHOT_* and SEGMENT_* settings from the environment are passed on.
 */
import { randomBytes } from 'node:crypto';
import fs from 'node:fs';
import os from 'node:os';
import pino from 'pino';
import { createKafkaClient } from '../services/common/kafka/client';
import { AvroCodec } from '../services/common/registry/avro-codec';
import { SchemaRegistryClient } from '../services/common/registry/schema-registry.client';
import { createServiceBase } from '../services/common/service-base';
import { loadMaterializerConfig } from '../services/profile-materializer/config';
import { createMaterializerService, materializerTopics } from '../services/profile-materializer/materializer.service';
import { createSegment } from '../services/profile-materializer/segments/segment.repository';
import { defaultSegmentLimits } from '../services/profile-materializer/segments/validate-segment-sql';
import { eventWith, schema, type SegmentChange, type StitchedEvent } from '../schemas';
import { line, percentile } from './support/measure';
import { benchClickHouse } from './support/bench-clickhouse';

const [rate = 200, seconds = 60] = process.argv.slice(2).map(Number);
const logger = pino({ level: 'warn' });
const brokers = (process.env.KAFKA_BROKERS ?? '127.0.0.1:9092').split(',');
const registryUrl = process.env.SCHEMA_REGISTRY_URL ?? 'http://127.0.0.1:8081/apis/ccompat/v7';
const passedOn = /^(MATERIALIZER_|RFM_SNAPSHOT_|SEGMENT_)/;

/** Entered changes of one segment: latency per profile and how many came from each evaluation. */
class Arrivals {
  readonly latencies: number[] = [];
  readonly byEvaluation = new Map<string, number>();

  /** Per entered change: when the order was sent, and the change's evaluation time (`at`). */
  readonly times: Array<{ sent: number; at: number }> = [];

  add(latencyMs: number, evaluation: string, times: { sent: number; at: number }): void {
    this.latencies.push(latencyMs);
    this.times.push(times);
    this.byEvaluation.set(evaluation, (this.byEvaluation.get(evaluation) ?? 0) + 1);
  }

  report(name: string, total: number): void {
    const sorted = [...this.latencies].sort((a, b) => a - b);
    const kinds = [...this.byEvaluation].map(([kind, n]) => `${n} ${kind}`).join(', ');
    line(`${name}: entered`, `${sorted.length}/${total} (${kinds || 'none'})`);
    line(
      `${name}: order → SegmentChange`,
      `p50 ${percentile(sorted, 50)} ms, p95 ${percentile(sorted, 95)} ms, p99 ${percentile(sorted, 99)} ms, max ${sorted.at(-1)} ms`,
    );
  }
}

async function main(): Promise<void> {
  const run = `bench-seglat-${Date.now().toString(36)}`;
  const { ch, home } = await benchClickHouse('seglat', logger);
  const rule = await createSegment(
    ch,
    { name: 'bought', rule: { performed: { event: 'Order Completed' } } },
    { limits: defaultSegmentLimits },
  );
  const sql = await createSegment(
    ch,
    { name: 'rfm 100+', sql: 'SELECT profile_id FROM rfm WHERE monetary >= 100' },
    { limits: defaultSegmentLimits },
  );
  const config = loadMaterializerConfig({
    KAFKA_BROKERS: brokers.join(','),
    SCHEMA_REGISTRY_URL: registryUrl,
    LOG_LEVEL: 'warn',
    KUMIKI_HOME: home,
    CLICKHOUSE_DATABASE: 'bench',
    KUMIKI_ADMIN_TOKEN: 'bench-admin-token-0123456789',
    KUMIKI_PRIVACY_KEY: randomBytes(32).toString('hex'),
    PRIVACY_REQUESTS_TOPIC: `${run}.privacy`,
    HTTP_PORT: '0',
    MATERIALIZER_STITCHED_TOPIC: `${run}.stitched`,
    MATERIALIZER_CHANGES_TOPIC: `${run}.identity`,
    MATERIALIZER_UPDATES_TOPIC: `${run}.updates`,
    MATERIALIZER_DLQ_TOPIC: `${run}.dlq`,
    MATERIALIZER_GROUP_ID: run,
    SEGMENT_CHANGES_TOPIC: `${run}.segments`,
    // Tuning can be tried from the environment, e.g. RFM_SNAPSHOT_MIN_INTERVAL_MS=3000.
    ...Object.fromEntries(Object.entries(process.env).filter(([name]) => passedOn.test(name))),
  });
  const base = createServiceBase('profile-materializer', config);
  const { service } = createMaterializerService(config, base);
  await service.start();
  const kafka = createKafkaClient({ brokers, clientId: run, logger });
  const registry = new SchemaRegistryClient({ url: registryUrl });
  const codec = new AvroCodec(
    registry,
    await registry.registerAll([
      ...materializerTopics(config),
      {
        name: config.SEGMENT_CHANGES_TOPIC,
        partitions: 6,
        cleanup: 'delete',
        key: 'profile id',
        valueSchema: 'SegmentChange',
      },
    ]),
  );
  const producer = kafka.producer();
  await producer.connect();
  const sentAt = new Map<string, number>();
  const arrivals = new Map([
    [rule.id, new Arrivals()],
    [sql.id, new Arrivals()],
  ]);
  const consumer = kafka.consumer({
    groupId: `${run}-reader`,
    topics: [config.SEGMENT_CHANGES_TOPIC],
    fromBeginning: true,
    maxWaitTimeInMs: 20,
    minBytes: 1,
  });
  await consumer.connect();
  void consumer.run(async (batch, context) => {
    const received = Date.now();
    for (const message of batch.messages) {
      const { value } = await codec.decode<SegmentChange>(message.value!, schema('SegmentChange').type);
      const sent = sentAt.get(value.profileId);
      if (value.change === 'entered' && sent !== undefined)
        arrivals.get(value.segmentId)?.add(received - sent, value.evaluation, { sent, at: value.at });
    }
    const last = batch.messages.at(-1);
    if (last) context.resolveOffset(last.offset);
  });

  const loadBefore = os.loadavg();
  const cpuAtStart = process.cpuUsage();
  const total = rate * seconds;
  const started = Date.now();
  // Every order falling due by now goes in one send: one send per order piled up kafkajs' lock
  // queue (thousands waiting) when the machine was busy, and sends failed.
  let sendFailures = 0;
  for (let i = 0; i < total; ) {
    const wait = started + (i * 1000) / rate - Date.now();
    if (wait > 0) await new Promise((resolve) => setTimeout(resolve, wait));
    const at = Date.now();
    const messages: Array<{ key: string; value: Buffer }> = [];
    for (; i < total && started + (i * 1000) / rate <= at; i++) {
      const profileId = `${run}-p${i}`;
      const record: StitchedEvent = {
        profileId,
        identifiers: [{ type: 'user_id', value: profileId }],
        stitchedAt: at,
        event: eventWith({
          messageId: `${profileId}-m`,
          type: 'track',
          event: 'Order Completed',
          userId: profileId,
          timestamp: at,
          channel: 'web',
          source: 'bench',
          properties: JSON.stringify({ order_id: `${profileId}-o`, revenue: 150, currency: 'USD' }),
        }),
      };
      sentAt.set(profileId, at);
      messages.push({ key: profileId, value: codec.encode(config.MATERIALIZER_STITCHED_TOPIC, record) });
    }
    producer.send(config.MATERIALIZER_STITCHED_TOPIC, messages).catch(() => (sendFailures += messages.length));
  }
  const sendSeconds = (Date.now() - started) / 1000;
  const loadDuring = os.loadavg();
  const complete = (): boolean => [...arrivals.values()].every((a) => a.latencies.length >= total - sendFailures);
  const deadline = Date.now() + 90_000;
  while (!complete() && Date.now() < deadline) await new Promise((resolve) => setTimeout(resolve, 100));

  process.stdout.write(
    `${total} orders of new profiles at ${rate}/s (sent in ${sendSeconds.toFixed(1)} s, ${sendFailures} sends failed); ${os.cpus().length} cores, load average ${loadBefore[0]!.toFixed(1)} before, ${loadDuring[0]!.toFixed(1)} at the end of sending\n`,
  );
  arrivals.get(rule.id)!.report('rule segment (events)', total);
  arrivals.get(sql.id)!.report('SQL segment over rfm', total);
  const metrics = await base.metrics.getMetricsAsJSON();
  const sumOf = (name: string, labels: Record<string, string> = {}, suffix = ''): number => {
    const metric = metrics.find((m) => m.name === name) as
      | { values: Array<{ metricName?: string; value: number; labels: Record<string, unknown> }> }
      | undefined;
    return (
      metric?.values
        .filter(
          (v) =>
            (v.metricName ?? name) === `${name}${suffix}` &&
            Object.entries(labels).every(([k, l]) => v.labels[k] === l),
        )
        .reduce((sum, v) => sum + v.value, 0) ?? 0
    );
  };
  const mean = (name: string, labels: Record<string, string> = {}): string => {
    const count = sumOf(name, labels, '_count');
    return count > 0 ? `${((sumOf(name, labels, '_sum') / count) * 1000).toFixed(0)} ms over ${count}` : 'n/a';
  };
  line('mean hand-over → committed changes', mean('kumiki_segment_incremental_lag_seconds'));
  line('mean incremental run', mean('kumiki_segment_evaluation_seconds', { evaluation: 'incremental' }));
  line('mean materializer batch', mean('kumiki_materializer_batch_seconds'));
  const cpu = process.cpuUsage(cpuAtStart);
  line('CPU of this process (materializer, chDB, load)', `${((cpu.user + cpu.system) / 1e6).toFixed(1)} s`);
  // Where the SQL segment's time goes: from the order to the start (as_of = computed_at) of the
  // snapshot that announced it (the latest one before its evaluation: the order is stored, then
  // the next snapshot starts), then to the evaluation that published the change.
  const snapshots = (
    await ch.query<{ ms: string }>(
      'SELECT toString(toUnixTimestamp64Milli(computed_at)) AS ms FROM rfm_snapshots_store ORDER BY computed_at',
    )
  ).map((row) => Number(row.ms));
  const toSnapshot: number[] = [];
  const snapshotToEvaluation: number[] = [];
  for (const { sent, at } of arrivals.get(sql.id)!.times) {
    const snapshot = snapshots.findLast((computedAt) => computedAt <= at);
    if (snapshot === undefined || snapshot < sent) continue;
    toSnapshot.push(snapshot - sent);
    snapshotToEvaluation.push(at - snapshot);
  }
  const spread = (values: number[]): string => {
    const sorted = [...values].sort((a, b) => a - b);
    return `p50 ${percentile(sorted, 50)} ms, p95 ${percentile(sorted, 95)} ms`;
  };
  const gaps = snapshots.slice(1).map((computedAt, i) => computedAt - snapshots[i]!);
  line('RFM snapshots written (one at start), start to start', `${snapshots.length}; ${spread(gaps.slice(1))}`);
  line('SQL segment: order → start of the snapshot announcing it', spread(toSnapshot));
  line('SQL segment: that start → evaluation (change.at)', spread(snapshotToEvaluation));
  line(
    'profiles republished after RFM snapshots',
    String(sumOf('kumiki_materializer_profiles_republished_total', { reason: 'rfm' })),
  );

  await consumer.disconnect();
  await producer.disconnect();
  await service.stop();
  await ch.close();
  const admin = kafka.admin();
  await admin.connect();
  await admin
    .deleteTopics([
      config.MATERIALIZER_STITCHED_TOPIC,
      config.MATERIALIZER_CHANGES_TOPIC,
      config.MATERIALIZER_UPDATES_TOPIC,
      config.MATERIALIZER_DLQ_TOPIC,
      config.SEGMENT_CHANGES_TOPIC,
    ])
    .catch(() => undefined);
  await admin.disconnect();
  fs.rmSync(home, { recursive: true, force: true });
  if (!complete()) throw new Error('not every profile entered both segments');
}

main().then(
  () => process.exit(0),
  (error: unknown) => {
    process.stderr.write(`${String((error as Error).stack ?? error)}\n`);
    process.exit(1);
  },
);
