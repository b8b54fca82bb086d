import type { ClickHouse } from '../../common/clickhouse/client-factory';
import { heavyQuerySettings, smallInsertBlocks } from './heavy-query-settings';
import { integerLiteral } from '../../common/clickhouse/sql-text';
import type { BgnbdData } from './bgnbd';
import type { GammaGammaData } from './gamma-gamma';
import { GrowingArray, streamPages } from './stream-rows';
import { inSortKeyOrder, releaseFreedMemory } from './buckets';

export const DAY_MS = 86_400_000;

/** What the orders say as of a run's as-of time. */
export interface InputTotals {
  readonly purchasers: number;
  readonly repeatBuyers: number;
  /** Earliest counted order (epoch ms); null without orders. */
  readonly firstOrderAt: number | null;
  readonly purchaseDays: number;
}

/**
 * Stages the counted orders as of `asOf` (epoch ms) under `version` in prediction_orders_store:
 * orders_as_of (migrations 0019, 0025) evaluated once per run (one order per order key, refunds
 * known at `asOf` netted, fully refunded orders left out). One statement: orders_as_of reads the
 * order events sorted by order key (order_events_store), so ClickHouse aggregates them in that
 * order, one order's state at a time, however many orders there are.
 */
export async function stageOrders(ch: ClickHouse, version: number, asOf: number): Promise<void> {
  await ch.command(
    `INSERT INTO prediction_orders_store (version, profile_id, order_time, net_units)
     SELECT toUInt64(${integerLiteral(version)}), profile_id, order_time, net_units
     FROM orders_as_of(as_of = fromUnixTimestamp64Milli(toInt64(${integerLiteral(asOf)}), 'UTC'))`,
    undefined,
    { settings: { ...heavyQuerySettings, ...inSortKeyOrder, ...smallInsertBlocks } },
  );
  await releaseFreedMemory(ch);
}

/**
 * Writes the per-purchaser summary of run `version` as of `asOf` (epoch ms) into
 * prediction_inputs_store from its staged orders (stageOrders), in one INSERT … SELECT: purchase
 * days are UTC days (intDiv of epoch ms), several orders of one day are one purchase whose value
 * is their sum (repeat purchases counted per day, as the BG/NBD literature does); x = purchase
 * days − 1, t_x = last − first day, T = as-of day − first day; monetary = the mean value of the
 * repeat days (all days but the first: every order but those of the first day), in the reporting
 * currency.
 *
 * Exactness: the staged orders hold one row per order; this reads each once, grouped by profile.
 * The staged orders are sorted by profile, so ClickHouse aggregates them one profile at a time
 * (inSortKeyOrder): a profile's days and values as two arrays, summarised from them, in blocks
 * of 8,192 orders (a block's profiles' arrays are held together, and blocks of the default size
 * hold hundreds of MB of them at a million purchasers).
 */
export async function writeInputs(ch: ClickHouse, version: number, asOf: number): Promise<InputTotals> {
  const asOfDay = Math.floor(asOf / DAY_MS);
  await stageOrders(ch, version, asOf);
  await ch.command(
    `INSERT INTO prediction_inputs_store (version, profile_id, x, t_x, T, monetary, last_purchase_at)
     SELECT toUInt64(${integerLiteral(version)}), profile_id,
            toUInt32(length(arrayDistinct(days)) - 1) AS x,
            toUInt32(last_day - first_day) AS t_x,
            toUInt32(${integerLiteral(asOfDay)} - first_day) AS T,
            if(x > 0, toFloat64(arraySum(arrayMap((day, units) -> if(day = first_day, toInt128(0), units), days, values))) / 1e12 / x, 0) AS monetary,
            last_purchase_at
     FROM
     (
         SELECT profile_id, groupArray(intDiv(toUnixTimestamp64Milli(order_time), ${DAY_MS})) AS days, groupArray(net_units) AS values,
                arrayMin(days) AS first_day, arrayMax(days) AS last_day, max(order_time) AS last_purchase_at
         FROM prediction_orders_store
         WHERE version = ${integerLiteral(version)}
         GROUP BY profile_id
     )`,
    undefined,
    { settings: { ...inSortKeyOrder, ...smallInsertBlocks, max_block_size: '8192' } },
  );
  await releaseFreedMemory(ch);
  // Exact: the partition under `version` was written by this one statement.
  const [row] = await ch.query<{ purchasers: string; repeat: string; days: string; first: string | null }>(
    `SELECT count() AS purchasers, countIf(x > 0) AS repeat, sum(x + 1) AS days,
            if(count() = 0, NULL, toString(${integerLiteral(asOfDay)} - max(T))) AS first
     FROM prediction_inputs_store WHERE version = {version:UInt64}`,
    { version },
  );
  return {
    purchasers: Number(row?.purchasers ?? 0),
    repeatBuyers: Number(row?.repeat ?? 0),
    purchaseDays: Number(row?.days ?? 0),
    firstOrderAt: row?.first == null ? null : Number(row.first) * DAY_MS,
  };
}

