/**
 * The whole pipeline on one machine (issue 7): collector → Kafka → identity-stitcher → Kafka →
 * profile-materializer → embedded ClickHouse, every process co-located on this host.
 *
 *   npm run bench -- pipeline        (or: npm run build && node dist/bench/pipeline.js)
 *
 * 1. Starts the three built services (dist/) as child processes on fresh topics, a fresh group
 *    and a temporary KUMIKI_HOME (its own embedded ClickHouse). Their logs go to a temporary
 *    directory; a service that exits before the run is over stops it, naming its log. The run's
 *    topics and temporary stores are removed at the end (its logs too, unless a service failed).
 * 2. Warm-up, not measured: BENCH_WARMUP_EVENTS (default 30,000) of the same traffic through
 *    the whole pipeline, so the services' and the broker's JIT compilers have done their work
 *    (without it, a broker started just before gave half the throughput). The measured events
 *    then meet the people the warm-up created, as returning visitors do.
 * 3. Sustained throughput: BENCH_EVENTS events (default 100,000, ~500 bytes each) posted to
 *    /v1/batch by 16 clients as fast as the collector acknowledges them; the figure is events
 *    divided by the time from the first request to the moment all of them are queryable in
 *    ClickHouse and the materializer's consumer group has no lag (its profile updates are out:
 *    it commits only after producing them).
 * 4. Latency at half that rate, open loop, for BENCH_LATENCY_SECONDS (default 20): for each
 *    event, from the collector's 200 to the first poll (every 100 ms) that finds its row in
 *    `events_store`. p50 / p95 / p99.
 * 5. Peak RSS (VmHWM) of each service, and the CPU seconds each process (this load generator
 *    included) used during the throughput phase: where the two cores went.
 * 6. References in the same run: Kafka's own kafka-producer-perf-test with the same record
 *    size and acks=all; a raw @clickhouse/client insert of the same rows (JSONEachRow, 5,000 per
 *    insert) into a fresh embedded database.
 */
import { randomUUID } from 'node:crypto';
import { once } from 'node:events';
import { setTimeout as delay } from 'node:timers/promises';
import { closeSync, mkdtempSync, openSync, rmSync } from 'node:fs';
import http from 'node:http';
import os from 'node:os';
import path from 'node:path';
import pino from 'pino';
import { spawn, type ChildProcess } from 'node:child_process';
import type { StitchedEvent } from '../schemas';
import { createClickHouse } from '../services/common/clickhouse/client-factory';
import { runMigrations } from '../services/common/clickhouse/migrations';
import { createKafkaClient } from '../services/common/kafka/client';
import { toEventRow } from '../services/profile-materializer/store-rows';
import { cpuSecondsOf, freePort, kafkaPerfTest, line, percentile, rssOf } from './support/measure';

const brokers = (process.env.KAFKA_BROKERS ?? '127.0.0.1:9092').split(',');
const registryUrl = process.env.SCHEMA_REGISTRY_URL ?? 'http://127.0.0.1:8081/apis/ccompat/v7';
const totalEvents = Number(process.env.BENCH_EVENTS ?? 100_000);
const warmupEvents = Number(process.env.BENCH_WARMUP_EVENTS ?? 30_000);
const latencySeconds = Number(process.env.BENCH_LATENCY_SECONDS ?? 20);
const clients = 16;
const perRequest = 100;
const root = path.resolve(__dirname, '..', '..');
const logger = pino({ level: 'warn' });
const adminToken = 'adm_bench_pipeline_token_000';
const writeKey = 'wk_bench_pipeline';
const agent = new http.Agent({ keepAlive: true, maxSockets: clients * 2 });

