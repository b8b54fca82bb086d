import type { ClickHouse } from '../../common/clickhouse/client-factory';
import { floatLiteral, integerLiteral } from '../../common/clickhouse/sql-text';
import { fitLogistic, predictLogistic, type LogisticModel } from './logistic-regression';
import { scoreQuality, type ScoreQuality } from './model-quality';
import { DAY_MS } from './prediction-inputs';
import { GrowingArray, streamRows } from './stream-rows';

/**
 * Purchase propensity: will a profile buy in the next `horizonDays` days? A logistic regression
 * on behavioural features computed in ClickHouse from the events up to a reference time R:
 *
 *   split 2: features at A − 2h, label = bought in (A − 2h, A − h]   → trains the quality check
 *   split 1: features at A − h,  label = bought in (A − h, A]        → evaluates it, then trains the model used
 *   split 0: features at A                                           → scored (in ClickHouse)
 *
 * so the quality reported (AUC, top-decile lift, calibration) is measured on a later period
 * than the one the model learnt from, as it will be used. The population at R: profiles with an
 * event in the year before R. "Bought" = a counted order (orders_as_of at the end of the label
 * period, so an order refunded within it does not count).
 */
/** An event that is a visit: a page or screen view, a product viewed or added to the cart. */
const visit = `type IN ('page', 'screen') OR event IN ('Product Viewed', 'Product Added')`;

export const propensityFeatures = [
  ['days_since_last_event', 'least(365, (ref_ms - toUnixTimestamp64Milli(max(timestamp))) / 86400000)'],
  ['days_since_first_event', 'least(365, (ref_ms - toUnixTimestamp64Milli(min(timestamp))) / 86400000)'],
  ['days_since_last_visit', `least(365, (ref_ms - toUnixTimestamp64Milli(maxIf(timestamp, ${visit}))) / 86400000)`],
  ['events_7d', 'log1p(countIf(timestamp > ref - INTERVAL 7 DAY))'],
  ['page_views_30d', `log1p(countIf(type IN ('page', 'screen') AND timestamp > ref - INTERVAL 30 DAY))`],
  ['page_views_365d', `log1p(countIf(type IN ('page', 'screen')))`],
  ['product_views_30d', `log1p(countIf(event = 'Product Viewed' AND timestamp > ref - INTERVAL 30 DAY))`],
  ['product_views_365d', `log1p(countIf(event = 'Product Viewed'))`],
  ['cart_adds_30d', `log1p(countIf(event = 'Product Added' AND timestamp > ref - INTERVAL 30 DAY))`],
  ['cart_adds_365d', `log1p(countIf(event = 'Product Added'))`],
  ['channels_90d', 'uniqExactIf(channel, timestamp > ref - INTERVAL 90 DAY)'],
  ['orders_90d', 'log1p(any(o.orders_90d))'],
  ['orders_365d', 'log1p(any(o.orders_365d))'],
  ['monetary_365d', 'log1p(any(o.monetary_365d))'],
  ['days_since_last_order', 'if(any(o.orders_365d) = 0, 365, least(365, any(o.days_since_last_order)))'],
] as const;

/** Splits, as stored in prediction_features_store. */
export const SPLIT_NOW = 0;
export const SPLIT_RECENT = 1;
export const SPLIT_EARLIER = 2;

/** At least this many buyers and non-buyers in a training split, else no propensity model. */
export const MIN_CLASS_SIZE = 20;
/** Rows of a split read into Node at most (a hash sample beyond): 200,000 × 15 features ≈ 24 MB. */
const MAX_ROWS_READ = 200_000;

/**
 * Writes the features of `split` at reference time `ref` (epoch ms), labelled with purchases in
 * (ref, labelEnd] when `labelEnd` is given, in one INSERT … SELECT.
 */
export async function writeFeatures(
  ch: ClickHouse,
  version: number,
  split: number,
  ref: number,
  labelEnd: number | null,
): Promise<number> {
  const refText = integerLiteral(ref);
  const label =
    labelEnd === null
      ? '0'
      : `toUInt8(e.profile_id IN (SELECT profile_id FROM orders_as_of(as_of = fromUnixTimestamp64Milli(toInt64(${integerLiteral(labelEnd)}), 'UTC')) WHERE order_time > ref))`;
  await ch.command(
    `INSERT INTO prediction_features_store (version, split, profile_id, features, label)
     WITH fromUnixTimestamp64Milli(toInt64(${refText}), 'UTC') AS ref, toInt64(${refText}) AS ref_ms
     SELECT toUInt64(${integerLiteral(version)}), toUInt8(${integerLiteral(split)}), e.profile_id,
            [${propensityFeatures.map(([, sql]) => `toFloat64(${sql})`).join(', ')}],
            ${label}
     FROM events AS e
     LEFT JOIN
     (
         SELECT profile_id,
                countIf(order_time > ref - INTERVAL 90 DAY) AS orders_90d,
                count() AS orders_365d,
                toFloat64(sum(net_units)) / 1e12 AS monetary_365d,
                (ref_ms - toUnixTimestamp64Milli(max(order_time))) / 86400000 AS days_since_last_order
         FROM orders_as_of(as_of = ref)
         WHERE order_time > ref - INTERVAL 365 DAY
         GROUP BY profile_id
     ) AS o ON o.profile_id = e.profile_id
     WHERE e.timestamp <= ref AND e.timestamp > ref - INTERVAL 365 DAY
     GROUP BY e.profile_id`,
  );
  const [row] = await ch.query<{ n: string }>(
    'SELECT count() AS n FROM prediction_features_store WHERE version = {version:UInt64} AND split = {split:UInt8}',
    { version, split },
  );
  return Number(row?.n ?? 0);
}

