/**
 * Materialized events/s into embedded ClickHouse (chDB), beside a raw `@clickhouse/client`
 * insert of the same rows with the same batch size, in the same run.
 *
 *   npm run build && node dist/bench/materializer-throughput.js [events=200000] [batch=MATERIALIZER_BATCH_SIZE] [profiles=20000]
 *
 * "Materialized" is the profile-materializer's own consumer loop (materializer.consumer.ts) with
 * its default settings, fed by an in-memory partition in place of a broker, from the first batch
 * handed over until the last offset is committed: Avro decode → rows → idempotent inserts (events with their profile
 * facts, identities) → on the consumer's schedule (every MATERIALIZER_REFRESH_INTERVAL_MS while
 * behind, or MATERIALIZER_REFRESH_MAX_PROFILES touched profiles) snapshots of the touched profiles,
 * their RFM (the latest RFM snapshot's rows, snapshots taken on the service's schedule) and
 * segments → ProfileUpdates encoded (producer stubbed) → commit. Settings can be
 * changed through the same environment variables as the service's. Events cycle through the
 * profiles, so every refresh finds nearly every profile touched.
 *
 * The raw insert writes the identical events_store rows into a second database with no other
 * work, as `@clickhouse/client`'s JSONEachRow (its default object path), and again as
 * JSONCompactEachRow (the format the materializer writes) for a like-for-like figure.
 */
import { randomBytes } from 'node:crypto';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import pino from 'pino';
import { createClickHouse, type ClickHouse } from '../services/common/clickhouse/client-factory';
import { runMigrations } from '../services/common/clickhouse/migrations';
import { quoteIdentifier } from '../services/common/clickhouse/sql-text';
import { AvroCodec } from '../services/common/registry/avro-codec';
import type { IncomingMessage } from '../services/common/kafka/client';
import { Registry } from '../services/common/metrics';
import { loadMaterializerConfig } from '../services/profile-materializer/config';
import { limitHeapGrowth } from '../services/profile-materializer/heap-growth';
import { consumerSettings } from '../services/profile-materializer/materializer.service';
import {
  createExclusive,
  createProfileRepublisher,
  prepareChunk,
  refreshProfiles,
  storeChunk,
  type MaterializeDeps,
  type PreparedChunk,
  type WrittenChunk,
} from '../services/profile-materializer/materialize-batch';
import { createRfmSnapshotter } from '../services/profile-materializer/rfm/rfm-snapshot';
import { createMaterializerConsumer } from '../services/profile-materializer/materializer.consumer';
import { createMaterializerMetrics } from '../services/profile-materializer/materializer.metrics';
import { ReplayWindow } from '../services/profile-materializer/replay-window';
import { ProfileRepository } from '../services/profile-materializer/profile.repository';
import { parseRates } from '../services/profile-materializer/rfm/money';
import { readSnapshotRfm, writeRfmSettings } from '../services/profile-materializer/rfm/rfm.repository';
import { toEventRow } from '../services/profile-materializer/store-rows';
import { schema } from '../schemas';
import { inMemoryPartition } from './support/in-memory-partition';
import { stitchedEvents } from './support/stitched-events';

// The service's settings and defaults; the admin token only satisfies the schema (no read API here).
const config = loadMaterializerConfig({
  ...process.env,
  KUMIKI_ADMIN_TOKEN: 'bench-token-not-used',
  KUMIKI_PRIVACY_KEY: randomBytes(32).toString('hex'),
});
limitHeapGrowth(config.MATERIALIZER_HEAP_GROWTH_PERCENT);
// Both the materializer and the raw inserts write batches of the service's size unless told otherwise.
const [events = 200_000, batchSize = config.MATERIALIZER_BATCH_SIZE, profiles = 20_000] = process.argv
  .slice(2)
  .map(Number);
const logger = pino({ level: 'warn' });

/** Process CPU (user + system, every thread: Node's and chDB's) since `start`, in seconds. */
function cpuSecondsSince(start: NodeJS.CpuUsage): number {
  const { user, system } = process.cpuUsage(start);
  return +((user + system) / 1e6).toFixed(2);
}

async function open(home: string, database: string): Promise<ClickHouse> {
  const ch = await createClickHouse(
    {
      CLICKHOUSE_URL: undefined,
      CLICKHOUSE_USER: 'default',
      CLICKHOUSE_PASSWORD: '',
      CLICKHOUSE_DATABASE: database,
      KUMIKI_HOME: home,
    },
    logger,
  );
  await runMigrations(ch, { logger });
  return ch;
}

