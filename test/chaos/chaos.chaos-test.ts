import { mkdtempSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { commandBrokerControl, privateBrokerControl, type BrokerControl } from './broker-control';
import { runWorkload } from './chaos-run';
import { chaosSettings, machineLoad } from './chaos-settings';
import { compareProfiles, compareWithComponents, countEvents } from './oracle';
import { services, type PipelineUnderTest } from './pipeline-under-test';
import type { WebhookCheck } from './webhook-oracle';
import { generateWorkload } from './workload';

/**
 * `npm run test:chaos` (docs/chaos.md): the same seeded workload through a fault-free pipeline
 * and through one whose services are SIGKILLed dozens of times (some inside open transactions),
 * whose stitcher is made a zombie, and whose broker is bounced — then the oracle: every
 * acknowledged event once, the same profiles, orders, revenue, traits and segment members as
 * the fault-free run, every segment change once, and ProfileUpdates that agree with ClickHouse.
 * Prints `chaos: N events acknowledged, L lost, D duplicated, K kills, B broker bounces, Z
 * zombies fenced, seed S` and fails on any difference.
 */
const settings = chaosSettings(process.env);
const log = (line: string): void => void process.stdout.write(`${line}\n`);
const started: PipelineUnderTest[] = [];
let broker: BrokerControl | undefined;
const directory = settings.directory ?? mkdtempSync(path.join(os.tmpdir(), 'kumiki-chaos-'));
let passed = false;

// Stopped from outside (Ctrl-C, a CI timeout): leave no process and no broker behind. The reaper
// (reaper.ts) does it however this process ends; this only ends the run sooner.
for (const signal of ['SIGINT', 'SIGTERM'] as const) {
  process.once(signal, () => {
    for (const pipeline of started) pipeline.killAll();
    void Promise.resolve(broker?.close()).finally(() => process.exit(130));
  });
}

afterAll(async () => {
  for (const pipeline of started) await pipeline.stopAll();
  await broker?.close();
  if (passed && !settings.directory) rmSync(directory, { recursive: true, force: true });
  else log(`chaos: logs of every process are in ${directory}`);
  // Each process gets its grace (20 s) to stop.
}, 300_000);

it(
  'loses nothing and counts nothing twice under sustained faults',
  async () => {
    log(
      `chaos: seed ${settings.seed}, ${settings.minutes} min, ${settings.people} people, ${machineLoad()} (replay: CHAOS_SEED=${settings.seed} CHAOS_MINUTES=${settings.minutes})`,
    );
    const asOf = Date.now();
    const workload = generateWorkload(settings.seed, { people: settings.people, anchor: asOf });
    log(`chaos: ${workload.messageIds.size} distinct events in ${workload.deliveries.length} deliveries`);
    broker = settings.external
      ? commandBrokerControl(settings.external.brokers, {
          ...(settings.external.stopCommand ? { stop: settings.external.stopCommand } : {}),
          ...(settings.external.startCommand ? { start: settings.external.startCommand } : {}),
        })
      : await privateBrokerControl();
    const common = { settings, workload, broker, directory, asOf, log, started };

    const reference = await runWorkload({ ...common, label: 'fault-free' });
    for (const pipeline of started.splice(0)) await pipeline.stopAll();
    log(`chaos: fault-free run done, ${machineLoad()}`);
    const chaos = await runWorkload({ ...common, label: 'chaos' });
    log(`chaos: chaos run done, ${machineLoad()}`);

    const events = countEvents(chaos.state, chaos.traffic.acknowledged);
    const referenceEvents = countEvents(reference.state, reference.traffic.acknowledged);
    const counts = chaos.faults!.counts;
    const kills = Object.values(counts.kills).reduce((sum, n) => sum + n, 0);
    const truth = compareWithComponents(reference.state, workload.identityComponents);
    const profiles = compareProfiles(reference.state, chaos.state);
    for (const line of [
      `fault-free run: ${referenceEvents.lost} lost, ${referenceEvents.duplicated} duplicated, graph vs input: ${truth.length} differences${truth.length ? ` (${truth.slice(0, 3).join('; ')})` : ''}, unsettled: ${reference.unsettled.length}`,
      `kills per service: ${JSON.stringify(counts.kills)}, aimed inside a transaction: ${JSON.stringify(counts.aimedKills)}`,
      `segment changes: ${chaos.segmentChanges.changes} on the topic, ${chaos.segmentChanges.repeated} repeated, ${chaos.segmentChanges.stateMismatches.length} not in segment_members (fault-free: ${reference.segmentChanges.changes}, ${reference.segmentChanges.repeated} repeated)`,
      `profile updates: ${chaos.updates.keys} keys, ${chaos.updates.mismatched} disagree with ClickHouse (fault-free: ${reference.updates.mismatched})`,
      `webhooks: ${describeWebhooks(chaos.webhooks)} (fault-free: ${describeWebhooks(reference.webhooks)})`,
      ...[...reference.webhooks.undelivered, ...chaos.webhooks.undelivered].map((u) => `  undelivered ${u}`),
      ...[...reference.webhooks.outOfOrder, ...chaos.webhooks.outOfOrder].map((o) => `  out of order ${o}`),
      `profiles: ${chaos.state.profiles.size} (fault-free ${reference.state.profiles.size}), ${profiles.differing} differ from the fault-free run`,
      ...profiles.described.map((d) => `  ${d}`),
      ...chaos.updates.described.map((d) => `  update ${d}`),
      ...counts.problems.map((p) => `problem: ${p}`),
      ...[...reference.unsettled, ...chaos.unsettled].map((u) => `unsettled: ${u}`),
      ...[...reference.traffic.anomalies, ...chaos.traffic.anomalies].map((a) => `anomaly: ${a}`),
    ])
      log(`chaos: ${line}`);
    log(
      `chaos: ${chaos.traffic.acknowledged.size} events acknowledged, ${events.lost} lost, ${events.duplicated} duplicated, ${kills} kills, ${counts.brokerBounces} broker bounces, ${counts.zombiesFenced} zombies fenced, seed ${settings.seed}, ${chaos.webhooks.delivered} webhooks delivered, ${chaos.webhooks.withheld} withheld, ${chaos.webhooks.undelivered.length} undelivered`,
    );

    expect({
      lost: events.lost,
      duplicated: events.duplicated,
      unacknowledged: events.unacknowledged,
      everyEventAcknowledged: chaos.traffic.acknowledged.size === workload.messageIds.size,
      referenceMatchesInput: truth,
      referenceClean: [referenceEvents.lost, referenceEvents.duplicated, reference.updates.mismatched],
      profilesDiffering: profiles.differing,
      repeatedSegmentChanges: chaos.segmentChanges.repeated,
      segmentStateMismatches: chaos.segmentChanges.stateMismatches.length,
      updatesMismatched: chaos.updates.mismatched,
      webhooks: [reference.webhooks, chaos.webhooks].map(webhookFaults),
      anomalies: [...reference.traffic.anomalies, ...chaos.traffic.anomalies],
      problems: counts.problems,
      unsettled: [...reference.unsettled, ...chaos.unsettled],
    }).toEqual({
      lost: 0,
      duplicated: 0,
      unacknowledged: 0,
      everyEventAcknowledged: true,
      referenceMatchesInput: [],
      referenceClean: [0, 0, 0],
      profilesDiffering: 0,
      repeatedSegmentChanges: 0,
      segmentStateMismatches: 0,
      updatesMismatched: 0,
      webhooks: [noWebhookFaults, noWebhookFaults],
      anomalies: [],
      problems: [],
      unsettled: [],
    });
    for (const spec of services) expect(counts.kills[spec.name] ?? 0).toBeGreaterThanOrEqual(settings.killsPerService);
    expect(counts.brokerBounces).toBe(broker.canBounce ? settings.brokerBounces : 0);
    expect(counts.zombiesFenced).toBe(settings.zombies);
    passed = true;
  },
  // The whole run is bounded by its waits (CHAOS_WAIT_MINUTES each); this only catches a hang.
  (settings.minutes * 3 + (settings.waitMs / 60_000) * 6) * 60_000,
);

function describeWebhooks(check: WebhookCheck): string {
  return `${check.changes} segment changes, ${check.delivered} delivered, ${check.withheld} withheld ${JSON.stringify(check.reasons)}, ${check.undelivered.length} undelivered, ${check.duplicates} duplicate receipts, ${check.differingBodies} webhook-ids with differing bodies, ${check.unexpected} unexpected, ${check.invalid} not verifying, ${check.outOfOrder.length} profiles out of order`;
}

/** What must be zero for a webhook destination: duplicates are allowed (at-least-once). */
function webhookFaults(check: WebhookCheck) {
  return {
    undelivered: check.undelivered.length,
    differingBodies: check.differingBodies,
    unexpected: check.unexpected,
    invalid: check.invalid,
    outOfOrder: check.outOfOrder.length,
  };
}
const noWebhookFaults = { undelivered: 0, differingBodies: 0, unexpected: 0, invalid: 0, outOfOrder: 0 };
