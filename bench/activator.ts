/**
 * The activator: webhook deliveries per second, change → delivered latency, and audience
 * exports, on real Kafka and the real registry, the activator running as its own process
 * (dist/services/activator/main.js) as `kumiki up` runs it.
 *
 *   npm run bench -- activator                       # or, built:
 *   node dist/bench/activator.js [changes=40000] [exportMembers=1000000] [warmUp=20000]
 *
 * 1. Throughput. A webhook destination (consent checked, identifiers and a trait in the
 *    payload, every message signed) is paused while `changes` segment changes of 10,000 profiles
 *    are produced after `warmUp` others, then resumed: deliveries/s is `changes` over the time
 *    from the receipt of the last warm-up change to the last change (steady state: a service
 *    runs for days, and a fresh process spends its first seconds compiling its hot code; the
 *    warm-up's own rate, from its first receipt, is shown apart, as is the group's join). The
 *    reference, in the same run: a plain keep-alive HTTP client in this process posting the
 *    same number of bodies of the same size, as many at once as the activator's
 *    ACTIVATOR_CONCURRENCY, to the same receiver (its own process), after a warm-up of its own
 *    (`warmUp` requests), before and after the activator's run. Targets: ≥ 2,000/s and ≥ 0.5 of
 *    the better reference.
 * 2. Latency. Changes produced at half the measured rate for 15 s; latency = when the receiver
 *    got one minus the change's time (its `at`, set when it was produced). Target p95 ≤ 1 s.
 * 3. Exports. A segment of `exportMembers` members seeded in embedded ClickHouse and served by
 *    the read API (in this process), exported as CSV by the activator; time, and the
 *    activator's peak RSS during an export of a tenth of that size and during the full one
 *    (flat memory: the two peaks close, both near the idle RSS).
 */
import { fork, spawn } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import pino from 'pino';
import { segmentChangePayload } from '../services/activator/delivery/payloads';
import { createKafkaClient } from '../services/common/kafka/client';
import { topics } from '../services/common/kafka/topics';
import { seedAudience, serveReadApi } from './support/audience-fixture';
import { countArgument, cpuSecondsOf, freePort, line, localBrokerPid, percentile, rssOf } from './support/measure';
import { profileUpdate, segmentChange, UpstreamProducer } from './support/upstream';
import { benchClickHouse } from './support/bench-clickhouse';
import { plainHttpPosts } from './support/plain-http-client';

const changesCount = countArgument(2, 'changes', 40_000);
const exportMembers = countArgument(3, 'exportMembers', 1_000_000);
const warmUp = countArgument(4, 'warmUp', 20_000);
const concurrency = 64;
const profilesCount = 10_000;
const logger = pino({ level: 'warn' });
const brokers = (process.env.KAFKA_BROKERS ?? '127.0.0.1:9092').split(',');
const registryUrl = process.env.SCHEMA_REGISTRY_URL ?? 'http://127.0.0.1:8081/apis/ccompat/v7';
const adminToken = 'bench-admin-token-0123456789';
const root = path.resolve(__dirname, '..', '..');

interface ReceiverStats {
  count: number;
  first: number;
  last: number;
  /** When the count reached the mark set by the last reset (0 until then). */
  markedAt: number;
  latencies: number[];
}

