import type { Predictions } from '../../../schemas';
import type { ClickHouse } from '../../common/clickhouse/client-factory';
import { stringList, stringListParam } from '../../common/clickhouse/string-list';
import type { ModelFigures, ModelVersion } from '../../common/predictions/model-reports';
import type { Neighbour, ProfileItems } from './recommendations';
import { interactionsSql } from './recommendations';

/**
 * Reads of the predictions: per profile from the predictions view (the latest complete model
 * version; merged-away profiles hidden), the model catalogue, and what recommending for one
 * profile needs.
 */
interface PredictionRow {
  profile_id: string;
  p_alive: number | null;
  expected_purchases_30d: number | null;
  expected_purchases_90d: number | null;
  expected_order_value: number | null;
  clv_365d: number | null;
  next_purchase_ms: string | null;
  purchase_propensity_30d: number | null;
  model_version: string;
  computed_ms: string;
}

/** Predictions of `profileIds` as ProfileUpdates carry them (a primary-key read of one partition). */
export async function readPredictions(
  ch: ClickHouse,
  profileIds: readonly string[],
): Promise<Map<string, Predictions>> {
  if (profileIds.length === 0) return new Map();
  const rows = await ch.query<PredictionRow>(
    `SELECT profile_id, p_alive, expected_purchases_30d, expected_purchases_90d, expected_order_value, clv_365d,
            toString(toUnixTimestamp64Milli(next_purchase_at)) AS next_purchase_ms, purchase_propensity_30d,
            toString(model_version) AS model_version, toString(toUnixTimestamp64Milli(computed_at)) AS computed_ms
     FROM predictions WHERE profile_id IN ${stringList('ids')}`,
    { ids: stringListParam(profileIds) },
  );
  return new Map(
    rows.map((row) => [
      row.profile_id,
      {
        pAlive: row.p_alive,
        expectedPurchases30d: row.expected_purchases_30d,
        expectedPurchases90d: row.expected_purchases_90d,
        expectedOrderValue: row.expected_order_value,
        clv365d: row.clv_365d,
        nextPurchaseAt: row.next_purchase_ms === null ? null : Number(row.next_purchase_ms),
        purchasePropensity30d: row.purchase_propensity_30d,
        modelVersion: Number(row.model_version),
        computedAt: Number(row.computed_ms),
      },
    ]),
  );
}

/** The API's JSON form of Predictions (times as ISO-8601). */
export function predictionsJson(predictions: Predictions): Record<string, unknown> {
  return {
    ...predictions,
    nextPurchaseAt: predictions.nextPurchaseAt === null ? null : new Date(predictions.nextPurchaseAt).toISOString(),
    computedAt: new Date(predictions.computedAt).toISOString(),
  };
}

interface ModelRow {
  version: string;
  as_of_ms: string;
  computed_ms: string;
  customers: string;
  repeat_customers: string;
  start_ms: string;
  end_ms: string;
  r: number;
  alpha: number;
  a: number;
  b: number;
  p: number;
  q: number;
  gamma: number;
  log_likelihood: number;
  figures: string;
}

/** Model versions, newest first (the two newest have rows; older ones are history). */
export async function listModels(ch: ClickHouse, limit = 50): Promise<ModelVersion[]> {
  // FINAL: one row per version, whatever merges have happened.
  const rows = await ch.query<ModelRow>(
    `SELECT toString(version) AS version, toString(toUnixTimestamp64Milli(as_of)) AS as_of_ms,
            toString(toUnixTimestamp64Milli(computed_at)) AS computed_ms, toString(customers) AS customers,
            toString(repeat_customers) AS repeat_customers, toString(toUnixTimestamp64Milli(window_start)) AS start_ms,
            toString(toUnixTimestamp64Milli(window_end)) AS end_ms, r, alpha, a, b, p, q, gamma, log_likelihood, figures
     FROM prediction_models_store FINAL ORDER BY version DESC LIMIT {limit:UInt32}`,
    { limit },
  );
  const iso = (ms: string): string => new Date(Number(ms)).toISOString();
  return rows.map((row) => ({
    version: Number(row.version),
    model: 'bgnbd-gg',
    timeUnit: 'day',
    asOf: iso(row.as_of_ms),
    computedAt: iso(row.computed_ms),
    customers: Number(row.customers),
    repeatCustomers: Number(row.repeat_customers),
    window: { start: iso(row.start_ms), end: iso(row.end_ms) },
    params: { r: row.r, alpha: row.alpha, a: row.a, b: row.b, p: row.p, q: row.q, gamma: row.gamma },
    logLikelihood: row.log_likelihood,
    figures: JSON.parse(row.figures) as ModelFigures,
  }));
}

/**
 * What recommending for `profileId` needs: its products (read from events_store by the profile
 * and every profile merged into it: duplicates of an event add nothing to a set, so no FINAL),
 * the served neighbours of those products and the popular products of the latest model version.
 * Null when there is no model yet.
 */
export async function recommendationInputs(
  ch: ClickHouse,
  profileId: string,
): Promise<{ items: ProfileItems; neighbours: Neighbour[]; popular: string[]; version: number } | null> {
  const [model] = await ch.query<{ version: string; popular_items: string[] }>(
    'SELECT toString(version) AS version, popular_items FROM prediction_models_store ORDER BY version DESC LIMIT 1',
  );
  if (!model) return null;
  const members = `(SELECT {id:String} UNION ALL SELECT absorbed_profile_id FROM profile_aliases WHERE surviving_profile_id = {id:String})`;
  const rows = await ch.query<{ item: string; bought: number }>(
    `SELECT item, max(is_purchase) AS bought FROM (${interactionsSql('now64(3)', 'events_store', `AND profile_id IN ${members}`)}) GROUP BY item`,
    { id: profileId },
  );
  const items = new Map(rows.map((row) => [row.item, Number(row.bought) === 1]));
  const neighbours =
    items.size === 0
      ? []
      : await ch.query<Neighbour>(
          `SELECT item, other, score FROM item_similarity_store
           WHERE version = {version:UInt64} AND split = 0 AND item IN ${stringList('items')}`,
          { version: model.version, items: stringListParam([...items.keys()]) },
        );
  return { items, neighbours, popular: model.popular_items, version: Number(model.version) };
}