/** ~500 bytes of Segment JSON: browsing, carts and some orders of 20,000 people. */
function sampleEvent(id: string, i: number): Record<string, unknown> {
  const person = (i * 7919) % 20_000;
  const order = i % 20 === 0;
  return {
    type: 'track',
    event: order ? 'Order Completed' : i % 3 === 0 ? 'Product Added' : 'Product Viewed',
    userId: `user-${person}`,
    anonymousId: `anon-${person}`,
    messageId: id,
    timestamp: new Date().toISOString(),
    properties: order
      ? {
          order_id: `o-${id}`,
          revenue: 20 + (i % 180),
          currency: 'EUR',
          products: [{ sku: `SKU-${i % 500}`, quantity: 1 }],
        }
      : {
          product_id: `p-${i % 5000}`,
          sku: `SKU-${i % 5000}-XL`,
          category: 'Outdoor / Jackets',
          price: 189.95,
          currency: 'EUR',
        },
    context: {
      ip: '203.0.113.42',
      userAgent: 'Mozilla/5.0 (X11; Linux x86_64) Chrome/126.0',
      library: { name: 'analytics.js', version: '5.2.0' },
      page: { path: '/p/jacket' },
    },
  };
}

function post(
  port: number,
  pathname: string,
  body: string,
  headers: Record<string, string>,
): Promise<{ status: number; text: string }> {
  return new Promise((resolve, reject) => {
    const request = http.request(
      {
        host: '127.0.0.1',
        port,
        path: pathname,
        method: 'POST',
        agent,
        headers: { 'content-type': 'application/json', 'content-length': Buffer.byteLength(body), ...headers },
      },
      (response) => {
        let text = '';
        response.setEncoding('utf8');
        response.on('data', (chunk: string) => (text += chunk));
        response.on('end', () => resolve({ status: response.statusCode ?? 0, text }));
      },
    );
    request.on('error', reject);
    request.end(body);
  });
}

interface Stack {
  readonly collectorPort: number;
  readonly materializerPort: number;
  readonly materializerGroup: string;
  readonly inputTopics: string[];
  readonly processes: Record<string, ChildProcess>;
  /** Where the services log. */
  readonly logs: string;
}

async function startStack(run: string): Promise<Stack> {
  const topic = (name: string) => `bench-${run}.${name}`;
  const [collectorPort, stitcherPort, materializerPort] = [await freePort(), await freePort(), await freePort()];
  // Service tuning can be tried from the environment (COLLECTOR_*, STITCHER_*, MATERIALIZER_*, SEGMENT_*, NODE_OPTIONS, MALLOC_ARENA_MAX).
  const tuning = Object.fromEntries(
    Object.entries(process.env).filter(
      ([name]) =>
        /^(COLLECTOR|STITCHER|MATERIALIZER|SEGMENT)_/.test(name) ||
        name === 'NODE_OPTIONS' ||
        name === 'MALLOC_ARENA_MAX',
    ),
  ) as Record<string, string>;
  const base = {
    PATH: process.env.PATH ?? '',
    KAFKA_BROKERS: brokers.join(','),
    SCHEMA_REGISTRY_URL: registryUrl,
    LOG_LEVEL: 'warn',
    ...tuning,
  };
  // Each service logs (pino, stdout) to its own file, named when it exits before the run is over.
  const logs = mkdtempSync(path.join(os.tmpdir(), `kumiki-bench-pipeline-logs-${run}-`));
  const start = (service: string, env: Record<string, string>): ChildProcess => {
    const log = openSync(path.join(logs, `${service}.log`), 'a');
    const child = spawn(process.execPath, [path.join(root, 'dist', 'services', service, 'main.js')], {
      env: { ...base, ...env },
      stdio: ['ignore', log, log],
    });
    closeSync(log); // the child has its own copy
    child.on('exit', (code, signal) => {
      if (!stopping)
        serviceExit ??= new Error(
          `${service} exited (${signal ?? `code ${code}`}) during the run; its log: ${path.join(logs, `${service}.log`)}`,
        );
    });
    return child;
  };
  const materializerGroup = `bench-${run}-materializer`;
  const processes = {
    'profile-materializer': start('profile-materializer', {
      HTTP_PORT: String(materializerPort),
      KUMIKI_ADMIN_TOKEN: adminToken,
      KUMIKI_HOME: scratchDir('kumiki-bench-pipeline-'),
      MATERIALIZER_STITCHED_TOPIC: topic('stitched'),
      MATERIALIZER_CHANGES_TOPIC: topic('changes'),
      MATERIALIZER_UPDATES_TOPIC: topic('updates'),
      MATERIALIZER_DLQ_TOPIC: topic('dlq'),
      MATERIALIZER_GROUP_ID: materializerGroup,
    }),
    'identity-stitcher': start('identity-stitcher', {
      HTTP_PORT: String(stitcherPort),
      STITCHER_RAW_TOPIC: topic('raw'),
      STITCHER_JSON_TOPIC: topic('json'),
      STITCHER_STITCHED_TOPIC: topic('stitched'),
      STITCHER_CHANGES_TOPIC: topic('changes'),
      STITCHER_GRAPH_TOPIC: topic('graph'),
      STITCHER_DLQ_TOPIC: topic('dlq'),
      STITCHER_GROUP_ID: `bench-${run}-stitcher`,
      STITCHER_TRANSACTIONAL_ID: `bench-${run}-stitcher`,
    }),
    collector: start('collector', {
      HTTP_PORT: String(collectorPort),
      KUMIKI_WRITE_KEY: writeKey,
      COLLECTOR_EVENTS_TOPIC: topic('raw'),
      COLLECTOR_DLQ_TOPIC: topic('dlq'),
    }),
  };
  try {
    for (const [service, port] of [
      ['profile-materializer', materializerPort],
      ['identity-stitcher', stitcherPort],
      ['collector', collectorPort],
    ] as const) {
      await until(
        async () => (await fetch(`http://127.0.0.1:${port}/ready`)).status === 200,
        120_000,
        `${service} ready (its log: ${path.join(logs, `${service}.log`)})`,
      );
    }
  } catch (error) {
    await stopServices(processes);
    removeScratch();
    throw error;
  }
  return {
    collectorPort,
    materializerPort,
    materializerGroup,
    inputTopics: [topic('stitched'), topic('changes')],
    processes,
    logs,
  };
}

