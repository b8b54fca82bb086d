import { spawn } from 'node:child_process';
import { writeFileSync } from 'node:fs';
import path from 'node:path';
import pino from 'pino';
import { DirectProducer, type DirectEventInput } from '../../services/common/events/direct-producer';
import type { Action, ChaosWorkload, Delivery, Door } from './workload';
import { reaped } from '../support/reaper';

/**
 * The workload's deliveries, sent the way each door's clients send: an SDK posting batches to
 * the collector, direct Avro and JSON producers, and `kumiki import` of files. Every client
 * retries the same delivery (same messageIds) until it is acknowledged — a 200 from the
 * collector, a resolved producer send, an import that exited 0 — as a real one would; only
 * then do its messageIds count as acknowledged. With `windowMs` each delivery waits until its
 * share of the window has passed (steady traffic through the faults); without, all go at once.
 *
 * Anything a healthy pipeline should never answer is an anomaly (a 5xx other than 503, a valid
 * event rejected, an import that refused a line): counted, logged, and a failure of the run.
 */
export interface TrafficOptions {
  readonly workload: ChaosWorkload;
  readonly collectorUrl: () => string;
  readonly writeKey: string;
  readonly brokers: string;
  readonly registryUrl: string;
  readonly topics: { readonly raw: string; readonly json: string };
  /** Import files are written here. */
  readonly directory: string;
  readonly windowMs?: number;
  /** A delivery not acknowledged after this long fails the run. */
  readonly deliveryTimeoutMs: number;
  readonly log: (line: string) => void;
}

/** Concurrent clients per door: several SDKs post at once; the producers and imports are one each. */
const clientsPerDoor: Readonly<Record<Door, number>> = { http: 3, avro: 1, json: 1, import: 1 };

export interface TrafficOutcome {
  readonly acknowledged: ReadonlySet<string>;
  readonly deliveries: Readonly<Record<Door, number>>;
  /** Attempts that were not acknowledged (outages, kills) and were sent again. */
  readonly retries: Readonly<Record<Door, number>>;
  readonly anomalies: readonly string[];
}

export async function sendWorkload(options: TrafficOptions): Promise<TrafficOutcome> {
  const acknowledged = new Set<string>();
  const deliveries: Record<Door, number> = { http: 0, avro: 0, json: 0, import: 0 };
  const retries: Record<Door, number> = { http: 0, avro: 0, json: 0, import: 0 };
  const anomalies: string[] = [];
  const started = Date.now();
  const anomaly = (text: string): void => {
    anomalies.push(text);
    options.log(`ANOMALY ${text}`);
  };
  const senders: Record<Door, Sender> = {
    http: httpSender(options, anomaly),
    avro: producerSender(options, 'avro', anomaly),
    json: producerSender(options, 'json', anomaly),
    import: importSender(options, anomaly),
  };
  const lane = async (door: Door, queue: Delivery[]): Promise<void> => {
    for (let delivery = queue.shift(); delivery; delivery = queue.shift()) {
      if (options.windowMs !== undefined) {
        const wait = started + delivery.due * options.windowMs - Date.now();
        if (wait > 0) await new Promise((resolve) => setTimeout(resolve, wait));
      }
      const deadline = Date.now() + options.deliveryTimeoutMs;
      for (let attempt = 1; ; attempt++) {
        const outcome = await senders[door].send(delivery, attempt).catch(
          (error: unknown): Attempt => ({
            acknowledged: false,
            retryAfterMs: 1_000,
            why: String(error),
          }),
        );
        if (outcome.acknowledged) break;
        retries[door] += 1;
        if (outcome.giveUp || Date.now() > deadline)
          throw new Error(
            `a ${door} delivery of ${delivery.actions.length} events was not acknowledged within ${options.deliveryTimeoutMs / 1000} s: ${outcome.why}`,
          );
        await new Promise((resolve) => setTimeout(resolve, outcome.retryAfterMs));
      }
      deliveries[door] += 1;
      for (const action of delivery.actions) acknowledged.add(action.messageId);
    }
  };
  const lanes: Promise<void>[] = [];
  for (const door of ['http', 'avro', 'json', 'import'] as const) {
    const queue = options.workload.deliveries.filter((d) => d.door === door);
    for (let i = 0; i < clientsPerDoor[door]; i++) lanes.push(lane(door, queue));
  }
  try {
    await Promise.all(lanes);
  } finally {
    await Promise.all(Object.values(senders).map((sender) => sender.close()));
  }
  return { acknowledged, deliveries, retries, anomalies };
}

