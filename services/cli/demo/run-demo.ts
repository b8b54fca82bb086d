import { promises as fs } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import pino from 'pino';
import { DirectProducer } from '../../common/events/direct-producer';
import { errorMessage, KumikiError } from '../../common/errors';
import { createKafkaClient } from '../../common/kafka/client';
import { AvroCodec, SchemaRegistryClient } from '../../common/registry';
import { schema, type DeadLetter } from '../../../schemas';
import { importFile, type ImportOptions } from '../import/import-file';
import { importSettings, parseMapPairs } from '../import/map-record';
import type { BacktestReport } from '../../common/predictions/model-reports';
import {
  batchesOf,
  demoCurrencyRates,
  generateDemoPopulation,
  japaneseStoreCsv,
  japaneseStoreMapping,
  storeRowsCsv,
  type DemoPopulation,
  type SegmentMessage,
} from './demo-population';

/**
 * `kumiki demo` without the terminal: generates the population (demo-population.ts), sends
 * its web/app/email traffic through the collector in /v1/batch requests and its store
 * purchases through the import path (the same code as `kumiki import`: a UTF-8 export, and the
 * Japanese stores' CP932 export with yen amounts and era dates), waits until the
 * pipeline has caught up, and reads back what a marketer looks at — all through public
 * interfaces: HTTP in, SQL through the read API, the dead-letter topic through the registry.
 *
 * Scope: every figure is about the demo's own events (messageIds starting with the demo's
 * prefix) and the profiles they belong to, so a stack holding other data still shows the
 * demo's. Running the same demo twice sends the same messageIds, which the pipeline
 * deduplicates. RFM scores are those of the stack (quintiles among all its purchasers).
 */
export interface DemoSettings {
  readonly people: number;
  readonly days: number;
  readonly seed: number;
  readonly collectorUrl: string;
  readonly writeKey: string;
  readonly kafkaBrokers: readonly string[];
  readonly registryUrl: string;
  /** Where the import path produces (the collector's events topic). */
  readonly rawTopic: string;
  readonly dlqTopic: string;
  /** POST /v1/sql of the read API. */
  readonly sql: <T = Record<string, unknown>>(query: string, params?: Record<string, unknown>) => Promise<T[]>;
  /** How long to wait for the pipeline to catch up. */
  readonly waitTimeoutMs: number;
  readonly progress?: DemoProgress;
  readonly now?: number;
  /**
   * POST /v1/models/fit and /v1/models/backtest of the read API: the demo refits once the
   * pipeline caught up and prints who is likely to buy again, who is about to churn, and a
   * backtest. Each resolves with the body, or rejects with PredictionsUnavailable (e.g. not enough data).
   */
  readonly predictions?: {
    fit(): Promise<unknown>;
    backtest(calibrationEnd: string, holdoutEnd: string): Promise<BacktestReport>;
  };
}

/** The read API refused a predictions call (its `code: message`), e.g. KUMIKI_NOT_ENOUGH_DATA. */
export class PredictionsUnavailable extends Error {}

export interface DemoCustomer {
  readonly identifier: string;
  readonly orders: number;
  readonly recencyDays: number;
  readonly monetaryCents: number;
  readonly pAlive: number;
  readonly expectedPurchases90d: number;
  readonly clv365d: number;
}

export interface DemoPredictions {
  /** Purchasers of the demo with predictions (every one of them, once the model is fitted). */
  readonly purchasers: number;
  readonly likelyToBuyAgain: readonly DemoCustomer[];
  readonly aboutToChurn: readonly DemoCustomer[];
  readonly backtest: BacktestReport | null;
  /** Why there are no predictions or no backtest, when so. */
  readonly unavailable: string | null;
}

/** Progress of a phase: `start(total)`, then `update(done)`, then `stop()`. */
export interface DemoProgress {
  phase(name: string, total: number): { update(done: number): void; stop(): void };
}

export interface RfmCell {
  readonly r: number;
  readonly f: number;
  readonly profiles: number;
  readonly revenueCents: number;
}