/** Set once the services are being stopped on purpose. */
let stopping = false;
/** Set when a service exits before that: every wait fails with it instead of timing out. */
let serviceExit: Error | null = null;

/** Temporary directories of this run (embedded ClickHouse stores), removed when it ends. */
const scratch: string[] = [];
function scratchDir(prefix: string): string {
  const dir = mkdtempSync(path.join(os.tmpdir(), prefix));
  scratch.push(dir);
  return dir;
}
function removeScratch(): void {
  for (const dir of scratch.splice(0)) rmSync(dir, { recursive: true, force: true });
}

/** SIGTERM to the services still running, then waits (30 s at most) until they have exited. */
async function stopServices(processes: Record<string, ChildProcess>): Promise<void> {
  stopping = true;
  const running = Object.values(processes).filter((child) => child.exitCode === null && child.signalCode === null);
  const exited = Promise.all(running.map((child) => once(child, 'exit')));
  for (const child of running) child.kill('SIGTERM');
  await Promise.race([exited, delay(30_000)]);
}

async function until(check: () => Promise<boolean>, timeoutMs: number, what: string, intervalMs = 100): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    if (serviceExit) throw serviceExit;
    if (await check().catch(() => false)) return;
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((resolve) => setTimeout(resolve, intervalMs));
  }
}

async function sql<T>(stack: Stack, query: string, params: Record<string, unknown> = {}): Promise<T[]> {
  const response = await fetch(`http://127.0.0.1:${stack.materializerPort}/v1/sql`, {
    method: 'POST',
    headers: { authorization: `Bearer ${adminToken}`, 'content-type': 'application/json' },
    body: JSON.stringify({ query, params }),
  });
  const body = (await response.json()) as { rows?: T[]; message?: string };
  if (!response.ok) throw new Error(`read API: ${body.message ?? response.status}`);
  return body.rows ?? [];
}

