import type { ClickHouse } from '../../common/clickhouse/client-factory';
import { floatLiteral, integerLiteral } from '../../common/clickhouse/sql-text';
import { inBucket, runBuckets, runInBuckets } from './buckets';
import { smallInsertBlocks } from './heavy-query-settings';
import { DAY_MS } from './prediction-inputs';

/** A next purchase expected further away than this is no prediction: next_purchase_at is NULL. */
export const MAX_NEXT_PURCHASE_DAYS = 3650;

/**
 * Profiles per statement when writing a run's rows (its propensities held to join) and when
 * comparing two runs' rows (one tuple state per profile and figure).
 */
const PROFILES_PER_BUCKET = 125_000;

/**
 * The rows of the predictions view for run `version`: purchasers (inputs joined with their
 * triple's figures, Gamma-Gamma's expected value and CLV computed here, propensity when scored),
 * then profiles with a propensity that never bought (their BG/NBD columns NULL). In buckets of
 * the profile (buckets.ts), PROFILES_PER_BUCKET purchasers each: the propensities of a bucket's
 * profiles are what a statement holds to join.
 */
export async function writeRows(
  ch: ClickHouse,
  version: number,
  asOf: number,
  gg: { p: number; q: number; gamma: number },
): Promise<number> {
  const v = integerLiteral(version);
  const at = `fromUnixTimestamp64Milli(toInt64(${integerLiteral(asOf)}), 'UTC')`;
  const p = floatLiteral(gg.p);
  const buckets = await runBuckets(ch, 'prediction_inputs_store', version, PROFILES_PER_BUCKET);
  await runInBuckets(
    ch,
    buckets,
    (bucket) =>
      `INSERT INTO prediction_rows_store (version, profile_id, p_alive, expected_purchases_30d, expected_purchases_90d,
                                          expected_order_value, clv_365d, next_purchase_at, purchase_propensity_30d, computed_at)
       SELECT i.version, i.profile_id, t.p_alive, t.expected_purchases_30d, t.expected_purchases_90d,
              ${p} * (${floatLiteral(gg.gamma)} + i.x * i.monetary) / (${p} * i.x + ${floatLiteral(gg.q - 1)}) AS value,
              round(t.clv_purchases_365d * value, 2),
              if(t.next_purchase_days > ${MAX_NEXT_PURCHASE_DAYS}, NULL,
                 fromUnixTimestamp64Milli(toInt64(${integerLiteral(asOf)}) + toInt64(round(t.next_purchase_days * ${DAY_MS})), 'UTC')),
              pr.propensity,
              ${at}
       FROM prediction_inputs_store AS i
       INNER JOIN (SELECT * FROM prediction_triples_store WHERE version = ${v}) AS t ON t.x = i.x AND t.t_x = i.t_x AND t.T = i.T
       LEFT JOIN (SELECT profile_id, propensity FROM prediction_propensity_store
                  WHERE version = ${v} AND ${inBucket('profile_id', bucket)}) AS pr ON pr.profile_id = i.profile_id
       WHERE i.version = ${v} AND ${inBucket('i.profile_id', bucket)}
       SETTINGS join_use_nulls = 1`,
    smallInsertBlocks,
  );
  await runInBuckets(
    ch,
    buckets,
    (bucket) =>
      `INSERT INTO prediction_rows_store (version, profile_id, purchase_propensity_30d, computed_at)
       SELECT version, profile_id, propensity, ${at}
       FROM prediction_propensity_store
       WHERE version = ${v} AND ${inBucket('profile_id', bucket)}
         AND profile_id NOT IN (SELECT profile_id FROM prediction_inputs_store WHERE version = ${v} AND ${inBucket('profile_id', bucket)})`,
    smallInsertBlocks,
  );
  // Exact: the partition was written by the two statements above, one row per profile.
  const [row] = await ch.query<{ n: string }>(
    'SELECT count() AS n FROM prediction_rows_store WHERE version = {version:UInt64}',
    {
      version,
    },
  );
  return Number(row?.n ?? 0);
}

/** The latest complete model version, 0 when none. */
export async function latestVersion(ch: ClickHouse): Promise<number> {
  const [row] = await ch.query<{ version: string }>('SELECT max(version) AS version FROM prediction_models_store');
  return Number(row?.version ?? 0);
}

/**
 * Stages the profiles whose predictions in `version` differ from those of `previous`: newly in,
 * gone, or a figure changed at the precision people read it (probabilities to 0.01, expected
 * purchases to 0.1, money to whole units, the next purchase to the day). Small drifts of every
 * profile at each refit would otherwise republish every purchaser each time. In buckets of the
 * profile (buckets.ts), PROFILES_PER_BUCKET of the new run's rows each.
 */
export async function stageChanges(ch: ClickHouse, version: number, previous: number): Promise<number> {
  const key = `tuple(ifNull(round(p_alive, 2), -1), ifNull(round(expected_purchases_30d, 1), -1), ifNull(round(expected_purchases_90d, 1), -1),
                     ifNull(round(expected_order_value), -1), ifNull(round(clv_365d), -1), ifNull(toDate(next_purchase_at), toDate(0)),
                     ifNull(round(purchase_propensity_30d, 2), -1))`;
  await runInBuckets(
    ch,
    await runBuckets(ch, 'prediction_rows_store', version, PROFILES_PER_BUCKET),
    (bucket) =>
      `INSERT INTO prediction_changes (version, profile_id)
       SELECT toUInt64(${integerLiteral(version)}), profile_id
       FROM prediction_rows_store
       WHERE version IN (${integerLiteral(previous)}, ${integerLiteral(version)}) AND ${inBucket('profile_id', bucket)}
       GROUP BY profile_id
       HAVING count() = 1 OR min(${key}) != max(${key})`,
  );
  const [row] = await ch.query<{ n: string }>(
    'SELECT count() AS n FROM prediction_changes WHERE version = {version:UInt64}',
    {
      version,
    },
  );
  return Number(row?.n ?? 0);
}

/** Staged changes of `version` after profile id `after`, at most `limit`, in id order. */
export async function changesPage(ch: ClickHouse, version: number, after: string, limit: number): Promise<string[]> {
  const rows = await ch.query<{ profile_id: string }>(
    `SELECT profile_id FROM prediction_changes WHERE version = {version:UInt64} AND profile_id > {after:String}
     ORDER BY profile_id LIMIT {limit:UInt32}`,
    { version, after, limit },
  );
  return rows.map((row) => row.profile_id);
}