/** A split's rows (a deterministic hash sample of at most MAX_ROWS_READ), features flat. */
export async function readSplit(
  ch: ClickHouse,
  version: number,
  split: number,
  rows: number,
): Promise<{ values: Float64Array; labels: Uint8Array }> {
  const keepPerMillion = Math.min(1_000_000, Math.ceil((MAX_ROWS_READ / Math.max(rows, 1)) * 1_000_000));
  const values = new GrowingArray();
  const labels: number[] = [];
  await streamRows(
    ch,
    `SELECT features, label FROM prediction_features_store
     WHERE version = ${integerLiteral(version)} AND split = ${integerLiteral(split)}
       AND cityHash64(profile_id) % 1000000 < ${integerLiteral(keepPerMillion)}
     ORDER BY profile_id`,
    (row) => {
      for (const value of row[0] as number[]) values.push(value);
      labels.push(Number(row[1]));
    },
  );
  return { values: values.view(), labels: Uint8Array.from(labels) };
}

export interface PropensityOutcome {
  readonly model: LogisticModel | null;
  /** Out-of-time quality (trained on split 2, evaluated on split 1); null when there was too little data. */
  readonly quality: ScoreQuality | null;
  /** Why there is no model or no quality, when so. */
  readonly notEnoughData?: string;
}

const names = propensityFeatures.map(([name]) => name);

function classes(labels: Uint8Array): { positives: number; negatives: number } {
  let positives = 0;
  for (const label of labels) positives += label;
  return { positives, negatives: labels.length - positives };
}

/** Evaluates `model` on a split: out-of-time quality of its scores. */
export function evaluate(model: LogisticModel, set: { values: Float64Array; labels: Uint8Array }): ScoreQuality {
  const d = names.length;
  const scores = new Float64Array(set.labels.length);
  for (let i = 0; i < scores.length; i++) scores[i] = predictLogistic(model, set.values.subarray(i * d, (i + 1) * d));
  return scoreQuality(scores, set.labels);
}

/**
 * Trains on the labelled splits of run `version` (written by writeFeatures) and reports the
 * quality; the model comes from split 1, the quality from a model of split 2 tested on split 1.
 */
export async function trainPropensity(
  ch: ClickHouse,
  version: number,
  sizes: { recent: number; earlier: number },
): Promise<PropensityOutcome> {
  const recent = await readSplit(ch, version, SPLIT_RECENT, sizes.recent);
  const recentClasses = classes(recent.labels);
  if (recentClasses.positives < MIN_CLASS_SIZE || recentClasses.negatives < MIN_CLASS_SIZE)
    return {
      model: null,
      quality: null,
      notEnoughData: `purchase propensity needs at least ${MIN_CLASS_SIZE} profiles that bought and ${MIN_CLASS_SIZE} that did not in the last horizon; found ${recentClasses.positives} and ${recentClasses.negatives}`,
    };
  const model = fitLogistic({ features: names, values: recent.values, labels: recent.labels });
  const earlier = await readSplit(ch, version, SPLIT_EARLIER, sizes.earlier);
  const earlierClasses = classes(earlier.labels);
  if (earlierClasses.positives < MIN_CLASS_SIZE || earlierClasses.negatives < MIN_CLASS_SIZE)
    return {
      model,
      quality: null,
      notEnoughData: `the out-of-time quality check needs at least ${MIN_CLASS_SIZE} buyers and non-buyers one horizon earlier; found ${earlierClasses.positives} and ${earlierClasses.negatives}`,
    };
  const check = fitLogistic({ features: names, values: earlier.values, labels: earlier.labels });
  return { model, quality: evaluate(check, recent) };
}

/** The model as a ClickHouse expression over `features` (the same arithmetic as predictLogistic). */
export function propensityExpression(model: LogisticModel): string {
  const terms = model.weights.map(
    (w, k) =>
      `${floatLiteral(w)} * ((features[${k + 1}] - ${floatLiteral(model.means[k]!)}) / ${floatLiteral(model.scales[k]!)})`,
  );
  return `1 / (1 + exp(-(${[floatLiteral(model.intercept), ...terms].join(' + ')})))`;
}

/** Scores split 0 of run `version` into prediction_propensity_store, inside ClickHouse. */
export async function scorePropensity(ch: ClickHouse, version: number, model: LogisticModel): Promise<void> {
  await ch.command(
    `INSERT INTO prediction_propensity_store (version, profile_id, propensity)
     SELECT version, profile_id, ${propensityExpression(model)}
     FROM prediction_features_store
     WHERE version = ${integerLiteral(version)} AND split = ${integerLiteral(SPLIT_NOW)}`,
  );
}

/** Reference times of the three splits for as-of `asOf` and a horizon in days. */
export function splitTimes(asOf: number, horizonDays: number): { now: number; recent: number; earlier: number } {
  return { now: asOf, recent: asOf - horizonDays * DAY_MS, earlier: asOf - 2 * horizonDays * DAY_MS };
}