async function sendBatch(stack: Stack, events: Record<string, unknown>[]): Promise<void> {
  const auth = `Basic ${Buffer.from(`${writeKey}:`).toString('base64')}`;
  for (;;) {
    const answer = await post(
      stack.collectorPort,
      '/v1/batch',
      JSON.stringify({ batch: events, sentAt: new Date().toISOString() }),
      { authorization: auth },
    );
    if (answer.status === 200) return;
    if (answer.status !== 429 && answer.status !== 503)
      throw new Error(`collector answered ${answer.status}: ${answer.text}`);
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
}

/**
 * Posts `count` events (ids `<prefix>-<n>`) by `clients` concurrent clients as fast as the
 * collector acknowledges them, then waits until `queryable` events are in events_store and the
 * materializer's group has no lag (its profile updates are out: it commits only after them).
 */
async function sendAndDrain(
  stack: Stack,
  prefix: string,
  count: number,
  queryable: number,
  onAccepted: (seconds: number) => void = () => undefined,
): Promise<void> {
  const admin = createKafkaClient({ brokers, clientId: 'bench', logger }).admin();
  await admin.connect();
  try {
    let next = 0;
    const requests = Math.ceil(count / perRequest);
    const started = Date.now();
    await Promise.all(
      Array.from({ length: clients }, async () => {
        for (let r = next++; r < requests; r = next++) {
          const events = Array.from({ length: Math.min(perRequest, count - r * perRequest) }, (_, k) =>
            sampleEvent(`${prefix}-${String(r * perRequest + k).padStart(9, '0')}`, r * perRequest + k),
          );
          await sendBatch(stack, events);
        }
      }),
    );
    onAccepted((Date.now() - started) / 1000);
    await until(
      async () => Number((await sql<{ n: string }>(stack, 'SELECT count() AS n FROM events_store'))[0]?.n) >= queryable,
      600_000,
      'every event queryable',
      250,
    );
    await until(
      async () => (await admin.groupLag(stack.materializerGroup, stack.inputTopics)).every((p) => p.lag === 0),
      600_000,
      'materializer lag 0',
      250,
    );
  } finally {
    await admin.disconnect();
  }
}

/**
 * Warm-up, not measured: the same traffic through the whole pipeline first, so the figures are
 * those of running services and a running broker, not of JIT compilers at work (a broker started
 * just before gave about half the throughput).
 */
async function warmUpPhase(stack: Stack, run: string): Promise<void> {
  if (warmupEvents === 0) return;
  await sendAndDrain(stack, `w-${run}`, warmupEvents, warmupEvents);
  process.stdout.write(`  warm-up: ${warmupEvents} events through the pipeline\n`);
}

async function throughputPhase(
  stack: Stack,
  run: string,
): Promise<{ eventsPerSecond: number; seconds: number; eventBytes: number; cpuSeconds: Record<string, number> }> {
  const cpuBefore = cpuSecondsByProcess(stack);
  const eventBytes = Buffer.byteLength(JSON.stringify(sampleEvent(`t-${run}-000000000`, 1)));
  const started = Date.now();
  await sendAndDrain(stack, `t-${run}`, totalEvents, warmupEvents + totalEvents, (accepted) =>
    process.stdout.write(`  accepted ${totalEvents} events in ${accepted.toFixed(1)} s; waiting until queryable…\n`),
  );
  const seconds = (Date.now() - started) / 1000;
  const cpuAfter = cpuSecondsByProcess(stack);
  const cpuSeconds = Object.fromEntries(
    Object.entries(cpuAfter).map(([name, used]) => [name, used - cpuBefore[name]!]),
  );
  return { eventsPerSecond: totalEvents / seconds, seconds, eventBytes, cpuSeconds };
}

/** CPU seconds used so far by each service and by this process (the load generator). */
function cpuSecondsByProcess(stack: Stack): Record<string, number> {
  const usage = process.cpuUsage();
  return {
    ...Object.fromEntries(Object.entries(stack.processes).map(([name, child]) => [name, cpuSecondsOf(child.pid ?? 0)])),
    'load generator': (usage.user + usage.system) / 1e6,
  };
}

async function latencyPhase(
  stack: Stack,
  run: string,
  eventsPerSecond: number,
): Promise<{ latencies: number[]; unseen: number }> {
  const perTick = 20;
  const ticksPerSecond = Math.max(1, eventsPerSecond / perTick);
  const ticks = Math.floor(latencySeconds * ticksPerSecond);
  /** Accepted by the collector and not yet seen in ClickHouse: id → when the 200 came. */
  const pending = new Map<string, number>();
  const latencies: number[] = [];
  let sending = true;
  const poller = (async () => {
    const giveUp = () => !sending && Date.now() > sendingEnded + 60_000;
    while ((sending || pending.size > 0) && !giveUp()) {
      // Ids are zero-padded in send order, so the range bounds one primary-key range of events_store.
      const ids = [...pending.keys()].slice(0, 5_000).sort();
      if (ids.length > 0) {
        const rows = await sql<{ message_id: string }>(
          stack,
          'SELECT message_id FROM events_store WHERE message_id >= {lo:String} AND message_id <= {hi:String} AND message_id IN {ids:Array(String)}',
          {
            lo: ids[0],
            hi: ids.at(-1),
            ids,
          },
        );
        const seen = Date.now();
        for (const { message_id: id } of rows) {
          const at = pending.get(id);
          if (at !== undefined) latencies.push(seen - at);
          pending.delete(id);
        }
      }
      await new Promise((resolve) => setTimeout(resolve, 100));
    }
  })();
  let sendingEnded = Number.POSITIVE_INFINITY;
  const started = Date.now();
  const inFlight: Promise<void>[] = [];
  for (let tick = 0; tick < ticks; tick++) {
    const wait = started + (tick * 1000) / ticksPerSecond - Date.now();
    if (wait > 0) await new Promise((resolve) => setTimeout(resolve, wait));
    const batch = Array.from({ length: perTick }, (_, k) =>
      sampleEvent(`l-${run}-${String(tick * perTick + k).padStart(9, '0')}`, tick * perTick + k),
    );
    inFlight.push(
      sendBatch(stack, batch).then(() => {
        const now = Date.now();
        for (const event of batch) pending.set(event.messageId as string, now);
      }),
    );
  }
  await Promise.all(inFlight);
  sendingEnded = Date.now();
  sending = false;
  await poller;
  return { latencies: latencies.sort((a, b) => a - b), unseen: pending.size };
}

/** The reference: the same rows, inserted straight into a fresh embedded database. */
async function rawInsert(run: string): Promise<number> {
  const home = scratchDir('kumiki-bench-raw-');
  const ch = await createClickHouse(
    {
      CLICKHOUSE_URL: undefined,
      CLICKHOUSE_USER: 'default',
      CLICKHOUSE_PASSWORD: '',
      CLICKHOUSE_DATABASE: 'bench_raw',
      KUMIKI_HOME: home,
    },
    logger,
  );
  await runMigrations(ch, { logger });
  const now = Date.now();
  const rows = Array.from({ length: totalEvents }, (_, i) => {
    const event = sampleEvent(`r-${run}-${String(i).padStart(9, '0')}`, i) as Record<string, unknown> & {
      userId: string;
      anonymousId: string;
      messageId: string;
    };
    const record: StitchedEvent = {
      profileId: `p_${event.userId}`,
      identifiers: [{ type: 'user_id', value: event.userId }],
      stitchedAt: now,
      event: {
        messageId: event.messageId,
        type: 'track',
        event: event.event as string,
        name: null,
        userId: event.userId,
        anonymousId: event.anonymousId,
        previousId: null,
        groupId: null,
        timestamp: now,
        sentAt: now,
        receivedAt: now,
        channel: 'web',
        source: 'default',
        context: JSON.stringify(event.context),
        properties: JSON.stringify(event.properties),
        traits: '{}',
        consent: {},
      },
    };
    return toEventRow(record);
  });
  const started = Date.now();
  for (let i = 0; i < rows.length; i += 5_000) await ch.insert('events_store', rows.slice(i, i + 5_000));
  const seconds = (Date.now() - started) / 1000;
  await ch.close();
  return totalEvents / seconds;
}

async function main(): Promise<void> {
  const run = Date.now().toString(36) + randomUUID().slice(0, 4);
  const stack = await startStack(run);
  const peaks: Record<string, number> = {};
  const sampler = setInterval(() => {
    for (const [name, child] of Object.entries(stack.processes))
      peaks[name] = Math.max(peaks[name] ?? 0, rssOf(child.pid ?? 0, 'VmHWM'));
  }, 500);
  try {
    process.stdout.write(
      `pipeline: ${warmupEvents} events to warm up, ${totalEvents} measured, then ${latencySeconds} s at half rate\n`,
    );
    await warmUpPhase(stack, run);
    const throughput = await throughputPhase(stack, run);
    const { latencies, unseen } = await latencyPhase(stack, run, throughput.eventsPerSecond / 2);
    for (const [name, child] of Object.entries(stack.processes))
      peaks[name] = Math.max(peaks[name] ?? 0, rssOf(child.pid ?? 0, 'VmHWM'));
    await stopServices(stack.processes);
    const avroBytes = 420;
    // The broker does not create topics on first use: the reference gets its own, like ours.
    const perfTopic = `bench-${run}.perf`;
    const admin = createKafkaClient({ brokers, clientId: 'bench', logger }).admin();
    await admin.connect();
    await admin.ensureTopics([
      { name: perfTopic, partitions: 6, cleanup: 'delete', retentionMs: 3_600_000, key: 'bench' },
    ]);
    const perf = kafkaPerfTest(brokers, perfTopic, avroBytes, 200_000);
    await admin.deleteTopics([perfTopic]).catch(() => undefined);
    await admin.disconnect();
    const raw = await rawInsert(run);

    process.stdout.write('\n');
    line('machine', `${os.cpus().length} cores, ${(os.totalmem() / 2 ** 30).toFixed(1)} GiB, everything co-located`);
    line(
      'end-to-end sustained events/s (queryable, updates out)',
      `${Math.round(throughput.eventsPerSecond).toLocaleString('en')}  (${totalEvents} events of ~${throughput.eventBytes} B JSON in ${throughput.seconds.toFixed(1)} s)`,
    );
    line(
      `accept → queryable at ${Math.round(throughput.eventsPerSecond / 2).toLocaleString('en')}/s: p50/p95/p99`,
      `${percentile(latencies, 50)} / ${percentile(latencies, 95)} / ${percentile(latencies, 99)} ms  (${latencies.length} events${unseen > 0 ? `, ${unseen} not queryable within 60 s` : ''})`,
    );
    for (const [name, bytes] of Object.entries(peaks)) line(`peak RSS ${name}`, `${(bytes / 2 ** 20).toFixed(0)} MB`);
    const available = os.cpus().length * throughput.seconds;
    for (const [name, used] of Object.entries(throughput.cpuSeconds)) {
      if (Number.isFinite(used))
        line(
          `CPU ${name} (throughput phase)`,
          `${used.toFixed(1)} s  (${((used / available) * 100).toFixed(0)} % of the cores' ${available.toFixed(0)} s)`,
        );
    }
    if (perf) {
      line(
        `kafka-producer-perf-test (${avroBytes} B, acks=all)`,
        `${Math.round(perf.recordsPerSecond).toLocaleString('en')} records/s`,
      );
      line(
        'end-to-end / Kafka producer',
        `${((throughput.eventsPerSecond / perf.recordsPerSecond) * 100).toFixed(0)} %`,
      );
    }
    line('raw ClickHouse insert of the same rows (5,000/insert)', `${Math.round(raw).toLocaleString('en')} rows/s`);
    line('end-to-end / raw insert', `${((throughput.eventsPerSecond / raw) * 100).toFixed(0)} %`);
  } finally {
    clearInterval(sampler);
    await stopServices(stack.processes);
    await deleteRunTopics(run);
    removeScratch();
    // The services' logs are kept only when one of them exited early (the error names its file).
    if (!serviceExit) rmSync(stack.logs, { recursive: true, force: true });
  }
}

/**
 * Deletes the topics this run created (the services create theirs on start): a broker left with
 * every run's topics ends up spending its heap on thousands of partitions.
 */
async function deleteRunTopics(run: string): Promise<void> {
  const admin = createKafkaClient({ brokers, clientId: 'bench', logger }).admin();
  try {
    await admin.connect();
    const mine = (await admin.listTopics()).filter((name) => name.startsWith(`bench-${run}.`));
    if (mine.length > 0) await admin.deleteTopics(mine);
  } catch (error) {
    process.stderr.write(
      `bench pipeline: could not delete this run's topics: ${error instanceof Error ? error.message : String(error)}\n`,
    );
  } finally {
    await admin.disconnect().catch(() => undefined);
  }
}

main().then(
  () => process.exit(0),
  (error: unknown) => {
    process.stderr.write(`bench pipeline: ${error instanceof Error ? error.stack : String(error)}\n`);
    process.exit(1);
  },
);