export interface DemoReport {
  readonly seed: number;
  readonly people: number;
  /** A well-stitched identifier to look at with `kumiki profile` / `kumiki explain`. */
  readonly example: string | null;
  readonly httpMessages: number;
  readonly accepted: number;
  readonly rejected: number;
  readonly imported: number;
  /** Purchases of the Japanese stores' CP932 export, and their yen. */
  readonly japaneseStore: { readonly orders: number; readonly yen: number };
  /** False when the stack's RFM has no JPY rate: then yen count 0 in revenue. */
  readonly yenConverted: boolean;
  readonly expectedEvents: number;
  readonly events: number;
  readonly profiles: number;
  readonly identifiers: number;
  readonly caughtUp: boolean;
  readonly waitedMs: number;
  readonly purchasers: number;
  readonly revenueCents: number;
  readonly rfmGrid: readonly RfmCell[];
  readonly labels: readonly { label: string; profiles: number; revenueCents: number }[];
  readonly segments: readonly { name: string; description: string; profiles: number }[];
  readonly deadLetters: readonly { code: string; reason: string; count: number }[];
  readonly predictions: DemoPredictions | null;
}

/** Event source of the store purchases (the import's `--source`). */
export const storeSource = 'store-pos';

export async function runDemo(settings: DemoSettings): Promise<{ population: DemoPopulation; report: DemoReport }> {
  const population = generateDemoPopulation({
    people: settings.people,
    days: settings.days,
    seed: settings.seed,
    now: settings.now ?? Date.now(),
  });
  const http = await sendOverHttp(settings, population.messages);
  const imported = await importStorePurchases(settings, population);
  const expectedEvents = population.truth.goodMessageIds.size;
  const waited = await waitForPipeline(settings, population.prefix, expectedEvents);
  const report = await readReport(settings, population, { ...http, imported, expectedEvents, ...waited });
  const predictions = settings.predictions ? await readPredictions(settings, population.prefix) : null;
  return { population, report: { ...report, predictions } };
}

async function sendOverHttp(
  settings: DemoSettings,
  messages: readonly SegmentMessage[],
): Promise<{ httpMessages: number; accepted: number; rejected: number }> {
  const batches = batchesOf(messages, 100);
  const bar = settings.progress?.phase('sending events to the collector', messages.length);
  const auth = `Basic ${Buffer.from(`${settings.writeKey}:`).toString('base64')}`;
  let next = 0;
  let sent = 0;
  let accepted = 0;
  let rejected = 0;
  const worker = async (): Promise<void> => {
    while (next < batches.length) {
      const batch = batches[next++]!;
      const body = await postWithRetry(`${settings.collectorUrl}/v1/batch`, auth, JSON.stringify({ batch }));
      accepted += body.accepted;
      rejected += body.rejected?.length ?? 0;
      sent += batch.length;
      bar?.update(sent);
    }
  };
  try {
    await Promise.all([worker(), worker(), worker(), worker()]);
  } finally {
    bar?.stop();
  }
  return { httpMessages: messages.length, accepted, rejected };
}

/** 429 and 503 mean "nothing was accepted, try again" (docs/collector.md); anything else non-2xx is fatal. */
async function postWithRetry(
  url: string,
  auth: string,
  body: string,
): Promise<{ accepted: number; rejected?: unknown[] }> {
  const deadline = Date.now() + 60_000;
  for (let attempt = 0; ; attempt++) {
    let response: Response;
    try {
      response = await fetch(url, {
        method: 'POST',
        headers: { authorization: auth, 'content-type': 'application/json' },
        body,
      });
    } catch (error) {
      throw new DemoError(
        `the collector at ${url} does not answer (${errorMessage(error)}); is \`kumiki up\` running?`,
      );
    }
    const text = await response.text();
    if (response.ok) return JSON.parse(text) as { accepted: number; rejected?: unknown[] };
    if ((response.status !== 429 && response.status !== 503) || Date.now() > deadline) {
      throw new DemoError(`the collector at ${url} answered ${response.status}: ${text.slice(0, 300)}`);
    }
    const retryAfter = Number(response.headers.get('retry-after') ?? '1');
    await delay(Math.min(5_000, Math.max(100, retryAfter * 1000 * Math.random(), 100 * 2 ** attempt)));
  }
}

