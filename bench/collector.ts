/**
 * Collector throughput and latency (issue 3), beside Kafka's own producer on the same broker.
 *
 *   npm run bench -- collector        (or: npm run build && node dist/bench/collector.js)
 *
 * 1. Starts the built collector (dist/) with its own topics against KAFKA_BROKERS /
 *    SCHEMA_REGISTRY_URL (default: the local stack).
 * 2. Throughput: `concurrency` keep-alive clients POST /v1/batch (100 events of ~500 bytes
 *    JSON each) as fast as answers come back, for `seconds`; counts events answered 200
 *    (i.e. acknowledged by Kafka with acks=all).
 * 3. Latency: an open-loop load at half that event rate (requests start on a fixed schedule,
 *    whether or not earlier ones have been answered); p50/p99 of request latency.
 * 4. The collector's peak RSS over both phases (/proc/<pid>/status).
 * 5. kafka-producer-perf-test (org.apache.kafka.tools.ProducerPerformance from the Kafka
 *    jars `kumiki up` downloaded) with acks=all, idempotence, the Avro record size the
 *    collector writes, on the same broker.
 * The load generator runs on the same machine as the collector and the broker, and takes
 * CPU from both; figures are for the whole machine, as a user of `kumiki up` would see them.
 */
import { spawn } from 'node:child_process';
import { randomUUID } from 'node:crypto';
import http from 'node:http';
import os from 'node:os';
import path from 'node:path';
import pino from 'pino';
import { schema } from '../schemas';
import { normaliseEvent } from '../services/common/events/normalise-event.step';
import { validateMessage } from '../services/common/events/validate-message.step';
import { createKafkaClient } from '../services/common/kafka/client';
import { freePort, kafkaPerfTest, line, percentile, rssOf } from './support/measure';

const brokers = (process.env.KAFKA_BROKERS ?? '127.0.0.1:9092').split(',');
const registryUrl = process.env.SCHEMA_REGISTRY_URL ?? 'http://127.0.0.1:8081/apis/ccompat/v7';
const seconds = Number(process.env.BENCH_SECONDS ?? 15);
const concurrency = Number(process.env.BENCH_CONCURRENCY ?? 16);
const eventsPerRequest = 100;
const root = path.resolve(__dirname, '..', '..');
/** Extra node flags for the collector process (e.g. --cpu-prof while tuning). */
const collectorNodeFlags = (process.env.BENCH_COLLECTOR_NODE_FLAGS ?? '').split(' ').filter(Boolean);

function sampleEvent(i: number): Record<string, unknown> {
  return {
    type: 'track',
    event: 'Product Viewed',
    userId: `user-${(i * 7919) % 100_000}`,
    anonymousId: randomUUID(),
    messageId: randomUUID(),
    timestamp: new Date().toISOString(),
    properties: {
      product_id: `p-${i % 5000}`,
      sku: `SKU-${i % 5000}-XL`,
      category: 'Outdoor / Jackets',
      name: 'Storm shell jacket',
      price: 189.95,
      currency: 'EUR',
    },
    context: {
      ip: '203.0.113.42',
      userAgent: 'Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 Chrome/126.0',
      library: { name: 'analytics.js', version: '5.2.0' },
    },
  };
}

