import { mkdirSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import pino from 'pino';
import type { DeliveryAttempt, ProfileUpdate, SegmentChange } from '../../schemas';
import { createKafkaClient } from '../../services/common/kafka/client';
import { uniqueName } from '../support/stack-env';
import { waitFor } from '../support/wait-for';
import type { BrokerControl } from './broker-control';
import type { ChaosSettings } from './chaos-settings';
import { FaultRunner } from './fault-runner';
import { clock, faultSchedule, formatSchedule } from './fault-schedule';
import {
  checkProfileUpdates,
  checkSegmentChanges,
  readMembers,
  readRunState,
  readTopic,
  segmentsBehind,
  type RunState,
} from './oracle';
import { PipelineUnderTest, services, type ClusterSettings, type RunNames } from './pipeline-under-test';
import { sendWorkload, type TrafficOutcome } from './traffic';
import { checkWebhooks, readReceipts, type WebhookCheck } from './webhook-oracle';
import type { ChaosWorkload } from './workload';

/**
 * One run of the workload through a pipeline of its own: start it, define the segments, send
 * the traffic (with faults, for the chaos run), let it drain, and read what it ended in.
 */
export interface RunOutcome {
  readonly traffic: TrafficOutcome;
  readonly state: RunState;
  readonly faults?: FaultRunner;
  readonly segmentChanges: ReturnType<typeof checkSegmentChanges>;
  readonly updates: Awaited<ReturnType<typeof checkProfileUpdates>>;
  /** What the webhook destination got (webhook-oracle.ts). */
  readonly webhooks: WebhookCheck;
  /** Checks that never settled within the bound (the last thing each saw). */
  readonly unsettled: readonly string[];
}

export interface RunOptions {
  readonly label: 'fault-free' | 'chaos';
  readonly settings: ChaosSettings;
  readonly workload: ChaosWorkload;
  readonly broker: BrokerControl;
  readonly directory: string;
  /** RFM of both runs is computed as of this instant. */
  readonly asOf: number;
  readonly log: (line: string) => void;
  /** Pipelines started, so that the caller can stop them whatever happens. */
  readonly started: PipelineUnderTest[];
}

export async function runWorkload(options: RunOptions): Promise<RunOutcome> {
  const { settings, workload, broker, log, label } = options;
  const prefix = uniqueName(`chaos-${label === 'chaos' ? 'run' : 'ref'}`);
  const directory = path.join(options.directory, label);
  mkdirSync(path.join(directory, 'import'), { recursive: true });
  const run: RunNames = {
    prefix,
    topic: (name) => `${prefix}.${name}`,
    adminToken: `adm_${prefix.replace(/-/g, '_')}`,
    writeKey: `wk_${prefix}`,
    home: path.join(directory, 'home'),
    webhooks: path.join(directory, 'webhooks'),
  };
  const cluster: ClusterSettings = {
    brokers: broker.brokers,
    registryUrl: settings.registryUrl,
    ...(settings.clickhouse ? { clickhouse: settings.clickhouse } : {}),
  };
  const pipeline = new PipelineUnderTest(run, cluster, path.join(directory, 'logs'));
  options.started.push(pipeline);
  const startedAt = Date.now();
  const elapsed = (): string => clock(Date.now() - startedAt);
  await pipeline.startAll(settings.waitMs);
  log(`${label}: pipeline up (${prefix}) after ${elapsed()}`);
  for (const segment of workload.segments) await pipeline.api('POST', '/v1/segments', segment);
  const destination = await createWebhookDestination(pipeline);

  const windowMs = settings.minutes * 60_000;
  let faults: FaultRunner | undefined;
  let faultsDone: Promise<void> = Promise.resolve();
  if (label === 'chaos') {
    faults = new FaultRunner({ pipeline, broker, log, waitMs: settings.waitMs });
    for (const spec of services) faults.supervise(spec.name);
    const schedule = chaosSchedule(settings, broker.canBounce);
    log(`chaos: fault schedule (seed ${settings.seed}):\n${formatSchedule(schedule)}`);
    faultsDone = faults.run(schedule, Date.now());
  }
  const traffic = await sendWorkload({
    workload,
    collectorUrl: () => pipeline.url('collector'),
    writeKey: run.writeKey,
    brokers: broker.brokers,
    registryUrl: settings.registryUrl,
    topics: { raw: run.topic('raw'), json: run.topic('json') },
    directory: path.join(directory, 'import'),
    ...(label === 'chaos' ? { windowMs } : {}),
    deliveryTimeoutMs: settings.waitMs,
    log,
  });
  log(
    `${label}: ${traffic.acknowledged.size} events acknowledged after ${elapsed()} (deliveries ${JSON.stringify(traffic.deliveries)}, retried ${JSON.stringify(traffic.retries)})`,
  );
  await faultsDone;
  if (faults) log(`chaos: faults done after ${elapsed()}: ${JSON.stringify(faults.counts)}`);

  // Drain: every service up, every acknowledged event queryable, both consumer groups caught up.
  for (const spec of services) await pipeline.ready(spec.name, settings.waitMs);
  const unsettled: string[] = [];
  const settle = async (what: string, check: () => Promise<void>): Promise<void> => {
    await waitFor(check, { timeoutMs: settings.waitMs, intervalMs: 2_000 }).catch((error: unknown) => {
      unsettled.push(`${what}: ${(error as Error).message}`);
      log(`${label}: ${what} did not settle: ${(error as Error).message}`);
    });
  };
  await settle('events', async () => {
    const [row] = await pipeline.sql<{ n: string }>('SELECT toString(uniqExact(message_id)) AS n FROM events');
    if (Number(row?.n) < traffic.acknowledged.size)
      throw new Error(`${row?.n} of ${traffic.acknowledged.size} acknowledged events queryable`);
  });
  await settle('consumer lag', () => caughtUp(broker.brokers, run));
  await settle('segment evaluation', async () => {
    const behind = await segmentsBehind(pipeline);
    if (behind.length > 0) throw new Error(behind.join('; '));
  });
  log(`${label}: drained after ${elapsed()}`);

  let segmentChanges = checkSegmentChanges([], new Map());
  await settle('segment changes', async () => {
    const changes = await readTopic<SegmentChange>(broker.brokers, settings.registryUrl, run.topic('segments'));
    segmentChanges = checkSegmentChanges(
      changes.map((c) => c.value!),
      await readMembers(pipeline),
    );
    if (segmentChanges.stateMismatches.length > 0)
      throw new Error(
        `${segmentChanges.stateMismatches.length} differences, e.g. ${segmentChanges.stateMismatches.slice(0, 3).join('; ')}`,
      );
  });
  let updates: RunOutcome['updates'] = { keys: 0, mismatched: 0, described: [] };
  await settle('profile updates', async () => {
    const records = await readTopic<ProfileUpdate>(broker.brokers, settings.registryUrl, run.topic('updates'));
    updates = await checkProfileUpdates(pipeline, records);
    if (updates.mismatched > 0)
      throw new Error(`${updates.mismatched} differ, e.g. ${updates.described.slice(0, 3).join(' | ')}`);
  });
  let webhooks = checkWebhooks({ destinationId: destination, topic: '', changes: [], receipts: [], attempts: [] });
  await settle('webhooks', async () => {
    const read = <T>(topic: string) => readTopic<T>(broker.brokers, settings.registryUrl, topic);
    webhooks = checkWebhooks({
      destinationId: destination,
      topic: run.topic('segments'),
      changes: await read<SegmentChange>(run.topic('segments')),
      receipts: readReceipts(path.join(run.webhooks, 'received.ndjson')),
      attempts: (await read<DeliveryAttempt>(run.topic('deliveries'))).flatMap((r) => (r.value ? [r.value] : [])),
    });
    if (webhooks.undelivered.length > 0)
      throw new Error(
        `${webhooks.undelivered.length} of ${webhooks.changes} changes neither received nor withheld, e.g. ${webhooks.undelivered.slice(0, 3).join('; ')}`,
      );
  });
  const state = await readRunState(pipeline, options.asOf);
  log(`${label}: state read after ${elapsed()} (${state.profiles.size} profiles, ${state.events.size} events)`);
  return { traffic, state, ...(faults ? { faults } : {}), segmentChanges, updates, webhooks, unsettled };
}

/**
 * The run's webhook destination: every segment change, to the harness's receiver, for people who
 * granted `marketing` (the workload's consent purpose, which people change), so that some changes
 * are delivered and some withheld. Its secret goes where the receiver reads it.
 */
async function createWebhookDestination(pipeline: PipelineUnderTest): Promise<string> {
  const made = await pipeline.api<{ id: string; secret: string }>(
    'POST',
    '/v1/destinations',
    {
      name: 'chaos receiver',
      type: 'webhook',
      url: `${pipeline.url('webhook-receiver')}/hook`,
      events: ['segment.entered', 'segment.exited'],
      purposes: ['marketing'],
    },
    60_000,
    'activator',
  );
  writeFileSync(path.join(pipeline.run.webhooks, 'secret'), made.secret, { mode: 0o600 });
  return made.id;
}

/** The schedule for these settings: every service killed, the stitcher made a zombie, the broker bounced. */
export function chaosSchedule(settings: ChaosSettings, canBounce: boolean) {
  const kills = Object.fromEntries(services.map((spec) => [spec.name, settings.killsPerService]));
  const aimedShare = Object.fromEntries(
    services.filter((spec) => spec.aimed).map((spec) => [spec.name, settings.aimedShare]),
  );
  const zombieService = services.find((spec) => spec.fenced);
  return faultSchedule({
    seed: settings.seed,
    windowMs: settings.minutes * 60_000,
    kills,
    aimedShare,
    brokerBounces: canBounce ? settings.brokerBounces : 0,
    zombies:
      zombieService && settings.zombies > 0
        ? { service: zombieService.name, count: settings.zombies, minStoppedMs: 15_000 }
        : undefined,
  });
}

/** Both consumer groups have committed everything on their input topics. */
async function caughtUp(brokers: string, run: RunNames): Promise<void> {
  const admin = createKafkaClient({
    brokers: brokers.split(','),
    clientId: uniqueName('chaos-lag'),
    logger: pino({ level: 'silent' }),
  }).admin();
  await admin.connect();
  try {
    const groups: Array<[string, string[]]> = [
      [`${run.prefix}-stitcher`, [run.topic('raw'), run.topic('json')]],
      [`${run.prefix}-materializer`, [run.topic('stitched'), run.topic('changes')]],
    ];
    for (const [group, topics] of groups) {
      const lag = (await admin.groupLag(group, topics)).reduce((sum, p) => sum + p.lag, 0);
      if (lag > 0) throw new Error(`group ${group} is ${lag} records behind`);
    }
  } finally {
    await admin.disconnect().catch(() => undefined);
  }
}