async function importStorePurchases(settings: DemoSettings, population: DemoPopulation): Promise<number> {
  const dir = await fs.mkdtemp(path.join(os.tmpdir(), 'kumiki-demo-'));
  const bar = settings.progress?.phase(
    'importing store purchases',
    population.storeRows.length + population.japaneseStoreRows.length,
  );
  const producer = await DirectProducer.connect({
    brokers: settings.kafkaBrokers,
    registryUrl: settings.registryUrl,
    format: 'avro',
    topic: settings.rawTopic,
    clientId: 'kumiki-demo',
    logger: pino({ level: 'silent' }),
  });
  const exports: { file: string; bytes: Buffer; options: Partial<ImportOptions> }[] = [
    { file: `${storeSource}.csv`, bytes: Buffer.from(storeRowsCsv(population.storeRows)), options: {} },
    {
      file: `${storeSource}-ja.csv`,
      bytes: japaneseStoreCsv(population.japaneseStoreRows),
      options: { mapping: parseMapPairs(japaneseStoreMapping), ...importSettings({ locale: 'ja-JP' }) },
    },
  ];
  try {
    let sent = 0;
    for (const { file, bytes, options } of exports) {
      await fs.writeFile(path.join(dir, file), bytes);
      const summary = await importFile(
        { file: path.join(dir, file), source: storeSource, ...options },
        async (events) => {
          await producer.send(events);
          sent += events.length;
          bar?.update(sent);
        },
      );
      if (summary.rejected > 0)
        throw new DemoError(
          `the store export ${file} was rejected on ${summary.rejected} lines: ${JSON.stringify(summary.rejects.slice(0, 3))}`,
        );
    }
    return sent;
  } finally {
    bar?.stop();
    await producer.close().catch(() => undefined);
    await fs.rm(dir, { recursive: true, force: true });
  }
}

/**
 * Caught up = every demo event is queryable, the profile count has stopped moving (identity
 * merges are applied beside the events) and, where the stack keeps RFM snapshots, one was
 * computed after that. Bounded by `waitTimeoutMs`; the report says when it gave up.
 */
async function waitForPipeline(
  settings: DemoSettings,
  prefix: string,
  expected: number,
): Promise<{ caughtUp: boolean; waitedMs: number }> {
  const started = Date.now();
  const deadline = started + settings.waitTimeoutMs;
  const bar = settings.progress?.phase('waiting for the pipeline (events queryable)', expected);
  let caughtUp = false;
  try {
    let previousProfiles = -1;
    let stableSince = 0;
    while (Date.now() < deadline) {
      const [row] = await settings.sql<{ events: string; profiles: string }>(
        // uniqExact: an exact count of distinct messageIds (the events view is deduplicated already).
        'SELECT toString(uniqExact(message_id)) AS events, toString(uniqExact(profile_id)) AS profiles FROM events WHERE startsWith(message_id, {prefix:String})',
        { prefix },
      );
      const events = Number(row?.events ?? 0);
      const profiles = Number(row?.profiles ?? 0);
      bar?.update(Math.min(events, expected));
      if (events >= expected) {
        if (profiles !== previousProfiles) stableSince = Date.now();
        else if (Date.now() - stableSince >= 1_500) {
          caughtUp = await waitForRfmSnapshot(settings, prefix, deadline);
          break;
        }
      }
      previousProfiles = profiles;
      await delay(500);
    }
  } finally {
    bar?.stop();
  }
  return { caughtUp, waitedMs: Date.now() - started };
}

/**
 * The rfm view reads the latest snapshot (migration 0010): waits for one that holds every order
 * and merge of the demo, i.e. whose purchasers, orders and revenue equal what `rfm_as_of`
 * computes from the events now. (Waiting for a snapshot computed after the poll saw the events
 * settle missed one computed just before: the materializer takes a snapshot after the last
 * order or merge, then none until the next.)
 */
async function waitForRfmSnapshot(settings: DemoSettings, prefix: string, deadline: number): Promise<boolean> {
  const bar = settings.progress?.phase('waiting for an RFM snapshot of it all', 1);
  const totals = (rfm: string): string =>
    `(SELECT concat(toString(count()), '/', toString(sum(frequency)), '/', toString(sum(monetary_cents))) FROM ${rfm} WHERE profile_id IN (${demoProfiles}))`;
  let compared: string | undefined;
  try {
    while (Date.now() < deadline) {
      // Ranking every purchaser live is not free on a large stack: compare once per snapshot.
      const [latest] = await settings.sql<{ computed: string }>(
        'SELECT toString(max(computed_at)) AS computed FROM rfm',
      );
      if (latest?.computed !== compared) {
        compared = latest?.computed;
        const [row] = await settings.sql<{ snapshot: string; live: string }>(
          `SELECT ${totals('rfm')} AS snapshot, ${totals("rfm_as_of(as_of = {now:DateTime64(3, 'UTC')})")} AS live`,
          { prefix, now: new Date().toISOString().replace('T', ' ').replace('Z', '') },
        );
        if (row && row.snapshot === row.live) return true;
      }
      await delay(500);
    }
    return false;
  } finally {
    bar?.stop();
  }
}

