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
 *    and a local Kafka broker included) used during the throughput phase: where the two cores went.
 * 6. References in the same run: Kafka's own kafka-producer-perf-test with the same record
 *    size and acks=all; a raw @clickhouse/client insert of the same rows (JSONEachRow, 5,000 per
 *    insert) into a fresh embedded database.
 */
import { randomUUID } from 'node:crypto';
import { rmSync } from 'node:fs';
import os from 'node:os';
import pino from 'pino';
import type { StitchedEvent } from '../schemas';
import { createClickHouse } from '../services/common/clickhouse/client-factory';
import { runMigrations } from '../services/common/clickhouse/migrations';
import { createKafkaClient } from '../services/common/kafka/client';
import { toEventRow } from '../services/profile-materializer/store-rows';
import { cpuSecondsOf, kafkaPerfTest, line, localBrokerPid, percentile, rssOf } from './support/measure';
import {
  aServiceFailed,
  brokers,
  removeScratch,
  scratchDir,
  sql,
  startStack,
  stopServices,
  type Stack,
} from './support/pipeline-stack';
import { sampleEvent, sendAndDrain, sendBatch } from './support/pipeline-traffic';

const totalEvents = Number(process.env.BENCH_EVENTS ?? 100_000);
const warmupEvents = Number(process.env.BENCH_WARMUP_EVENTS ?? 30_000);
const logger = pino({ level: 'warn' });
const latencySeconds = Number(process.env.BENCH_LATENCY_SECONDS ?? 20);

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
  const brokerPid = await localBrokerPid();
  const cpuBefore = cpuSecondsByProcess(stack, brokerPid);
  const eventBytes = Buffer.byteLength(JSON.stringify(sampleEvent(`t-${run}-000000000`, 1)));
  const started = Date.now();
  await sendAndDrain(stack, `t-${run}`, totalEvents, warmupEvents + totalEvents, (accepted) =>
    process.stdout.write(`  accepted ${totalEvents} events in ${accepted.toFixed(1)} s; waiting until queryable…\n`),
  );
  const seconds = (Date.now() - started) / 1000;
  const cpuAfter = cpuSecondsByProcess(stack, brokerPid);
  const cpuSeconds = Object.fromEntries(
    Object.entries(cpuAfter).map(([name, used]) => [name, used - cpuBefore[name]!]),
  );
  return { eventsPerSecond: totalEvents / seconds, seconds, eventBytes, cpuSeconds };
}

/**
 * CPU seconds used so far by each service, by this process (the load generator) and by the Kafka
 * broker when it is the local one (NaN, and left out of the report, when it is not).
 */
function cpuSecondsByProcess(stack: Stack, brokerPid: number | undefined): Record<string, number> {
  const usage = process.cpuUsage();
  return {
    ...Object.fromEntries(Object.entries(stack.processes).map(([name, child]) => [name, cpuSecondsOf(child.pid ?? 0)])),
    'load generator': (usage.user + usage.system) / 1e6,
    'Kafka broker': brokerPid === undefined ? Number.NaN : cpuSecondsOf(brokerPid),
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
    if (!aServiceFailed()) rmSync(stack.logs, { recursive: true, force: true });
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