interface Attempt {
  readonly acknowledged: boolean;
  readonly retryAfterMs: number;
  /** Sending it again cannot help (a valid event refused): the run fails. */
  readonly giveUp?: boolean;
  readonly why?: string;
}

interface Sender {
  send(delivery: Delivery, attempt: number): Promise<Attempt>;
  close(): Promise<void>;
}

/** A Segment SDK: POST /v1/batch with the write key, the same batch again until it is answered 200. */
function httpSender(options: TrafficOptions, anomaly: (text: string) => void): Sender {
  const authorization = `Basic ${Buffer.from(`${options.writeKey}:`).toString('base64')}`;
  return {
    async send(delivery) {
      const batch = delivery.actions.map(segmentMessage);
      let response: Response;
      try {
        response = await fetch(`${options.collectorUrl()}/v1/batch`, {
          method: 'POST',
          headers: { authorization, 'content-type': 'application/json' },
          body: JSON.stringify({ batch }),
          signal: AbortSignal.timeout(60_000),
        });
      } catch (error) {
        // Refused or cut off (the collector was killed): nothing is known to be accepted.
        return { acknowledged: false, retryAfterMs: 250, why: String((error as Error).cause ?? error) };
      }
      const text = await response.text().catch(() => '');
      if (response.status === 200) {
        const body = JSON.parse(text) as { accepted: number; rejected: unknown[] };
        if (body.accepted !== batch.length || body.rejected.length > 0)
          anomaly(`the collector accepted ${body.accepted} of ${batch.length} valid events: ${text.slice(0, 300)}`);
        return { acknowledged: true, retryAfterMs: 0 };
      }
      const retryAfter = Number(response.headers.get('retry-after') ?? '1');
      if (response.status === 503 || response.status === 429)
        return {
          acknowledged: false,
          retryAfterMs: retryAfter * 1000,
          why: `${response.status} ${text.slice(0, 200)}`,
        };
      anomaly(`the collector answered ${response.status} to a valid batch: ${text.slice(0, 300)}`);
      // A refusal of valid events cannot change; a 500 (KUMIKI_INTERNAL) says to retry.
      return { acknowledged: false, retryAfterMs: 1_000, giveUp: response.status < 500, why: `${response.status}` };
    },
    close: async () => undefined,
  };
}

/** A system producing straight to Kafka with kumiki's DirectProducer; reconnects after a failed send. */
function producerSender(options: TrafficOptions, format: 'avro' | 'json', anomaly: (text: string) => void): Sender {
  let producer: DirectProducer | undefined;
  const channel = format === 'avro' ? 'mobile' : 'server';
  const source = format === 'avro' ? 'chaos-app' : 'chaos-back-office';
  return {
    async send(delivery) {
      const events = delivery.actions.map((action) => directEvent(action, channel, source));
      try {
        producer ??= await DirectProducer.connect({
          brokers: options.brokers.split(','),
          registryUrl: options.registryUrl,
          format,
          topic: format === 'avro' ? options.topics.raw : options.topics.json,
          clientId: `chaos-${format}-producer`,
          logger: pino({ level: 'silent' }),
        });
        await producer.send(events);
        return { acknowledged: true, retryAfterMs: 0 };
      } catch (error) {
        if ((error as { field?: unknown }).field !== undefined)
          anomaly(`the ${format} producer refused an event: ${error}`);
        const failed = producer;
        producer = undefined;
        await failed?.close().catch(() => undefined);
        return { acknowledged: false, retryAfterMs: 1_000, why: String(error) };
      }
    },
    close: async () => {
      await producer?.close().catch(() => undefined);
    },
  };
}

const importFiles = {
  'store-purchases': {
    header: 'id,receipt,time,loyalty,email,order,amount,currency',
    row: (a: Action) =>
      [
        a.messageId,
        a.anonymousId,
        iso(a.timestamp),
        a.loyaltyId,
        a.email,
        a.properties!.order_id,
        a.properties!.revenue,
        a.properties!.currency,
      ].join(','),
    map: [
      'messageId=id',
      'anonymousId=receipt',
      'timestamp=time',
      'loyalty_id=loyalty',
      'email=email',
      'order_id=order',
      'revenue=amount',
      'currency=currency',
    ],
  },
  'crm-contacts': {
    header: 'id,record,time,loyalty,email,first_name',
    row: (a: Action) =>
      [a.messageId, a.anonymousId, iso(a.timestamp), a.loyaltyId, a.email, a.traits!.first_name].join(','),
    map: [
      'messageId=id',
      'anonymousId=record',
      'timestamp=time',
      'loyalty_id=loyalty',
      'email=email',
      'first_name=first_name',
    ],
  },
} as const;