const demoProfiles = 'SELECT DISTINCT profile_id FROM events WHERE startsWith(message_id, {prefix:String})';

async function readReport(
  settings: DemoSettings,
  population: DemoPopulation,
  sending: {
    httpMessages: number;
    accepted: number;
    rejected: number;
    imported: number;
    expectedEvents: number;
    caughtUp: boolean;
    waitedMs: number;
  },
): Promise<DemoReport> {
  const prefix = population.prefix;
  const num = (value: unknown): number => Number(value ?? 0);
  const [totals] = await settings.sql<Record<string, string>>(
    `SELECT toString(uniqExact(message_id)) AS events, toString(uniqExact(profile_id)) AS profiles FROM events WHERE startsWith(message_id, {prefix:String})`,
    { prefix },
  );
  const [identifiers] = await settings.sql<Record<string, string>>(
    `SELECT toString(count()) AS n FROM identities WHERE profile_id IN (${demoProfiles})`,
    { prefix },
  );
  const [yen] = await settings.sql<Record<string, string>>(
    `SELECT toString(count()) AS orders, toString(sum(revenue)) AS yen FROM events
     WHERE startsWith(message_id, {prefix:String}) AND event = 'Order Completed' AND currency = 'JPY'`,
    { prefix },
  );
  const [rates] = await settings.sql<{ jpy: number | string }>(
    "SELECT has(argMax(currencies, version), 'JPY') AS jpy FROM rfm_settings_store",
  );
  const grid = await settings.sql<Record<string, string | number>>(
    `SELECT r_score AS r, f_score AS f, toString(count()) AS profiles, toString(sum(monetary_cents)) AS cents
     FROM rfm WHERE profile_id IN (${demoProfiles}) GROUP BY r, f ORDER BY r DESC, f`,
    { prefix },
  );
  const labels = await settings.sql<Record<string, string>>(
    `SELECT label, toString(count()) AS profiles, toString(sum(monetary_cents)) AS cents
     FROM rfm WHERE profile_id IN (${demoProfiles}) GROUP BY label ORDER BY count() DESC, label`,
    { prefix },
  );
  const segments: { name: string; description: string; profiles: number }[] = [];
  for (const segment of demoSegments) {
    const [row] = await settings.sql<{ n: string }>(`SELECT toString(count()) AS n FROM (${segment.sql})`, {
      prefix,
      store: storeSource,
    });
    segments.push({ name: segment.name, description: segment.description, profiles: num(row?.n) });
  }
  const rfmGrid = grid.map((row) => ({
    r: num(row.r),
    f: num(row.f),
    profiles: num(row.profiles),
    revenueCents: num(row.cents),
  }));
  return {
    seed: population.options.seed,
    example: exampleIdentifier(population),
    people: population.truth.people,
    ...sending,
    events: num(totals?.events),
    profiles: num(totals?.profiles),
    identifiers: num(identifiers?.n),
    japaneseStore: { orders: num(yen?.orders), yen: num(yen?.yen) },
    yenConverted: num(rates?.jpy) === 1,
    purchasers: rfmGrid.reduce((sum, cell) => sum + cell.profiles, 0),
    revenueCents: rfmGrid.reduce((sum, cell) => sum + cell.revenueCents, 0),
    rfmGrid,
    labels: labels.map((row) => ({
      label: String(row.label),
      profiles: num(row.profiles),
      revenueCents: num(row.cents),
    })),
    segments,
    deadLetters: await countDeadLetters(settings, prefix),
    predictions: null,
  };
}

/** The demo customers' best identifier: user id, else email, else loyalty id. */
const customerColumns = `(SELECT argMin(concat(identifier_type, ':', identifier_value), multiIf(identifier_type = 'user_id', 1, identifier_type = 'email', 2, 3))
                          FROM identities WHERE profile_id = p.profile_id AND identifier_type IN ('user_id', 'email', 'customer_id')) AS identifier,
       r.frequency AS orders, r.recency_days AS recency_days, toString(r.monetary_cents) AS cents,
       p.p_alive AS p_alive, p.expected_purchases_90d AS e90, p.clv_365d AS clv`;

