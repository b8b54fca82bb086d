/**
 * Time to carry out an erase over a large ClickHouse, and what it costs ingest while it runs,
 * in the same run, on embedded ClickHouse (chDB), real Kafka and the real registry.
 *
 *   npm run build && node dist/bench/privacy-erase.js [profiles=1000000] [events=10000000] [ingest=400000]
 *
 * Data is generated inside ClickHouse (INSERT … SELECT from numbers(), the materialized views
 * firing as for real inserts): `events` events over `profiles` profiles (a tenth orders), two
 * identifiers and their links per profile, a profile snapshot each, every tenth profile with a
 * profile merged into it, consent statements, an RFM snapshot and a segment holding a third of
 * the profiles. The erase is the profile-materializer's part of a request (the stitcher's is
 * one graph operation in a transaction): PrivacyRequestExecutor from a `resolved` record to the
 * deletion notice, every step included (the residual scan reads this run's small topics).
 *
 * Ingest is the materializer's own consumer loop and write path with the service's settings,
 * fed `ingest` stitched events for the same profiles from an in-memory partition: once alone
 * (the reference), then again with new events while the erase runs; reported as events written
 * to events_store per second over each span, and their ratio.
 */
import { randomBytes } from 'node:crypto';
import fs from 'node:fs';
import os from 'node:os';
import { Writable } from 'node:stream';
import pino from 'pino';
import { schema } from '../schemas';
import type { ClickHouse } from '../services/common/clickhouse/client-factory';
import { dateTime64Text } from '../services/common/clickhouse/datetime64';
import { createKafkaClient, type IncomingMessage } from '../services/common/kafka/client';
import { topics as kumikiTopics, type TopicSpec } from '../services/common/kafka/topics';
import { Registry } from '../services/common/metrics';
import { PrivacyKey } from '../services/common/privacy/privacy-key';
import { requestRecord } from '../services/common/privacy/privacy-request';
import { AvroCodec, SchemaRegistryClient } from '../services/common/registry';
import { loadMaterializerConfig } from '../services/profile-materializer/config';
import { registrySettingsFromConfig } from '../services/common/registry/schema-registry.client';
import {
  createExclusive,
  prepareChunk,
  refreshProfiles,
  storeChunk,
  type MaterializeDeps,
  type PreparedChunk,
  type WrittenChunk,
} from '../services/profile-materializer/materialize-batch';
import { createMaterializerConsumer } from '../services/profile-materializer/materializer.consumer';
import { consumerSettings } from '../services/profile-materializer/materializer.service';
import { ErasedPeople } from '../services/profile-materializer/privacy/erased-people';
import { PrivacyRequestExecutor } from '../services/profile-materializer/privacy/privacy-request.executor';
import { PrivacyRequestRepository } from '../services/profile-materializer/privacy/privacy-request.repository';
import { ProfileRepository } from '../services/profile-materializer/profile.repository';
import { readSnapshotRfm } from '../services/profile-materializer/rfm/rfm.repository';
import { writeRfmSnapshot } from '../services/profile-materializer/rfm/rfm-snapshot';
import { createSegmentEvaluation } from '../services/profile-materializer/segments/evaluation/segment-evaluation.component';
import { inMemoryPartition } from './support/in-memory-partition';
import { stitchedEvents } from './support/stitched-events';
import { benchClickHouse } from './support/bench-clickhouse';
import { timedClickHouse } from './support/timed-clickhouse';

const [profiles = 1_000_000, events = 10_000_000, ingest = 400_000] = process.argv.slice(2).map(Number);
const brokers = (process.env.KAFKA_BROKERS ?? '127.0.0.1:9092').split(',');
const registryUrl = process.env.SCHEMA_REGISTRY_URL ?? 'http://127.0.0.1:8081/apis/ccompat/v7';
const config = loadMaterializerConfig({
  ...process.env,
  KUMIKI_ADMIN_TOKEN: 'bench-token-not-used',
  KUMIKI_PRIVACY_KEY: randomBytes(32).toString('hex'),
});
const logger = pino({ level: 'warn' });
const run = `bench-erase-${Date.now().toString(36)}`;
const seconds = (from: bigint): number => +(Number(process.hrtime.bigint() - from) / 1e9).toFixed(2);