/** `kumiki import <file>` as a user runs it; the same file again after a failure (its ids are in the file). */
function importSender(options: TrafficOptions, anomaly: (text: string) => void): Sender {
  const cli = path.resolve(__dirname, '..', '..', 'bin', 'kumiki.js');
  let files = 0;
  const written = new Map<Delivery, string>();
  return {
    async send(delivery) {
      const kind = importFiles[delivery.file!];
      let file = written.get(delivery);
      if (!file) {
        file = path.join(options.directory, `${delivery.file}-${String(++files).padStart(3, '0')}.csv`);
        writeFileSync(file, `${[kind.header, ...delivery.actions.map(kind.row)].join('\n')}\n`);
        written.set(delivery, file);
      }
      const args = [cli, 'import', file, ...kind.map.flatMap((m) => ['--map', m]), '--topic', options.topics.raw];
      args.push('--source', 'chaos-store', '--no-progress', '--json');
      const { code, output } = await runCommand(args, {
        KAFKA_BROKERS: options.brokers,
        SCHEMA_REGISTRY_URL: options.registryUrl,
        KUMIKI_HOME: path.join(options.directory, 'cli-home'),
      });
      const summary = parseSummary(output);
      if (code === 0 && summary) {
        if (summary.sent !== delivery.actions.length || summary.rejected !== 0)
          anomaly(
            `kumiki import sent ${summary.sent} of ${delivery.actions.length} rows of ${file}: ${output.slice(0, 300)}`,
          );
        return { acknowledged: true, retryAfterMs: 0 };
      }
      // A refused line or a usage error is a bug here (the rows are valid); Kafka going away is not.
      if (code === 2 || (summary && summary.rejected > 0)) {
        anomaly(`kumiki import of ${file} failed (${code}): ${output.slice(0, 300)}`);
        return { acknowledged: false, retryAfterMs: 0, giveUp: true, why: 'the import refused valid rows' };
      }
      return {
        acknowledged: false,
        retryAfterMs: 1_000,
        why: `kumiki import exited ${code}: ${output.trim().slice(-300)}`,
      };
    },
    close: async () => undefined,
  };
}

function runCommand(args: string[], env: Record<string, string>): Promise<{ code: number | null; output: string }> {
  return new Promise((resolve) => {
    const child = reaped(
      spawn(process.execPath, args, {
        env: { PATH: process.env.PATH ?? '', ...env },
        stdio: ['ignore', 'pipe', 'pipe'],
      }),
    );
    let output = '';
    child.stdout.on('data', (chunk: Buffer) => (output += chunk.toString()));
    child.stderr.on('data', (chunk: Buffer) => (output += chunk.toString()));
    // An import that hangs (a broker that never came back) is ended and run again.
    const timer = setTimeout(() => child.kill('SIGKILL'), 300_000);
    child.on('exit', (code) => {
      clearTimeout(timer);
      resolve({ code, output });
    });
  });
}

function parseSummary(output: string): { sent: number; rejected: number } | undefined {
  const start = output.indexOf('{');
  if (start < 0) return undefined;
  try {
    return JSON.parse(output.slice(start)) as { sent: number; rejected: number };
  } catch {
    return undefined;
  }
}

function iso(ms: number): string {
  return new Date(ms).toISOString();
}

/** The action as a Segment SDK writes it. */
export function segmentMessage(action: Action): Record<string, unknown> {
  const context: Record<string, unknown> = {};
  if (action.deviceId) context.device = { id: action.deviceId };
  if (action.consent) context.consent = { categoryPreferences: action.consent };
  return {
    type: action.type,
    messageId: action.messageId,
    timestamp: iso(action.timestamp),
    ...(action.userId ? { userId: action.userId } : {}),
    ...(action.anonymousId ? { anonymousId: action.anonymousId } : {}),
    ...(action.event ? { event: action.event } : {}),
    ...(action.name ? { name: action.name } : {}),
    ...(action.properties ? { properties: action.properties } : {}),
    ...(action.traits ? { traits: action.traits } : {}),
    context,
  };
}

/** The action as a direct producer builds it. */
function directEvent(action: Action, channel: string, source: string): DirectEventInput {
  return {
    messageId: action.messageId,
    type: action.type,
    event: action.event ?? null,
    name: action.name ?? null,
    userId: action.userId ?? null,
    anonymousId: action.anonymousId ?? null,
    timestamp: action.timestamp,
    channel,
    source,
    context: action.deviceId ? { device: { id: action.deviceId } } : {},
    properties: action.properties ?? {},
    traits: action.traits ?? {},
    ...(action.consent ? { consent: { ...action.consent } } : {}),
  };
}