/**
 * Refits (the stack's purchasers), then reads the demo's purchasers: the five most likely to buy
 * in the next 90 days, and the five most valuable repeat buyers the model thinks have most
 * likely stopped (P(alive) under 0.5); then a backtest with the last 30 days as holdout (the
 * last third of the history when it is shorter than 90 days).
 */
async function readPredictions(settings: DemoSettings, prefix: string): Promise<DemoPredictions> {
  const api = settings.predictions!;
  const bar = settings.progress?.phase('fitting the prediction models', 2);
  let unavailable: string | null = null;
  let backtest: BacktestReport | null = null;
  try {
    await api.fit();
    bar?.update(1);
    const now = settings.now ?? Date.now();
    const holdoutDays = Math.min(30, Math.floor(settings.days / 3));
    backtest = await api.backtest(new Date(now - holdoutDays * 86_400_000).toISOString(), new Date(now).toISOString());
  } catch (error) {
    if (!(error instanceof PredictionsUnavailable)) throw error;
    unavailable = error.message;
  } finally {
    bar?.stop();
  }
  const customers = async (where: string, order: string): Promise<DemoCustomer[]> => {
    const rows = await settings.sql<Record<string, string | number>>(
      `SELECT ${customerColumns}
       FROM predictions AS p INNER JOIN rfm AS r ON r.profile_id = p.profile_id
       WHERE p.profile_id IN (${demoProfiles}) AND p.p_alive IS NOT NULL AND ${where}
       ORDER BY ${order}, p.profile_id LIMIT 5`,
      { prefix },
    );
    return rows.map((row) => ({
      identifier: String(row.identifier),
      orders: Number(row.orders),
      recencyDays: Number(row.recency_days),
      monetaryCents: Number(row.cents),
      pAlive: Number(row.p_alive),
      expectedPurchases90d: Number(row.e90),
      clv365d: Number(row.clv),
    }));
  };
  const [count] = await settings.sql<{ n: string }>(
    `SELECT toString(count()) AS n FROM predictions WHERE profile_id IN (${demoProfiles}) AND p_alive IS NOT NULL`,
    { prefix },
  );
  return {
    purchasers: Number(count?.n ?? 0),
    likelyToBuyAgain: await customers('1', 'p.expected_purchases_90d DESC'),
    aboutToChurn: await customers('p.p_alive < 0.5 AND r.frequency >= 2', 'r.monetary_cents DESC'),
    backtest,
    unavailable,
  };
}

/** The demo segments, as SQL a marketer could save with `kumiki segment create`. */
export const demoSegments: readonly { name: string; description: string; sql: string }[] = [
  {
    name: 'Cart abandonment',
    description: 'put something in the cart in the last 7 days and has not ordered since',
    // maxIf over no rows is the epoch, so "never ordered" counts as "not since".
    sql: `SELECT profile_id FROM events WHERE profile_id IN (${demoProfiles})
          GROUP BY profile_id
          HAVING maxIf(timestamp, event = 'Product Added') >= now64(3) - INTERVAL 7 DAY
             AND maxIf(timestamp, event = 'Order Completed') < maxIf(timestamp, event = 'Product Added')`,
  },
  {
    name: 'At risk',
    description: "RFM label At risk or Can't lose them: good customers who stopped buying",
    sql: `SELECT profile_id FROM rfm WHERE profile_id IN (${demoProfiles}) AND label IN ('At risk', 'Can''t lose them')`,
  },
  {
    name: 'Browsed online, bought in store',
    description: 'viewed pages on the web and has a store purchase',
    sql: `SELECT profile_id FROM events WHERE profile_id IN (${demoProfiles})
          GROUP BY profile_id
          HAVING countIf(type = 'page' AND channel = 'web') > 0 AND countIf(event = 'Order Completed' AND source = {store:String}) > 0`,
  },
];

