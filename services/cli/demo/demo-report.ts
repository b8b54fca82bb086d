import pino from 'pino';
import { schema, type DeadLetter } from '../../../schemas';
import { createKafkaClient } from '../../common/kafka/client';
import { AvroCodec, SchemaRegistryClient } from '../../common/registry';
import { demoCurrencyRates } from './demo-japanese-stores';
import { formatDemoPredictions, type DemoPredictions } from './demo-predictions';
import { demoProfiles } from './demo-scope';
import type { DemoPopulation } from './demo-types';
import type { DemoSettings } from './demo-settings';

/**
 * The demo's report: read back from the stack (readReport) and printed (formatDemoReport). Every
 * figure is about the demo's own events (messageIds starting with its prefix) and their profiles.
 */
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

/** What a marketer looks at, read back through the read API and the dead-letter topic. */
export async function readReport(
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