/** Rows read per query (streamPages). */
const ROWS_PER_PAGE = 50_000;
const triple = [
  { column: 'x', type: 'UInt32' },
  { column: 't_x', type: 'UInt32' },
  { column: 'T', type: 'UInt32' },
] as const;

/** The BG/NBD histogram of run `version`: customers per distinct (x, t_x, T). */
export async function readHistogram(ch: ClickHouse, version: number): Promise<BgnbdData> {
  const x = new GrowingArray();
  const tx = new GrowingArray();
  const T = new GrowingArray();
  const count = new GrowingArray();
  await streamPages(
    ch,
    triple,
    ROWS_PER_PAGE,
    (after) =>
      `SELECT x, t_x, T, count() FROM prediction_inputs_store WHERE version = ${integerLiteral(version)} AND ${after}
       GROUP BY x, t_x, T ORDER BY x, t_x, T`,
    (row) => {
      x.push(Number(row[0]));
      tx.push(Number(row[1]));
      T.push(Number(row[2]));
      count.push(Number(row[3]));
    },
  );
  return { x: x.view(), tx: tx.view(), T: T.view(), count: count.view() };
}

/**
 * The Gamma-Gamma fit reads at most this many repeat buyers (a hash sample beyond): its standard
 * errors at that size are a fraction of a percent, and each evaluation of its likelihood costs a
 * logarithm per buyer. Every buyer is still scored.
 */
export const MAX_GAMMA_GAMMA_ROWS = 250_000;

/** Repeat buyers with a positive mean value (the Gamma-Gamma fit's data; a hash sample above MAX_GAMMA_GAMMA_ROWS). */
export async function readRepeatBuyers(ch: ClickHouse, version: number): Promise<GammaGammaData> {
  const v = integerLiteral(version);
  const [row] = await ch.query<{ n: string }>(
    `SELECT count() AS n FROM prediction_inputs_store WHERE version = ${v} AND x > 0 AND monetary > 0`,
  );
  const total = Number(row?.n ?? 0);
  const keepPerMillion = Math.min(1_000_000, Math.ceil((MAX_GAMMA_GAMMA_ROWS / Math.max(total, 1)) * 1_000_000));
  const x = new GrowingArray();
  const m = new GrowingArray();
  await streamPages(
    ch,
    [...triple, { column: 'profile_id', type: 'String' }],
    ROWS_PER_PAGE,
    (after) =>
      `SELECT x, t_x, T, profile_id, monetary FROM prediction_inputs_store
       WHERE version = ${v} AND x > 0 AND monetary > 0 AND cityHash64(profile_id) % 1000000 < ${integerLiteral(keepPerMillion)}
         AND ${after}
       ORDER BY x, t_x, T, profile_id`,
    (row) => {
      x.push(Number(row[0]));
      m.push(Number(row[4]));
    },
  );
  return { x: x.view(), m: m.view() };
}