async function generate(ch: ClickHouse, now: number): Promise<number> {
  const started = process.hrtime.bigint();
  const params = { p: profiles, t0: dateTime64Text(now) };
  for (let from = 0; from < events; from += 1_000_000) {
    // Every profile's first event states consent (statements, consent history); a tenth are orders.
    await ch.command(
      `INSERT INTO events_store (message_id, profile_id, type, event, timestamp, received_at, channel, source, user_id,
                                 order_id, revenue, currency, properties, context, traits, consent, version)
       SELECT concat('m', toString(number)), concat('p', toString(number % {p:UInt64})), 'track',
              if(number % 10 = 0, 'Order Completed', ['Page Viewed', 'Product Viewed', 'Product Added'][1 + number % 3]),
              {t0:DateTime64(3, 'UTC')} - toIntervalSecond(number % 25920000), {t0:DateTime64(3, 'UTC')},
              ['web', 'mobile', 'store'][1 + number % 3], 'bench', concat('u', toString(number % {p:UInt64})),
              if(number % 10 = 0, concat('o', toString(number)), ''), if(number % 10 = 0, toDecimal64(10 + number % 500, 4), NULL),
              if(number % 10 = 0, 'USD', ''), '{"sku":"sku-1","price":12.5}', '{"page":{"path":"/p"}}', '{}',
              if(number < {p:UInt64}, map('marketing', number % 3 = 0), map()), 1
       FROM numbers(${from}, ${Math.min(1_000_000, events - from)})`,
      params,
    );
  }
  await ch.command(
    `INSERT INTO identities_store (identifier_type, identifier_value, profile_id, linked_at, message_id, version)
     SELECT t.1, t.2, concat('p', toString(number)), {t0:DateTime64(3, 'UTC')}, concat('m', toString(number)), 1
     FROM numbers({p:UInt64})
     ARRAY JOIN [('user_id', concat('u', toString(number))), ('email', concat('e', toString(number), '@example.com'))] AS t`,
    params,
  );
  await ch.command(
    `INSERT INTO identity_links_store (identifier_type, identifier_value, profile_id, message_id, rule, linked_at)
     SELECT identifier_type, identifier_value, profile_id, message_id, 'linked', linked_at FROM identities_store`,
  );
  await ch.command(
    `INSERT INTO profiles_store (profile_id, traits, first_seen, last_seen, consent, channels, identifiers, version)
     SELECT concat('p', toString(number)), '{"plan":"pro"}', {t0:DateTime64(3, 'UTC')} - INTERVAL 300 DAY,
            {t0:DateTime64(3, 'UTC')}, map('marketing', number % 3 = 0), ['web'],
            [concat('user_id:u', toString(number)), concat('email:e', toString(number), '@example.com')], 1
     FROM numbers({p:UInt64})`,
    params,
  );
  await ch.command(
    `INSERT INTO profile_aliases_store (absorbed_profile_id, surviving_profile_id, merged_at, message_id, version)
     SELECT concat('q', toString(number)), concat('p', toString(number)), {t0:DateTime64(3, 'UTC')}, '', 1
     FROM numbers({p:UInt64}) WHERE number % 10 = 0`,
    params,
  );
  await ch.command(
    `INSERT INTO segment_members_store (segment_id, profile_id, is_member, since, changed_at, version)
     SELECT 'seg_bench', concat('p', toString(number)), 1, {t0:DateTime64(3, 'UTC')}, {t0:DateTime64(3, 'UTC')}, 1
     FROM numbers({p:UInt64}) WHERE number % 3 = 0`,
    params,
  );
  await ch.insert('segments_store', [
    {
      segment_id: 'seg_bench',
      name: 'bench',
      kind: 'sql',
      sql: 'SELECT profile_id FROM profiles',
      created_at: dateTime64Text(now),
      updated_at: dateTime64Text(now),
      version: 1,
    },
  ]);
  await writeRfmSnapshot(ch, now);
  return seconds(started);
}