async function main(): Promise<void> {
  const run = Date.now().toString(36);
  const eventsTopic = `bench-collector-${run}`;
  const perfTopic = `bench-perf-${run}`;
  const admin = createKafkaClient({ brokers, clientId: 'bench', logger: pino({ level: 'silent' }) }).admin();
  await admin.connect();
  await admin.ensureTopics([
    { name: perfTopic, partitions: 6, cleanup: 'delete', retentionMs: 3_600_000, key: 'bench' },
  ]);

  const port = await freePort();
  const writeKey = 'wk_bench_collector';
  const collector = spawn(
    process.execPath,
    [...collectorNodeFlags, path.join(root, 'dist', 'services', 'collector', 'main.js')],
    {
      env: {
        PATH: process.env.PATH ?? '',
        KAFKA_BROKERS: brokers.join(','),
        SCHEMA_REGISTRY_URL: registryUrl,
        HTTP_PORT: String(port),
        KUMIKI_WRITE_KEY: writeKey,
        COLLECTOR_EVENTS_TOPIC: eventsTopic,
        COLLECTOR_DLQ_TOPIC: `bench-dlq-${run}`,
        LOG_LEVEL: 'warn',
      },
      stdio: ['ignore', 'ignore', 'inherit'],
    },
  );
  const base = `http://127.0.0.1:${port}`;
  for (let i = 0; ; i++) {
    try {
      if ((await fetch(`${base}/ready`)).status === 200) break;
    } catch {
      // not listening yet
    }
    if (i > 600) throw new Error('collector did not become ready');
    await new Promise((resolve) => setTimeout(resolve, 100));
  }

  const bodies = Array.from({ length: 64 }, (_, r) =>
    Buffer.from(
      JSON.stringify({
        batch: Array.from({ length: eventsPerRequest }, (_, i) => sampleEvent(r * eventsPerRequest + i)),
      }),
    ),
  );
  const eventBytes = Math.round(bodies[0]!.length / eventsPerRequest);
  const agent = new http.Agent({ keepAlive: true, maxSockets: concurrency * 2 });
  const auth = `Basic ${Buffer.from(`${writeKey}:`).toString('base64')}`;
  let bodyIndex = 0;
  const post = (): Promise<{ status: number; ms: number }> =>
    new Promise((resolve) => {
      const body = bodies[bodyIndex++ % bodies.length]!;
      const started = process.hrtime.bigint();
      const request = http.request(
        `${base}/v1/batch`,
        {
          method: 'POST',
          agent,
          headers: { authorization: auth, 'content-type': 'application/json', 'content-length': body.length },
        },
        (response) => {
          response.resume();
          response.on('end', () =>
            resolve({ status: response.statusCode ?? 0, ms: Number(process.hrtime.bigint() - started) / 1e6 }),
          );
        },
      );
      request.on('error', () => resolve({ status: 0, ms: Number(process.hrtime.bigint() - started) / 1e6 }));
      request.end(body);
    });

  let peakRss = 0;
  const sampler = setInterval(() => (peakRss = Math.max(peakRss, rssOf(collector.pid!))), 200);

  // Warm-up, then closed-loop throughput.
  const closedLoop = async (durationMs: number): Promise<{ accepted: number; statuses: Record<string, number> }> => {
    const until = Date.now() + durationMs;
    let accepted = 0;
    const statuses: Record<string, number> = {};
    await Promise.all(
      Array.from({ length: concurrency }, async () => {
        while (Date.now() < until) {
          const { status } = await post();
          statuses[status] = (statuses[status] ?? 0) + 1;
          if (status === 200) accepted += eventsPerRequest;
        }
      }),
    );
    return { accepted, statuses };
  };
  await closedLoop(3_000);
  const started = Date.now();
  const throughput = await closedLoop(seconds * 1000);
  const eventsPerSecond = throughput.accepted / ((Date.now() - started) / 1000);

  // Open loop at half the rate.
  const requestsPerSecond = eventsPerSecond / 2 / eventsPerRequest;
  const interval = 1000 / requestsPerSecond;
  const latencies: number[] = [];
  const pending: Promise<void>[] = [];
  const latencyStart = Date.now();
  let failures = 0;
  for (let n = 0; Date.now() - latencyStart < seconds * 1000; n++) {
    const due = latencyStart + n * interval;
    const wait = due - Date.now();
    if (wait > 0) await new Promise((resolve) => setTimeout(resolve, wait));
    pending.push(
      post().then(({ status, ms }) => {
        if (status === 200) latencies.push(ms);
        else failures += 1;
      }),
    );
  }
  await Promise.all(pending);
  clearInterval(sampler);
  latencies.sort((a, b) => a - b);

  collector.kill('SIGTERM');
  await new Promise((resolve) => collector.on('exit', resolve));

  // Kafka's own producer, same broker, same record size (the Avro record the collector writes).
  const validated = validateMessage(sampleEvent(1));
  const event =
    validated.kind === 'ok'
      ? normaliseEvent(validated.value, {
          receivedAt: Date.now(),
          batchSentAt: undefined,
          source: { source: 'default', channel: 'web' },
        })
      : undefined;
  const recordSize = event?.kind === 'ok' ? schema('Event').type.toBuffer(event.value).length + 5 : 450;
  const perf = kafkaPerfTest(brokers, perfTopic, recordSize, Math.max(200_000, Math.round(eventsPerSecond * 10)));
  await admin.deleteTopics([perfTopic, eventsTopic, `bench-dlq-${run}`]).catch(() => undefined);
  await admin.disconnect();

  line('machine', `${os.cpus().length} cores, ${(os.totalmem() / 2 ** 30).toFixed(1)} GiB`);
  line('request', `POST /v1/batch, ${eventsPerRequest} events of ~${eventBytes} bytes JSON, ${concurrency} clients`);
  line(
    'collector accepted events/s (acks=all)',
    `${Math.round(eventsPerSecond).toLocaleString('en')}  (status counts ${JSON.stringify(throughput.statuses)})`,
  );
  line(
    `latency at ${Math.round(eventsPerSecond / 2).toLocaleString('en')} events/s: p50 / p99`,
    `${percentile(latencies, 50).toFixed(1)} ms / ${percentile(latencies, 99).toFixed(1)} ms  (${latencies.length} requests, ${failures} not 200)`,
  );
  line('collector peak RSS', `${(peakRss / 2 ** 20).toFixed(0)} MB`);
  if (perf) {
    line(
      `kafka-producer-perf-test (${recordSize} B records)`,
      `${Math.round(perf.recordsPerSecond).toLocaleString('en')} records/s, p50 ${perf.p50} ms, p99 ${perf.p99} ms`,
    );
    line('collector / Kafka producer', `${((eventsPerSecond / perf.recordsPerSecond) * 100).toFixed(0)} %`);
  } else line('kafka-producer-perf-test', 'not run (Kafka jars not found; run `kumiki up` once to fetch them)');
}

main().then(
  () => process.exit(0),
  (error: unknown) => {
    process.stderr.write(`bench collector: ${error instanceof Error ? error.stack : String(error)}\n`);
    process.exit(1);
  },
);
