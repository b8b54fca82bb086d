/**
 * Event-to-SegmentChange latency at a steady load, through the running profile-materializer
 * (in process, default settings, embedded chDB) on real Kafka and the real registry.
 *
 *   npm run build && node dist/bench/segment-latency.js [eventsPerSecond=200] [seconds=20]
 *
 * One rule segment ("did Signed Up"); every event is a new profile's Signed Up, produced onto
 * the stitched-events topic at a steady rate. Latency = when a read_committed consumer of the
 * changes topic received the profile's `entered` minus when its event was handed to the
 * producer. Reported: p50, p95, p99, max (target p95 ≤ 2 s), and where the time goes.
 * MATERIALIZER_REFRESH_* and MATERIALIZER_LINGER_MS from the environment are passed on.
 */
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import pino from 'pino';
import { createClickHouse } from '../services/common/clickhouse/client-factory';
import { runMigrations } from '../services/common/clickhouse/migrations';
import { createKafkaClient } from '../services/common/kafka/client';
import { AvroCodec } from '../services/common/registry/avro-codec';
import { SchemaRegistryClient } from '../services/common/registry/schema-registry.client';
import { createServiceBase } from '../services/common/service-base';
import { loadMaterializerConfig } from '../services/profile-materializer/config';
import { createMaterializerService, materializerTopics } from '../services/profile-materializer/materializer.service';
import { createSegment } from '../services/profile-materializer/segments/segment.repository';
import { defaultSegmentLimits } from '../services/profile-materializer/segments/validate-segment-sql';
import { eventWith, schema, type SegmentChange, type StitchedEvent } from '../schemas';

const [rate = 200, seconds = 20] = process.argv.slice(2).map(Number);
const logger = pino({ level: 'warn' });
const brokers = (process.env.KAFKA_BROKERS ?? '127.0.0.1:9092').split(',');
const registryUrl = process.env.SCHEMA_REGISTRY_URL ?? 'http://127.0.0.1:8081/apis/ccompat/v7';

function percentile(sorted: readonly number[], p: number): number {
  return sorted[Math.min(sorted.length - 1, Math.floor((p / 100) * sorted.length))] ?? NaN;
}

async function main(): Promise<void> {
  const home = fs.mkdtempSync(path.join(os.tmpdir(), 'kumiki-bench-seglat-'));
  const run = `bench-seglat-${Date.now().toString(36)}`;
  const ch = await createClickHouse(
    {
      CLICKHOUSE_URL: undefined,
      CLICKHOUSE_USER: 'default',
      CLICKHOUSE_PASSWORD: '',
      CLICKHOUSE_DATABASE: 'bench',
      KUMIKI_HOME: home,
    },
    logger,
  );
  await runMigrations(ch, { logger });
  await createSegment(
    ch,
    { name: 'signed up', rule: { performed: { event: 'Signed Up' } } },
    { limits: defaultSegmentLimits },
  );
  const config = loadMaterializerConfig({
    KAFKA_BROKERS: brokers.join(','),
    SCHEMA_REGISTRY_URL: registryUrl,
    LOG_LEVEL: 'warn',
    KUMIKI_HOME: home,
    CLICKHOUSE_DATABASE: 'bench',
    KUMIKI_ADMIN_TOKEN: 'bench-admin-token-0123456789',
    HTTP_PORT: '0',
    MATERIALIZER_STITCHED_TOPIC: `${run}.stitched`,
    MATERIALIZER_CHANGES_TOPIC: `${run}.identity`,
    MATERIALIZER_UPDATES_TOPIC: `${run}.updates`,
    MATERIALIZER_DLQ_TOPIC: `${run}.dlq`,
    MATERIALIZER_GROUP_ID: run,
    SEGMENT_CHANGES_TOPIC: `${run}.segments`,
    // Materializer tuning can be tried from the environment, e.g. MATERIALIZER_REFRESH_INTERVAL_MS=200.
    ...Object.fromEntries(
      Object.entries(process.env).filter(
        ([name]) => name.startsWith('MATERIALIZER_REFRESH') || name === 'MATERIALIZER_LINGER_MS',
      ),
    ),
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
  const latencies: number[] = [];
  const toEvaluation: number[] = [];
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
      if (value.change === 'entered' && sent !== undefined) {
        latencies.push(received - sent);
        toEvaluation.push(value.at - sent);
      }
    }
    const last = batch.messages.at(-1);
    if (last) context.resolveOffset(last.offset);
  });

  const total = rate * seconds;
  const started = Date.now();
  for (let i = 0; i < total; i++) {
    const due = started + (i * 1000) / rate;
    const wait = due - Date.now();
    if (wait > 0) await new Promise((resolve) => setTimeout(resolve, wait));
    const profileId = `${run}-p${i}`;
    const at = Date.now();
    const record: StitchedEvent = {
      profileId,
      identifiers: [{ type: 'user_id', value: profileId }],
      stitchedAt: at,
      event: eventWith({
        messageId: `${profileId}-m`,
        type: 'track',
        event: 'Signed Up',
        userId: profileId,
        timestamp: at,
        channel: 'web',
        source: 'bench',
      }),
    };
    sentAt.set(profileId, at);
    void producer.send(config.MATERIALIZER_STITCHED_TOPIC, [
      { key: profileId, value: codec.encode(config.MATERIALIZER_STITCHED_TOPIC, record) },
    ]);
  }
  const deadline = Date.now() + 60_000;
  while (latencies.length < total && Date.now() < deadline) await new Promise((resolve) => setTimeout(resolve, 100));
  const sorted = [...latencies].sort((a, b) => a - b);
  process.stdout.write(
    `${rate} events/s for ${seconds} s: ${latencies.length}/${total} SegmentChanges; latency p50 ${percentile(sorted, 50)} ms, p95 ${percentile(sorted, 95)} ms, p99 ${percentile(sorted, 99)} ms, max ${sorted.at(-1)} ms\n`,
  );
  const evalSorted = [...toEvaluation].sort((a, b) => a - b);
  process.stdout.write(
    `event handed to the producer → evaluation start (SegmentChange.at): p50 ${percentile(evalSorted, 50)} ms, p95 ${percentile(evalSorted, 95)} ms\n`,
  );
  // Where the time goes: mean time from a batch handing its profiles over to committed changes, and of one incremental run.
  const metrics = await base.metrics.getMetricsAsJSON();
  const mean = (name: string, labels: Record<string, string> = {}): string => {
    const metric = metrics.find((m) => m.name === name) as
      | { values: Array<{ metricName?: string; value: number; labels: Record<string, unknown> }> }
      | undefined;
    const pick = (suffix: string): number =>
      metric?.values
        .filter(
          (v) => v.metricName === `${name}${suffix}` && Object.entries(labels).every(([k, l]) => v.labels[k] === l),
        )
        .reduce((sum, v) => sum + v.value, 0) ?? 0;
    const count = pick('_count');
    return count > 0 ? `${((pick('_sum') / count) * 1000).toFixed(0)} ms over ${count}` : 'n/a';
  };
  process.stdout.write(
    `mean hand-over → committed: ${mean('kumiki_segment_incremental_lag_seconds')}; incremental run: ${mean('kumiki_segment_evaluation_seconds', { evaluation: 'incremental' })}; materializer batch: ${mean('kumiki_materializer_batch_seconds')}\n`,
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
  if (latencies.length < total) throw new Error(`only ${latencies.length} of ${total} changes arrived`);
}

main().then(
  () => process.exit(0),
  (error: unknown) => {
    process.stderr.write(`${String((error as Error).stack ?? error)}\n`);
    process.exit(1);
  },
);