/** Where the run is, on stderr (a run at the size takes many minutes). */
const progress = (what: string): void => {
  process.stderr.write(`[privacy-erase ${new Date().toISOString()}] ${what}\n`);
};

/** Steps of the erase and when each was done, from the executor's log lines. */
function stepClock(): { stream: Writable; steps: { step: string; at: number }[] } {
  const steps: { step: string; at: number }[] = [];
  const stream = new Writable({
    write(chunk: Buffer, _encoding, done) {
      for (const line of chunk.toString().split('\n')) {
        if (!line.includes('privacy request step done')) continue;
        const parsed = JSON.parse(line) as { step: string; time: number };
        steps.push({ step: parsed.step, at: parsed.time });
        progress(`erase step ${parsed.step} done`);
      }
      done();
    },
  });
  return { stream, steps };
}

async function main(): Promise<void> {
  const { ch, home } = await benchClickHouse('erase', logger, { rfm: true });
  const now = Date.now();
  const generationSeconds = await generate(ch, now);
  progress(`generated ${profiles} profiles / ${events} events in ${generationSeconds} s`);
  // The generation's background merges would slow the reference ingest below and flatter the ratio.
  for (let waited = 0; waited < 900; waited += 2) {
    const [running] = await ch.query<{ n: string }>(
      'SELECT count() AS n FROM system.merges WHERE database = currentDatabase()',
    );
    if (Number(running?.n) === 0) break;
    await new Promise((resolve) => setTimeout(resolve, 2_000));
  }
  progress('background merges settled');

  // Kafka: this run's own topics (the residual scan reads them; they hold only this run's records).
  const names = {
    privacy: `${run}.privacy`,
    updates: `${run}.updates`,
    stitched: `${run}.stitched`,
    changes: `${run}.changes`,
    segments: `${run}.segments`,
    deadLetters: `${run}.dlq`,
    raw: `${run}.raw`,
    json: `${run}.json`,
    graph: `${run}.graph`,
  };
  const specs: TopicSpec[] = [
    { ...kumikiTopics.privacyRequests, name: names.privacy },
    { ...kumikiTopics.profileUpdates, name: names.updates },
    { ...kumikiTopics.eventsStitched, name: names.stitched },
    { ...kumikiTopics.identityChanges, name: names.changes },
    { ...kumikiTopics.segmentChanges, name: names.segments },
    { ...kumikiTopics.deadLetters, name: names.deadLetters },
    { ...kumikiTopics.eventsRaw, name: names.raw },
    { ...kumikiTopics.eventsJson, name: names.json },
    { ...kumikiTopics.identityGraph, name: names.graph },
  ];
  const kafka = createKafkaClient({ brokers, clientId: run, logger });
  const admin = kafka.admin();
  await admin.connect();
  await admin.ensureTopics(specs);
  await admin.disconnect();
  const registry = new SchemaRegistryClient({ url: registryUrl, logger });
  const codec = new AvroCodec(registry, await registry.registerAll(specs));
  const producer = kafka.producer();
  await producer.connect();

  const repository = new ProfileRepository(ch);
  const exclusive = createExclusive();
  const segments = createSegmentEvaluation({
    kafka,
    clickhouse: () => ch,
    registry: registrySettingsFromConfig(config),
    settings: {
      topic: names.segments,
      transactionalId: `${run}.segments`,
      sweepIntervalMs: 0,
      maxProfilesPerRun: 5_000,
      sweepPageSize: 5_000,
    },
    logger,
    metrics: new Registry(),
  });
  await segments.start();

  // Ingest: the materializer's consumer loop and write path, for the same profiles.
  let written = 0;
  const writtenAt: { at: bigint; total: number }[] = [];
  const countingRepository = Object.assign(Object.create(repository) as ProfileRepository, {
    writeEvents: async (rows: Parameters<ProfileRepository['writeEvents']>[0]) => {
      await repository.writeEvents(rows);
      written += rows.count;
      writtenAt.push({ at: process.hrtime.bigint(), total: written });
    },
  });
  const erased = new ErasedPeople(PrivacyKey.fromHex(config.KUMIKI_PRIVACY_KEY));
  const deps: MaterializeDeps = {
    repository: countingRepository,
    decode: (buffer, reader) => codec.decodeNowOrLater(buffer, reader),
    encode: (topic, value) => codec.encode(topic, value),
    readers: { stitched: schema('StitchedEvent').type, change: schema('IdentityChange').type },
    readRfm: (ids) => readSnapshotRfm(ch, ids),
    producer: { send: async () => undefined },
    results: { rejected: async () => undefined, dropped: () => undefined },
    topics: { stitched: names.stitched, changes: names.changes, updates: names.updates },
    logger,
    exclusive,
    erased,
  };
  const encoded = (prefix: string): IncomingMessage[] =>
    stitchedEvents(ingest, now, (i) => `p${(i * 7919) % profiles}`, prefix).map((record, i) => ({
      topic: names.stitched,
      partition: 0,
      offset: String(i),
      key: Buffer.from(record.profileId),
      value: codec.encode(names.stitched, record),
      headers: {},
      timestamp: String(now),
    }));
  /** Consumes `messages` to the end with the service's consumer loop; resolves when all are committed. */
  const ingestAll = async (messages: readonly IncomingMessage[], group: string): Promise<void> => {
    const source = inMemoryPartition(names.stitched, messages, config.MATERIALIZER_FETCH_MAX_BYTES_PER_PARTITION);
    const consumer = createMaterializerConsumer<PreparedChunk, WrittenChunk>({
      kafka: { consumer: () => source },
      logger,
      groupId: group,
      topics: [names.stitched],
      ...consumerSettings(config),
      prepare: (chunk) => prepareChunk(chunk, deps),
      store: (prepared) => storeChunk(prepared, deps),
      publish: (chunks) => refreshProfiles(chunks, deps),
    });
    await consumer.start();
    await source.committed(messages.length);
    await consumer.stop();
  };
  const writtenBetween = (from: bigint, to: bigint): number => {
    const upTo = (at: bigint) => writtenAt.filter((w) => w.at <= at).at(-1)?.total ?? 0;
    return upTo(to) - upTo(from);
  };

  // 1. Ingest alone: the reference.
  const aloneStarted = process.hrtime.bigint();
  await ingestAll(encoded('alone'), `${run}-alone`);
  const aloneEnded = process.hrtime.bigint();
  progress(`ingest alone: ${ingest} events in ${seconds(aloneStarted)} s`);
  const aloneRate = writtenBetween(aloneStarted, aloneEnded) / (Number(aloneEnded - aloneStarted) / 1e9);
  const besideMessages = encoded('beside');

  // 2. The erase of one person (two profiles: p30 and the q30 merged into it), ingest running beside it.
  const key = PrivacyKey.fromHex(config.KUMIKI_PRIVACY_KEY);
  const clock = stepClock();
  const timing = timedClickHouse(ch);
  const executor = new PrivacyRequestExecutor({
    clickhouse: () => timing.ch,
    repository: new PrivacyRequestRepository(() => timing.ch),
    key,
    erased,
    kafka,
    producer,
    encode: (topic, value) => codec.encode(topic, value),
    topics: names,
    materializerGroupId: `${run}-no-group`,
    exitSegments: (ids, hide) => segments.exitErased(ids, hide),
    hideProfiles: (ids) => repository.hideProfiles(ids),
    forgetIdentities: (identifiers) => repository.forgetIdentities(identifiers),
    exclusive,
    settleWriters: async () => undefined,
    logger: pino({ level: 'info' }, clock.stream),
  });
  const record = {
    ...requestRecord(
      { type: 'erase', identifier: { type: 'email', value: 'e30@example.com' }, reason: 'bench' },
      { requestId: `pr_${run}`, requestedAt: now, requestedBy: 'bench' },
    ),
    phase: 'resolved' as const,
    subject: {
      outcome: 'found',
      profileIds: ['p30'],
      mergedProfileIds: [],
      identifiers: [
        { type: 'user_id', value: 'u30', linkedBy: 'm30', linkedAt: now, rule: 'same-event' },
        { type: 'email', value: 'e30@example.com', linkedBy: 'm30', linkedAt: now, rule: 'same-event' },
      ],
      erasedBy: null,
      resolvedAt: now,
    },
  };
  const [before] = await ch.query<{ n: string }>("SELECT count() AS n FROM events_store WHERE profile_id = 'p30'");
  // Ingest goes on, round after round of the same events (written again, as a replay would be), until the erase is done.
  let erasing = true;
  const beside = (async () => {
    for (let round = 0; erasing; round++) await ingestAll(besideMessages, `${run}-beside-${round}`);
  })();
  const loadAtStart = os.loadavg()[0]!;
  const eraseStarted = process.hrtime.bigint();
  const eraseStartedAt = Date.now();
  const cpuBefore = process.cpuUsage();
  await executor.run(record, { heartbeat: async () => undefined, signal: new AbortController().signal });
  const eraseEnded = process.hrtime.bigint();
  const eraseCpu = process.cpuUsage(cpuBefore);
  erasing = false;
  const besideRate = writtenBetween(eraseStarted, eraseEnded) / (Number(eraseEnded - eraseStarted) / 1e9);
  await beside;

  const state = await new PrivacyRequestRepository(() => ch).get(record.requestId);
  const stepSeconds: Record<string, number> = {};
  let previous = eraseStartedAt;
  for (const { step, at } of clock.steps) {
    stepSeconds[step] = +((at - previous) / 1000).toFixed(2);
    previous = at;
  }
  const [events10m] = await ch.query<{ n: string }>('SELECT count() AS n FROM events_store');
  console.log(
    JSON.stringify(
      {
        profiles,
        eventsInClickHouse: Number(events10m?.n),
        generationSeconds,
        erase: {
          status: state?.status,
          verified: state?.report?.verified,
          eventsOfThePerson: Number(before?.n),
          deletedRows: Object.fromEntries(
            (state?.report?.clickhouse ?? []).filter((s) => s.deleted > 0).map((s) => [s.store, s.deleted]),
          ),
          seconds: +(Number(eraseEnded - eraseStarted) / 1e9).toFixed(2),
          // The whole process: the erase and the ingest beside it.
          processCpuSeconds: +((eraseCpu.user + eraseCpu.system) / 1e6).toFixed(2),
          stepSeconds,
          slowestStatements: timing.slowest(12),
        },
        ingest: {
          eventsPerSecondAlone: Math.round(aloneRate),
          eventsPerSecondDuringErase: Math.round(besideRate),
          ratio: +(besideRate / aloneRate).toFixed(3),
        },
        peakRssMiB: Math.round(process.resourceUsage().maxRSS / 1024),
        // The machine's 1-minute load average when the erase began and ended (other work included).
        loadAverage: [+loadAtStart.toFixed(1), +os.loadavg()[0]!.toFixed(1)],
      },
      null,
      2,
    ),
  );
  await segments.stop();
  await producer.disconnect();
  await ch.close();
  fs.rmSync(home, { recursive: true, force: true });
}

main().then(
  () => process.exit(0),
  (error: unknown) => {
    console.error(error);
    process.exit(1);
  },
);
