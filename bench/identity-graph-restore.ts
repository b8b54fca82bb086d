/**
 * Start-up time per million identifiers: how long the stitcher takes to rebuild its graph
 * from `kumiki.identity.graph` through Kafka (fetch, Avro decode, restore), and the memory the
 * rebuilt graph holds.
 *
 *   npm run build && node --expose-gc dist/bench/identity-graph-restore.js [identifiers=1000000]
 */
import { randomBytes } from 'node:crypto';
import pino from 'pino';
import type { IdentityGraphRecord } from '../schemas';
import { createKafkaClient, type OutgoingMessage } from '../services/common/kafka/client';
import { topics } from '../services/common/kafka/topics';
import { createRegistryConnection } from '../services/common/registry';
import { resolveIdentityRules } from '../services/identity-stitcher/identity/identity-rules';
import { restoreIdentityGraph } from '../services/identity-stitcher/identity-graph.store';

const count = Number(process.argv[2] ?? 1_000_000);
const brokers = (process.env.KAFKA_BROKERS ?? '127.0.0.1:9092').split(',');
const registryUrl = process.env.SCHEMA_REGISTRY_URL ?? 'http://127.0.0.1:8081/apis/ccompat/v7';
const logger = pino({ level: 'warn' });
const run = `bench-restore-${Date.now().toString(36)}`;
const gc = (globalThis as { gc?: () => void }).gc;

function memory(): number {
  gc?.();
  gc?.();
  const usage = process.memoryUsage();
  return usage.heapUsed + usage.arrayBuffers;
}

function uuid(): string {
  const hex = randomBytes(16).toString('hex');
  return `${hex.slice(0, 8)}-${hex.slice(8, 12)}-${hex.slice(12, 16)}-${hex.slice(16, 20)}-${hex.slice(20)}`;
}

/** A profile of ~5 identifiers: user id, email, a device and two anonymous ids, linked by 3 events. */
function* records(total: number): Generator<IdentityGraphRecord> {
  let made = 0;
  for (let p = 0; made < total; p++) {
    const profileId = `p_${randomBytes(12).toString('hex')}`;
    const createdAt = Date.UTC(2025, 0, 1) + p * 1000;
    const events = [uuid(), uuid(), uuid()];
    const identifiers = [
      { type: 'anonymous_id', value: uuid(), by: 0 },
      { type: 'device_id', value: uuid(), by: 0 },
      { type: 'user_id', value: `u-${p.toString(36)}`, by: 1 },
      { type: 'email', value: `first.last${p}@example${p % 50}.com`, by: 1 },
      { type: 'anonymous_id', value: uuid(), by: 2 },
    ];
    for (const identifier of identifiers) {
      if (made++ >= total) return;
      yield {
        identifier: { type: identifier.type, value: identifier.value },
        profileId,
        profileCreatedAt: createdAt,
        linkedBy: events[identifier.by]!,
        linkedAt: createdAt + identifier.by * 60_000,
        rule: 'same-event',
      };
    }
  }
}

async function main(): Promise<void> {
  const kafka = createKafkaClient({ brokers, clientId: run, logger });
  const spec = { ...topics.identityGraph, name: `${run}.graph` };
  const admin = kafka.admin();
  await admin.connect();
  await admin.ensureTopics([spec]);
  const registry = createRegistryConnection({ settings: { url: registryUrl, logger }, logger, topics: [spec] });
  await registry.start();
  const producer = kafka.producer();
  await producer.connect();
  let batch: OutgoingMessage[] = [];
  const producing = Date.now();
  for (const record of records(count)) {
    batch.push({
      key: `${record.identifier.type}:${record.identifier.value}`,
      value: registry.codec.encode(spec.name, record),
    });
    if (batch.length === 5_000) {
      await producer.send(spec.name, batch);
      batch = [];
    }
  }
  await producer.send(spec.name, batch);
  await producer.disconnect();
  console.log(JSON.stringify({ produced: count, seconds: (Date.now() - producing) / 1000 }));

  const before = memory();
  const restored = await restoreIdentityGraph({
    kafka,
    codec: registry.codec,
    topic: spec.name,
    rules: resolveIdentityRules(),
    groupIdPrefix: run,
  });
  const bytes = memory() - before;
  console.log(
    JSON.stringify({
      restoredIdentifiers: restored.graph.identifierCount,
      profiles: restored.graph.profileCount,
      records: restored.records,
      seconds: restored.seconds,
      secondsPerMillionIdentifiers: Number(((restored.seconds / restored.graph.identifierCount) * 1e6).toFixed(2)),
      bytesPerIdentifier: gc ? Math.round(bytes / restored.graph.identifierCount) : 'run with --expose-gc',
    }),
  );
  await admin.deleteTopics([spec.name]).catch(() => undefined);
  await admin.disconnect();
  await registry.stop();
}

main().catch((error: unknown) => {
  console.error(error);
  process.exit(1);
});