async function main(): Promise<void> {
  const home = fs.mkdtempSync(path.join(os.tmpdir(), 'kumiki-bench-'));
  const now = Date.now();
  const records = stitchedEvents(events, now, (i) => `profile-${(i * 7919) % profiles}`);
  const stitchedType = schema('StitchedEvent').type;
  const updateType = schema('ProfileUpdate').type;
  const types = new Map([
    [1, stitchedType],
    [2, updateType],
  ]);
  const codec = new AvroCodec({
    writerType: async (id: number) => types.get(id)!,
    cachedWriterType: (id: number) => types.get(id),
    register: async () => 1,
    rememberWriterType: () => undefined,
  });
  codec.bind('bench.stitched-value', 1, stitchedType);
  codec.bind('bench.updates-value', 2, updateType);
  const messages: IncomingMessage[] = records.map((r, i) => ({
    topic: 'bench.stitched',
    partition: 0,
    offset: String(i),
    key: Buffer.from(r.profileId),
    value: codec.encode('bench.stitched', r),
    headers: {},
    timestamp: String(now),
  }));

  const materialized = await open(home, 'bench_materialized');
  const raw = await open(home, 'bench_raw');
  const rawCompact = await open(home, 'bench_raw_compact');
  // The raw inserts go into a bare events_store: the materialized views the materializer relies
  // on (profile facts, activity; migrations 0009, 0011) are part of the materialized cost.
  for (const ch of [raw, rawCompact]) {
    const views = await ch.query<{ name: string }>(
      "SELECT name FROM system.tables WHERE database = {db:String} AND engine = 'MaterializedView'",
      { db: ch.database },
    );
    for (const { name } of views) await ch.command(`DROP VIEW ${quoteIdentifier(name)}`);
  }
  const settings = {
    purchaseEvents: ['Order Completed'],
    refundEvents: ['Order Refunded'],
    windowDays: 365,
    rates: parseRates('', 'USD'),
    reportingCurrency: 'USD',
  };
  await writeRfmSettings(materialized, settings);
  const repository = new ProfileRepository(materialized);
  let produced = 0;
  // Where the time goes: each repository step and the RFM read, summed over the run.
  const phases: Record<string, number> = {};
  const timed =
    <A extends unknown[], R>(name: string, fn: (...args: A) => Promise<R>) =>
    async (...args: A): Promise<R> => {
      const started = process.hrtime.bigint();
      try {
        return await fn(...args);
      } finally {
        phases[name] = (phases[name] ?? 0) + Number(process.hrtime.bigint() - started) / 1e9;
      }
    };
  for (const method of [
    'countExistingEvents',
    'writeEvents',
    'writeIdentities',
    'writeLinks',
    'loadAliases',
    'loadAliasGroups',
    'writeAliases',
    'readSnapshots',
    'writeSnapshots',
    'segmentsOf',
  ] as const) {
    const original = (repository[method] as (...args: unknown[]) => Promise<unknown>).bind(repository);
    (repository as unknown as Record<string, unknown>)[method] = timed(method, original);
  }
  const timedRfm = timed('readRfm', (ids: readonly string[]) => readSnapshotRfm(materialized, ids));

  const deps: MaterializeDeps = {
    repository,
    decode: (buffer, reader) => codec.decodeNowOrLater(buffer, reader),
    encode: (topic, value) => codec.encode(topic, value),
    readers: { stitched: stitchedType, change: schema('IdentityChange').type },
    readRfm: timedRfm,
    producer: { send: async (_topic, batch) => void (produced += batch.length) },
    results: { rejected: async () => undefined, dropped: () => undefined },
    topics: { stitched: 'bench.stitched', changes: 'bench.changes', updates: 'bench.updates' },
    logger,
    metrics: createMaterializerMetrics(new Registry()),
    replays: new ReplayWindow(),
    rfmInputsChanged: () => rfmSnapshots.request(),
    exclusive: createExclusive(),
  };
  // RFM snapshots on the service's schedule: ProfileUpdates carry the latest one's rows, and the
  // profiles a snapshot changed are published again, as in the service.
  const republish = createProfileRepublisher();
  const rfmSnapshots = createRfmSnapshotter({
    clickhouse: () => materialized,
    logger,
    intervalMs: config.RFM_SNAPSHOT_INTERVAL_MS,
    minIntervalMs: config.RFM_SNAPSHOT_MIN_INTERVAL_MS,
    onProfilesChanged: timed(
      'rfmRepublish',
      async (ids: readonly string[]) => void (await republish(ids, deps, 'rfm')),
    ),
  });
  // The service's own consumer loop and settings (batch size, refresh interval and bound), fed
  // by an in-memory partition instead of a broker: what it writes, when it refreshes profiles
  // and when it commits are exactly what the profile-materializer does while it is behind.
  const refreshes: number[] = [];
  const source = inMemoryPartition('bench.stitched', messages, config.MATERIALIZER_FETCH_MAX_BYTES_PER_PARTITION);
  const consumer = createMaterializerConsumer<PreparedChunk, WrittenChunk>({
    kafka: { consumer: () => source },
    logger,
    groupId: 'bench',
    topics: ['bench.stitched'],
    ...consumerSettings(config),
    batchSize,
    prepare: (chunk) => prepareChunk(chunk, deps),
    store: (prepared) => storeChunk(prepared, deps),
    publish: timed('refreshProfiles(total)', (written: readonly WrittenChunk[]) =>
      refreshProfiles(written, deps).then((n) => void refreshes.push(n)),
    ),
  });

  // From the first batch handed over to the last offset committed, as the stitcher bench counts
  // (the RFM snapshotter's and the consumer's start-up are not throughput).
  await rfmSnapshots.start();
  await consumer.start();
  await source.committed(messages.length);
  const start = source.started()!;
  const materializedSeconds = Number(process.hrtime.bigint() - start.at) / 1e9;
  const materializedCpu = cpuSecondsSince(start.cpu);
  await consumer.stop();
  await rfmSnapshots.stop();

  const rows = records.map(toEventRow);
  const cpu1 = process.cpuUsage();
  const t1 = process.hrtime.bigint();
  for (let i = 0; i < rows.length; i += batchSize) {
    await raw.client.insert({ table: 'events_store', values: rows.slice(i, i + batchSize), format: 'JSONEachRow' });
  }
  const rawSeconds = Number(process.hrtime.bigint() - t1) / 1e9;
  const rawCpu = cpuSecondsSince(cpu1);
  // The same rows in the format the materializer uses (JSONCompactEachRow), for a like-for-like view.
  const columns = Object.keys(rows[0]!) as (keyof (typeof rows)[number])[];
  const t2 = process.hrtime.bigint();
  for (let i = 0; i < rows.length; i += batchSize) {
    await rawCompact.client.insert({
      table: 'events_store',
      values: rows.slice(i, i + batchSize).map((r) => columns.map((c) => r[c])),
      format: 'JSONCompactEachRow',
      columns: columns as [string, ...string[]],
    });
  }
  const rawCompactSeconds = Number(process.hrtime.bigint() - t2) / 1e9;

  const [count] = await materialized.query<{ n: string }>('SELECT count() AS n FROM events');
  const [purchasers] = await materialized.query<{ n: string }>('SELECT count() AS n FROM rfm_as_of(as_of = now64(3))');
  const materializedRate = events / materializedSeconds;
  const rawRate = events / rawSeconds;
  console.log(
    JSON.stringify(
      {
        events,
        batchSize,
        profiles,
        refreshIntervalMs: config.MATERIALIZER_REFRESH_INTERVAL_MS,
        refreshes: refreshes.length,
        rfmSnapshots: rfmSnapshots.snapshots(),
        eventsInClickHouse: Number(count?.n),
        purchasers: Number(purchasers?.n),
        profileUpdatesProduced: produced,
        profileUpdatesPerEvent: +(produced / events).toFixed(3),
        materialized: {
          seconds: +materializedSeconds.toFixed(2),
          cpuSeconds: materializedCpu,
          eventsPerSecond: Math.round(materializedRate),
        },
        rawInsert: { seconds: +rawSeconds.toFixed(2), cpuSeconds: rawCpu, eventsPerSecond: Math.round(rawRate) },
        ratio: +(materializedRate / rawRate).toFixed(3),
        rawInsertCompact: {
          seconds: +rawCompactSeconds.toFixed(2),
          eventsPerSecond: Math.round(events / rawCompactSeconds),
        },
        ratioToCompact: +(materializedRate / (events / rawCompactSeconds)).toFixed(3),
        materializedSecondsByStep: Object.fromEntries(Object.entries(phases).map(([k, v]) => [k, +v.toFixed(2)])),
      },
      null,
      2,
    ),
  );
  await materialized.close();
  await raw.close();
  await rawCompact.close();
  fs.rmSync(home, { recursive: true, force: true });
}

main().catch((error: unknown) => {
  console.error(error);
  process.exit(1);
});