async function main(): Promise<void> {
  const run = `bench-act-${Date.now().toString(36)}`;
  const names = {
    changes: `${run}.changes`,
    updates: `${run}.updates`,
    destinations: `${run}.destinations`,
    deliveries: `${run}.deliveries`,
    dlq: `${run}.dlq`,
    keys: `${run}.keys`,
    audit: `${run}.audit`,
    alerts: `${run}.alerts`,
    subjects: `${run}.subjects`,
    privacy: `${run}.privacy`,
    recipients: `${run}.recipients`,
  };
  const kafka = createKafkaClient({ brokers, clientId: run, logger });
  const admin = kafka.admin();
  await admin.connect();
  await admin.ensureTopics([
    { ...topics.segmentChanges, name: names.changes },
    { ...topics.profileUpdates, name: names.updates },
    { ...topics.destinations, name: names.destinations },
    { ...topics.deliveryAttempts, name: names.deliveries },
    { ...topics.destinationDeadLetters, name: names.dlq },
  ]);

  // The receiver, in its own process.
  const receiver = fork(path.join(__dirname, 'support', 'receiver-process.js'), [], { stdio: 'inherit' });
  const receiverPort = await new Promise<number>((resolve) =>
    receiver.once('message', (m: { port: number }) => resolve(m.port)),
  );
  const receiverUrl = `http://127.0.0.1:${receiverPort}/hooks`;
  // The machine's other CPU users per message, in each phase: the receiver, and the broker when it runs here.
  const brokerPid = await localBrokerPid();
  const othersCpu = (): { receiver: number; broker: number } => ({
    receiver: cpuSecondsOf(receiver.pid!),
    broker: brokerPid === undefined ? Number.NaN : cpuSecondsOf(brokerPid),
  });
  const othersPerMessage = (before: { receiver: number; broker: number }, messages: number): string => {
    const after = othersCpu();
    const us = (seconds: number): string => (Number.isNaN(seconds) ? '?' : ((seconds / messages) * 1e6).toFixed(0));
    return `${us(after.receiver - before.receiver)} / ${us(after.broker - before.broker)} µs`;
  };
  const stats = (): Promise<ReceiverStats> =>
    new Promise((resolve) => {
      receiver.once('message', (m: ReceiverStats) => resolve(m));
      receiver.send({ cmd: 'stats' });
    });
  const reset = (mark = 0): Promise<void> =>
    new Promise((resolve) => {
      receiver.once('message', () => resolve());
      receiver.send({ cmd: 'reset', mark });
    });

  // Embedded ClickHouse with the export segments, served by the read API here.
  const { ch, home } = await benchClickHouse('act', logger);
  const seeded = Date.now();
  const large = await seedAudience(ch, { members: exportMembers, name: 'large' });
  const largeSeconds = (Date.now() - seeded) / 1000;
  // The smaller segment: the first tenth of the same people.
  const small = await seedAudience(ch, { members: Math.floor(exportMembers / 10), name: 'small', profiles: false });
  const readApi = await serveReadApi(ch, { port: await freePort(), adminToken, logger });

  // The activator, as `kumiki up` runs it.
  const port = await freePort();
  const activatorUrl = `http://127.0.0.1:${port}`;
  const exportRoot = path.join(home, 'exports');
  // e.g. ACTIVATOR_NODE_ARGS=--cpu-prof to see where the activator's time goes.
  const nodeArgs = (process.env.ACTIVATOR_NODE_ARGS ?? '').split(' ').filter(Boolean);
  const child = spawn(process.execPath, [...nodeArgs, path.join(root, 'dist', 'services', 'activator', 'main.js')], {
    env: {
      // Other activator settings pass through (e.g. ACTIVATOR_MAX_PENDING), for experiments.
      ...Object.fromEntries(Object.entries(process.env).filter(([name]) => name.startsWith('ACTIVATOR_'))),
      PATH: process.env.PATH ?? '',
      KAFKA_BROKERS: brokers.join(','),
      SCHEMA_REGISTRY_URL: registryUrl,
      LOG_LEVEL: 'warn',
      HTTP_PORT: String(port),
      KUMIKI_HOME: home,
      KUMIKI_ADMIN_TOKEN: adminToken,
      KUMIKI_SECRETS_KEY: Buffer.alloc(32, 7).toString('base64'),
      KUMIKI_PRIVACY_KEY: 'ab'.repeat(32),
      KUMIKI_READ_API_URL: readApi.url,
      ACTIVATOR_CHANGES_TOPIC: names.changes,
      ACTIVATOR_UPDATES_TOPIC: names.updates,
      ACTIVATOR_DESTINATIONS_TOPIC: names.destinations,
      ACTIVATOR_DELIVERIES_TOPIC: names.deliveries,
      ACTIVATOR_DLQ_TOPIC: names.dlq,
      ACTIVATOR_SUBJECTS_TOPIC: names.subjects,
      ACTIVATOR_PRIVACY_TOPIC: names.privacy,
      ACTIVATOR_RECIPIENTS_TOPIC: names.recipients,
      // Every delivery of personal data is audited before it leaves, as in production.
      ACCESS_KEYS_TOPIC: names.keys,
      AUDIT_TOPIC: names.audit,
      SECURITY_ALERTS_TOPIC: names.alerts,
      ACTIVATOR_GROUP_PREFIX: run,
      ACTIVATOR_ALLOW_PRIVATE_TARGETS: 'true',
      ACTIVATOR_CONCURRENCY: String(concurrency),
      ACTIVATOR_EXPORT_ROOT: exportRoot,
    },
    stdio: ['ignore', 'inherit', 'inherit'],
  });
  const api = async <T>(method: string, pathname: string, body?: unknown): Promise<T> => {
    const response = await fetch(`${activatorUrl}${pathname}`, {
      method,
      headers: {
        authorization: `Bearer ${adminToken}`,
        ...(body === undefined ? {} : { 'content-type': 'application/json' }),
      },
      ...(body === undefined ? {} : { body: JSON.stringify(body) }),
    });
    const text = await response.text();
    if (!response.ok) throw new Error(`${method} ${pathname} answered ${response.status}: ${text}`);
    return (text ? JSON.parse(text) : {}) as T;
  };
  let exited = false;
  child.once('exit', () => (exited = true));
  for (let ready = false; !ready; ) {
    if (exited) throw new Error('the activator exited before it was ready');
    ready = await fetch(`${activatorUrl}/ready`).then(
      (r) => r.ok,
      () => false,
    );
    if (!ready) await new Promise((resolve) => setTimeout(resolve, 200));
  }
  const idleRss = rssOf(child.pid!);

  try {
    // ---- 1. throughput ----
    const upstream = await UpstreamProducer.connect(kafka, names, registryUrl);
    const people = Array.from({ length: profilesCount }, (_, i) => `${run}-p${i}`);
    for (let i = 0; i < people.length; i += 5_000)
      await upstream.profiles(people.slice(i, i + 5_000).map((p) => profileUpdate(p)));
    const destination = await api<{ id: string }>('POST', '/v1/destinations', {
      name: 'bench',
      type: 'webhook',
      url: receiverUrl,
      events: ['segment.entered', 'segment.exited'],
      purposes: ['marketing'],
      identifiers: ['email'],
      traits: ['first_name'],
    });
    await api('POST', `/v1/destinations/${destination.id}/pause`);
    const changes = Array.from({ length: warmUp + changesCount }, (_, i) =>
      segmentChange(people[i % profilesCount]!, { change: i % 2 === 0 ? 'entered' : 'exited' }),
    );
    for (let i = 0; i < changes.length; i += 5_000) await upstream.changes(changes.slice(i, i + 5_000));

    const body = JSON.stringify(
      segmentChangePayload(changes[0]!, profileUpdate(people[0]!), {
        identifiers: ['email'],
        traits: ['first_name'],
      }),
    );
    await plainHttpPosts(receiverUrl, body, concurrency, warmUp);
    const othersBeforeReference = othersCpu();
    const referenceBefore = await plainHttpPosts(receiverUrl, body, concurrency, changesCount);
    const othersInReference = othersPerMessage(othersBeforeReference, changesCount);

    await reset(warmUp);
    const resumedAt = Date.now();
    await api('POST', `/v1/destinations/${destination.id}/resume`);
    let delivered = await stats();
    let peakRss = 0;
    // CPU is read at the first poll past the warm-up, and counted per change delivered since that poll.
    let steadyFrom: { count: number; cpu: number; others: { receiver: number; broker: number } } | undefined;
    const deadline = Date.now() + 300_000;
    while (delivered.count < warmUp + changesCount && Date.now() < deadline) {
      await new Promise((resolve) => setTimeout(resolve, 100));
      if (steadyFrom) peakRss = Math.max(peakRss, rssOf(child.pid!));
      delivered = await stats();
      if (!steadyFrom && delivered.count >= warmUp)
        steadyFrom = { count: delivered.count, cpu: cpuSecondsOf(child.pid!), others: othersCpu() };
    }
    if (!steadyFrom || delivered.count < warmUp + changesCount)
      throw new Error(`only ${delivered.count} of ${warmUp + changesCount} delivered`);
    const activatorRate = changesCount / ((delivered.last - delivered.markedAt) / 1000);
    // From the first warm-up receipt to the last: one change fewer than the warm-up over that time.
    const coldRate = warmUp > 1 ? (warmUp - 1) / ((delivered.markedAt - delivered.first) / 1000) : Number.NaN;
    const metricsText = await (await fetch(`${activatorUrl}/metrics`)).text();
    const metric = (name: string): number => {
      const found = new RegExp(`^${name}(?:\\{[^}]*\\})? ([0-9.e+-]+)$`, 'm').exec(metricsText);
      return found ? Number(found[1]) : Number.NaN;
    };
    const attemptMs =
      (metric('kumiki_activator_attempt_seconds_sum') / metric('kumiki_activator_attempt_seconds_count')) * 1000;
    const loopLagP99 = metric('kumiki_nodejs_eventloop_lag_p99_seconds') * 1000;
    const firstAfterMs = delivered.first - resumedAt;
    const steadyCount = delivered.count - steadyFrom.count;
    const activatorCpu = (cpuSecondsOf(child.pid!) - steadyFrom.cpu) / steadyCount;
    const othersInDelivery = othersPerMessage(steadyFrom.others, steadyCount);
    const referenceAfter = await plainHttpPosts(receiverUrl, body, concurrency, changesCount);
    const referenceRate = Math.max(referenceBefore.rate, referenceAfter.rate);
    const referenceCpu = Math.min(referenceBefore.cpuPerRequest, referenceAfter.cpuPerRequest);

    // ---- 2. latency at half the rate ----
    await reset();
    const rate = Math.max(1, Math.floor(activatorRate / 2));
    const latencyCount = rate * 15;
    const started = Date.now();
    const pending: Promise<void>[] = [];
    for (let i = 0; i < latencyCount; i += Math.max(1, Math.floor(rate / 50))) {
      const due = started + (i * 1000) / rate;
      const wait = due - Date.now();
      if (wait > 0) await new Promise((resolve) => setTimeout(resolve, wait));
      const batch = Array.from({ length: Math.min(Math.max(1, Math.floor(rate / 50)), latencyCount - i) }, (_, j) =>
        segmentChange(people[(i + j) % profilesCount]!, {
          at: Date.now(),
          change: (i + j) % 2 === 0 ? 'entered' : 'exited',
        }),
      );
      pending.push(upstream.changes(batch));
    }
    await Promise.all(pending);
    let latency = await stats();
    const latencyDeadline = Date.now() + 60_000;
    while (latency.count < latencyCount && Date.now() < latencyDeadline) {
      await new Promise((resolve) => setTimeout(resolve, 200));
      latency = await stats();
    }
    const sorted = [...latency.latencies].sort((a, b) => a - b);
    await upstream.close();

    // ---- 3. exports ----
    const smallRun = await runExport(api, child.pid!, small.segmentId, 'small');
    const largeRun = await runExport(api, child.pid!, large.segmentId, 'large');

    process.stdout.write(`activator: ${changesCount} changes of ${profilesCount} profiles, ${concurrency} in flight\n`);
    line(
      `deliveries/s, steady (after ${warmUp} warm-up changes)`,
      `${Math.round(activatorRate)} (${changesCount} delivered)`,
    );
    line(
      'warm-up deliveries/s (first → last of them) / first after the resume',
      `${Number.isNaN(coldRate) ? '—' : Math.round(coldRate)} / ${firstAfterMs} ms`,
    );
    line(
      'reference: plain keep-alive HTTP client, same bodies',
      `${Math.round(referenceBefore.rate)} / ${Math.round(referenceAfter.rate)} req/s (before / after)`,
    );
    line('ratio to the better reference (target ≥ 0.5)', (activatorRate / referenceRate).toFixed(2));
    // On a shared machine rates follow the CPU each process gets; CPU time per message much less so.
    line(
      'CPU per message: activator / reference client (ratio)',
      `${(activatorCpu * 1e6).toFixed(0)} / ${(referenceCpu * 1e6).toFixed(0)} µs (${(referenceCpu / activatorCpu).toFixed(2)})`,
    );
    line('CPU per message of the receiver / broker: activator, reference', `${othersInDelivery}, ${othersInReference}`);
    line(
      `latency at ${rate}/s for 15 s (p50 / p95 / p99 / max)`,
      `${percentile(sorted, 50)} / ${percentile(sorted, 95)} / ${percentile(sorted, 99)} / ${sorted.at(-1)} ms (${latency.count}/${latencyCount}, target p95 ≤ 1,000)`,
    );
    line(
      'mean attempt (request → answer) / event-loop lag p99',
      `${attemptMs.toFixed(1)} / ${loopLagP99.toFixed(1)} ms`,
    );
    line('activator RSS idle / peak while delivering', `${mb(idleRss)} / ${mb(peakRss)} MB`);
    line(
      `export of ${small.members.toLocaleString('en')} members (s, rows, peak RSS)`,
      `${smallRun.seconds.toFixed(1)} s, ${smallRun.rows} rows, ${mb(smallRun.peakRss)} MB`,
    );
    line(
      `export of ${exportMembers.toLocaleString('en')} members (s, rows, peak RSS)`,
      `${largeRun.seconds.toFixed(1)} s, ${largeRun.rows} rows, ${mb(largeRun.peakRss)} MB`,
    );
    line('seeding ClickHouse with the large segment (not measured above)', `${largeSeconds.toFixed(1)} s`);
  } finally {
    child.kill('SIGTERM');
    await new Promise((resolve) => child.once('exit', resolve));
    receiver.kill();
    await readApi.close();
    await ch.close();
    await admin.deleteTopics(Object.values(names)).catch(() => undefined);
    await admin.disconnect();
    fs.rmSync(home, { recursive: true, force: true });
  }
}