/** Dead letters of the demo's messages, by code and reason, read from the DLQ topic through the registry. */
async function countDeadLetters(settings: DemoSettings, prefix: string): Promise<DemoReport['deadLetters']> {
  const logger = pino({ level: 'silent' });
  const kafka = createKafkaClient({ brokers: settings.kafkaBrokers, clientId: 'kumiki-demo', logger });
  const codec = new AvroCodec(new SchemaRegistryClient({ url: settings.registryUrl, logger }));
  const reader = schema('DeadLetter').type;
  const counts = new Map<string, { code: string; reason: string; count: number }>();
  const letters: Buffer[] = [];
  const seen = new Set<string>();
  await kafka.readToEnd({
    topic: settings.dlqTopic,
    groupIdPrefix: 'kumiki-demo-dlq',
    onBatch: (messages) => void letters.push(...messages.flatMap((m) => (m.value ? [m.value] : []))),
  });
  for (const bytes of letters) {
    let letter: DeadLetter;
    try {
      letter = (await codec.decode<DeadLetter>(bytes, reader)).value;
    } catch {
      continue; // not a kumiki dead letter
    }
    // A demo run again sends the same broken messages again: count each once.
    if (!letter.messageId?.startsWith(prefix) || seen.has(letter.messageId)) continue;
    seen.add(letter.messageId);
    // The collector names the element of its batch (`batch[12].timestamp`); the reason is the same for all.
    const reason = letter.reason.replace(/batch\[\d+\]\.?/g, '');
    const key = `${letter.code}\u0000${reason}`;
    const entry = counts.get(key) ?? { code: letter.code, reason, count: 0 };
    entry.count += 1;
    counts.set(key, entry);
  }
  return [...counts.values()].sort(
    (a, b) => b.count - a.count || a.code.localeCompare(b.code) || a.reason.localeCompare(b.reason),
  );
}

/** The report as a marketer reads it. */
export function formatDemoReport(report: DemoReport): string {
  const n = (value: number): string => value.toLocaleString('en-US');
  const usd = (cents: number): string =>
    `$${(cents / 100).toLocaleString('en-US', { minimumFractionDigits: 0, maximumFractionDigits: 0 })}`;
  const lines: string[] = [];
  lines.push('');
  lines.push(
    `kumiki demo: ${n(report.people)} people, ${n(report.expectedEvents)} events (${n(report.accepted)} over HTTP incl. retries, ${n(report.imported)} store purchases imported)`,
  );
  if (!report.caughtUp)
    lines.push(
      `  warning: the pipeline had not caught up after ${Math.round(report.waitedMs / 1000)} s; figures below are what is queryable now`,
    );
  lines.push('');
  lines.push(
    `Profiles stitched   ${n(report.profiles)} profiles from ${n(report.events)} events and ${n(report.identifiers)} identifiers (caught up in ${(report.waitedMs / 1000).toFixed(1)} s)`,
  );
  lines.push(`Purchasers          ${n(report.purchasers)}, net revenue ${usd(report.revenueCents)}`);
  lines.push(
    `Japanese stores     ${n(report.japaneseStore.orders)} purchases, ¥${n(report.japaneseStore.yen)} (CP932 export: yen amounts, 令和 dates, full-width contacts)`,
  );
  if (!report.yenConverted)
    lines.push(
      `  note: the stack has no JPY rate, so yen count 0 in revenue and RFM; start it with RFM_CURRENCY_RATES=${demoCurrencyRates}`,
    );
  lines.push('');
  lines.push(
    'RFM grid: profiles (net revenue) by R score (rows, 5 = bought most recently) and F score (columns, 5 = most orders)',
  );
  const cell = (r: number, f: number): string => {
    const c = report.rfmGrid.find((x) => x.r === r && x.f === f);
    return c ? `${n(c.profiles)} (${usd(c.revenueCents)})` : '-';
  };
  const cells = [5, 4, 3, 2, 1].map((r) => [`R=${r}`, ...[1, 2, 3, 4, 5].map((f) => cell(r, f))]);
  const header = ['', 'F=1', 'F=2', 'F=3', 'F=4', 'F=5'];
  const widths = header.map((h, i) => Math.max(h.length, ...cells.map((row) => row[i]!.length)));
  const render = (row: readonly string[]): string =>
    row.map((text, i) => (i === 0 ? text.padEnd(widths[i]!) : text.padStart(widths[i]!))).join('  ');
  lines.push(`  ${render(header)}`);
  for (const row of cells) lines.push(`  ${render(row)}`);
  lines.push('');
  lines.push('Top RFM labels');
  const labelWidth = Math.max(5, ...report.labels.map((l) => l.label.length));
  for (const label of report.labels)
    lines.push(
      `  ${label.label.padEnd(labelWidth)}  ${n(label.profiles).padStart(7)} ${plural(label.profiles)}  ${usd(label.revenueCents).padStart(10)}`,
    );
  lines.push('');
  lines.push('Segments');
  const segmentWidth = Math.max(...report.segments.map((s) => s.name.length));
  for (const segment of report.segments)
    lines.push(
      `  ${segment.name.padEnd(segmentWidth)}  ${n(segment.profiles).padStart(7)} ${plural(segment.profiles)}  ${segment.description}`,
    );
  lines.push('');
  const rejected = report.deadLetters.reduce((sum, d) => sum + d.count, 0);
  lines.push(`Dead letters (${n(rejected)} bad events, ${n(report.rejected)} rejected by the collector)`);
  for (const letter of report.deadLetters)
    lines.push(`  ${n(letter.count).padStart(7)}  ${letter.code}  ${letter.reason}`);
  lines.push('');
  if (report.predictions) lines.push(...formatDemoPredictions(report.predictions, usd), '');
  lines.push(`Next: kumiki sql "SELECT label, count() FROM rfm GROUP BY label"`);
  if (report.example) lines.push(`      kumiki profile ${report.example}   ·   kumiki explain ${report.example}`);
  return `${lines.join('\n')}\n`;
}

