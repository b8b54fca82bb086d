import type { ClickHouse } from '../../common/clickhouse/client-factory';
import { centsToAmount } from './money';
import { labelGrid, type RfmLabel } from './rfm-labels';
import type { RfmRow, RfmSettings } from './rfm';
import { stringList, stringListParam } from '../../common/clickhouse/string-list';

/**
 * RFM in ClickHouse: the `rfm_as_of` parameterized view (migration 0006) computes it from the
 * deduplicated events at read time; this module writes the settings that view reads and reads
 * its rows back in the shape of the TypeScript reference (rfm.ts).
 */
/**
 * Writes the settings the views read (latest version wins), then copies into order_events_store
 * (migration 0025) the past events of every purchase or refund event name that
 * order_events_coverage does not list (all of them on the first start after that migration): its
 * materialized view keeps only the names of the settings in force at each insert. Copies already
 * there collapse (ReplacingMergeTree), so a repeated copy changes nothing. The coverage becomes
 * the settings' names, so a name dropped and added again later is copied again.
 */
export async function writeRfmSettings(ch: ClickHouse, settings: RfmSettings, version = Date.now()): Promise<void> {
  const [covered] = await ch.query<{ names: string[]; latest: string }>(
    'SELECT argMax(names, version) AS names, toString(max(version)) AS latest FROM order_events_coverage',
  );
  const before = new Set(covered?.names ?? []);
  const names = [...new Set([...settings.purchaseEvents, ...settings.refundEvents])];
  const added = names.filter((name) => !before.has(name));
  const currencies = [...settings.rates.keys()];
  await ch.insert('rfm_settings_store', [
    {
      name: 'default',
      purchase_events: [...settings.purchaseEvents],
      refund_events: [...settings.refundEvents],
      window_days: settings.windowDays,
      reporting_currency: settings.reportingCurrency,
      currencies,
      // Int64 as strings: JSON numbers above 2^53 would lose precision.
      rates_micros: currencies.map((c) => settings.rates.get(c)!.toString()),
      label_grid: labelGrid(),
      version,
    },
  ]);
  if (added.length > 0) await copyOrderEvents(ch, added);
  await ch.insert('order_events_coverage', [
    { name: 'default', names, version: Math.max(version, Number(covered?.latest ?? 0) + 1) },
  ]);
}

/** Copies the track events named `names` from events_store into order_events_store (every copy). */
async function copyOrderEvents(ch: ClickHouse, names: readonly string[]): Promise<void> {
  await ch.command(
    `INSERT INTO order_events_store (order_key, message_id, profile_id, event, timestamp, order_id, revenue, currency, version)
     SELECT if(order_id = '', message_id, order_id), message_id, profile_id, event, timestamp, order_id, revenue, currency, version
     FROM events_store
     WHERE type = 'track' AND event IN {names:Array(String)}`,
    { names },
  );
}

interface RfmDbRow {
  profile_id: string;
  last_purchase_ms: string;
  recency_days: number;
  frequency: number;
  monetary_cents: string;
  r_score: number;
  f_score: number;
  m_score: number;
  label: string;
}

/** The columns of rfm_as_of and of the rfm view that make an RfmRow. */
const rfmColumns = `profile_id, toString(toUnixTimestamp64Milli(last_purchase_at)) AS last_purchase_ms, recency_days, frequency,
            toString(monetary_cents) AS monetary_cents, r_score, f_score, m_score, label`;

/**
 * RFM of every purchaser (or of `profileIds` only) as of `asOf` (epoch ms). The profile filter
 * is applied outside the view, after the window functions, so scores stay ranked among all
 * purchasers.
 */
export async function readRfm(
  ch: ClickHouse,
  asOf: number,
  profileIds?: readonly string[],
): Promise<Map<string, RfmRow>> {
  const filter = profileIds ? `WHERE profile_id IN ${stringList('ids')}` : '';
  const rows = await ch.query<RfmDbRow>(
    `SELECT ${rfmColumns}
     FROM rfm_as_of(as_of = fromUnixTimestamp64Milli({as_of:Int64}, 'UTC'))
     ${filter}`,
    { as_of: asOf, ...(profileIds ? { ids: stringListParam(profileIds) } : {}) },
  );
  return new Map(rows.map((row) => [row.profile_id, toRfmRow(row)]));
}

/**
 * RFM of `profileIds` from the latest complete snapshot (the rfm view): one partition read,
 * where readRfm ranks every purchaser again. For ProfileUpdates published because a snapshot
 * changed, whose figures are then the snapshot's own (recency_days as of its computed_at).
 */
export async function readSnapshotRfm(ch: ClickHouse, profileIds: readonly string[]): Promise<Map<string, RfmRow>> {
  if (profileIds.length === 0) return new Map();
  const rows = await ch.query<RfmDbRow>(`SELECT ${rfmColumns} FROM rfm WHERE profile_id IN ${stringList('ids')}`, {
    ids: stringListParam(profileIds),
  });
  return new Map(rows.map((row) => [row.profile_id, toRfmRow(row)]));
}

function toRfmRow(row: RfmDbRow): RfmRow {
  const cents = BigInt(row.monetary_cents);
  return {
    profileId: row.profile_id,
    lastPurchaseAt: Number(row.last_purchase_ms),
    recencyDays: Number(row.recency_days),
    frequency: Number(row.frequency),
    monetaryCents: cents,
    monetary: centsToAmount(cents),
    r: Number(row.r_score),
    f: Number(row.f_score),
    m: Number(row.m_score),
    label: row.label as RfmLabel,
  };
}