async function runExport(
  api: <T>(method: string, pathname: string, body?: unknown) => Promise<T>,
  pid: number,
  segmentId: string,
  name: string,
): Promise<{ seconds: number; rows: number; peakRss: number }> {
  const destination = await api<{ id: string }>('POST', '/v1/destinations', {
    name,
    type: 'export',
    segments: [segmentId],
    identifiers: ['email', 'phone'],
    purposes: ['advertising'],
    export: { format: 'csv', directory: name },
  });
  let peakRss = rssOf(pid);
  let done = false;
  const sampling = (async () => {
    while (!done) {
      peakRss = Math.max(peakRss, rssOf(pid));
      await new Promise((resolve) => setTimeout(resolve, 20));
    }
  })();
  const started = Date.now();
  const result = await api<{ rows: number }>('POST', `/v1/destinations/${destination.id}/export`);
  const seconds = (Date.now() - started) / 1000;
  done = true;
  await sampling;
  return { seconds, rows: result.rows, peakRss };
}

function mb(bytes: number): string {
  return (bytes / 1024 / 1024).toFixed(0);
}

main().then(
  () => process.exit(0),
  (error: unknown) => {
    process.stderr.write(`activator bench: ${error instanceof Error ? error.stack : String(error)}\n`);
    process.exit(1);
  },
);