function formatDemoPredictions(predictions: DemoPredictions, usd: (cents: number) => string): string[] {
  const lines = [
    `Predictions (BG/NBD + Gamma-Gamma; ${predictions.purchasers.toLocaleString('en-US')} purchasers scored)`,
  ];
  if (predictions.purchasers === 0) {
    lines.push(`  none: ${predictions.unavailable ?? 'no model yet'}`);
    return lines;
  }
  const table = (title: string, customers: readonly DemoCustomer[]): void => {
    lines.push(`  ${title}`);
    if (customers.length === 0) lines.push('    (nobody)');
    for (const c of customers)
      lines.push(
        `    ${c.identifier.padEnd(34)} ${String(c.orders).padStart(3)} orders, last ${String(c.recencyDays).padStart(3)} d ago, ${usd(c.monetaryCents).padStart(7)}   P(alive) ${c.pAlive.toFixed(2)}, ${c.expectedPurchases90d.toFixed(2)} purchases in 90 d, CLV ${usd(Math.round(c.clv365d * 100))}`,
      );
  };
  table('Likely to buy again (most expected purchases in the next 90 days)', predictions.likelyToBuyAgain);
  table('About to churn (repeat buyers with P(alive) < 0.5, most valuable first)', predictions.aboutToChurn);
  const b = predictions.backtest;
  if (b) {
    const auc = b.propensity.quality?.auc;
    lines.push(
      `  Backtest (${Math.round(b.holdoutDays)}-day holdout): ${b.repeatPurchases.predicted.toFixed(1)} repeat purchase days predicted, ${b.repeatPurchases.actual} happened; propensity AUC ${auc == null ? 'n/a' : auc.toFixed(2)}${b.recommendations ? `; recommendations hit rate at 5 ${(100 * b.recommendations.hitRateAt5).toFixed(0)} % (popular products ${(100 * b.recommendations.popularityHitRateAt5).toFixed(0)} %)` : ''}`,
    );
  } else if (predictions.unavailable) lines.push(`  Backtest: ${predictions.unavailable}`);
  return lines;
}

/** A failure the demo explains in one line (collector refused, import rejected). */
export class DemoError extends KumikiError {
  readonly isRetriable = false;
}

/** The user id of the person whose profile joins the most kinds of identifier. */
function exampleIdentifier(population: DemoPopulation): string | null {
  let best: { id: string; kinds: number } | null = null;
  for (const components of population.truth.components.values()) {
    for (const component of components) {
      const userId = component.find((identifier) => identifier.startsWith('user_id:'));
      const kinds = new Set(component.map((identifier) => identifier.slice(0, identifier.indexOf(':')))).size;
      if (userId && (!best || kinds > best.kinds)) best = { id: userId, kinds };
    }
  }
  return best?.id ?? null;
}

function plural(count: number): string {
  return count === 1 ? 'profile ' : 'profiles';
}

function delay(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}
