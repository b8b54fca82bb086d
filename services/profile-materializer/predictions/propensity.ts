import type { ClickHouse } from '../../common/clickhouse/client-factory';
import { floatLiteral, integerLiteral } from '../../common/clickhouse/sql-text';
import { fitLogistic, predictLogistic, type LogisticModel } from './logistic-regression';
import type { ScoreQuality } from '../../common/predictions/model-reports';
import { scoreQuality } from './model-quality';
import { DAY_MS } from './prediction-inputs';
import { GrowingArray, streamPages } from './stream-rows';
import { inBucket, runBuckets, runInBuckets } from './buckets';
import { ACTIVITY_ROWS_PER_BUCKET } from './activity';

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
 * event in the year before R. "Bought" = a counted order of the run's staged orders (refunds as
 * known at the run: an order refunded since does not count).
 */
export interface Split {
  readonly split: number;
  /** Reference time (epoch ms): the features see events up to it. */
  readonly ref: number;
  /** The label is "bought in (ref, labelEnd]"; null for the split that is scored. */
  readonly labelEnd: number | null;
}

/** An event that is a visit: a page or screen view, a product viewed or added to the cart. */
const visit = `(type IN ('page', 'screen') OR event IN ('Product Viewed', 'Product Added'))`;
const pageView = `type IN ('page', 'screen')`;

/**
 * Per-split aggregates over the events (`w` is the split's window condition, `ref` its time) and
 * over its staged orders (`ow`: the order window), named `<name>_<split>`.
 */
const eventAggregates: ReadonlyArray<readonly [string, (w: string, ref: string) => string]> = [
  ['present', (w) => `countIf(${w})`],
  ['last', (w) => `maxIf(timestamp, ${w})`],
  ['first', (w) => `minIf(timestamp, ${w})`],
  ['visit', (w) => `maxIf(timestamp, ${w} AND ${visit})`],
  ['n7', (w, ref) => `countIf(${w} AND timestamp > ${ref} - INTERVAL 7 DAY)`],
  ['pv30', (w, ref) => `countIf(${w} AND ${pageView} AND timestamp > ${ref} - INTERVAL 30 DAY)`],
  ['pv365', (w) => `countIf(${w} AND ${pageView})`],
  ['prv30', (w, ref) => `countIf(${w} AND event = 'Product Viewed' AND timestamp > ${ref} - INTERVAL 30 DAY)`],
  ['prv365', (w) => `countIf(${w} AND event = 'Product Viewed')`],
  ['add30', (w, ref) => `countIf(${w} AND event = 'Product Added' AND timestamp > ${ref} - INTERVAL 30 DAY)`],
  ['add365', (w) => `countIf(${w} AND event = 'Product Added')`],
  ['ch90', (w, ref) => `uniqExactIf(channel, ${w} AND timestamp > ${ref} - INTERVAL 90 DAY)`],
];

const orderAggregates: ReadonlyArray<readonly [string, (w: string, ref: string) => string]> = [
  ['o90', (w, ref) => `countIf(${w} AND order_time > ${ref} - INTERVAL 90 DAY)`],
  ['o365', (w) => `countIf(${w})`],
  ['m365', (w) => `toFloat64(sumIf(net_units, ${w})) / 1e12`],
  ['olast', (w) => `maxIf(order_time, ${w})`],
];

const days = (refMs: string, time: string): string =>
  `least(365, (${refMs} - toUnixTimestamp64Milli(${time})) / 86400000)`;

/** The features, in the order of the stored arrays: each an expression over split `k`'s aggregates. */
export const propensityFeatures: ReadonlyArray<readonly [string, (k: number, refMs: string) => string]> = [
  ['days_since_last_event', (k, r) => days(r, `e.last_${k}`)],
  ['days_since_first_event', (k, r) => days(r, `e.first_${k}`)],
  ['days_since_last_visit', (k, r) => days(r, `e.visit_${k}`)],
  ['events_7d', (k) => `log1p(e.n7_${k})`],
  ['page_views_30d', (k) => `log1p(e.pv30_${k})`],
  ['page_views_365d', (k) => `log1p(e.pv365_${k})`],
  ['product_views_30d', (k) => `log1p(e.prv30_${k})`],
  ['product_views_365d', (k) => `log1p(e.prv365_${k})`],
  ['cart_adds_30d', (k) => `log1p(e.add30_${k})`],
  ['cart_adds_365d', (k) => `log1p(e.add365_${k})`],
  ['channels_90d', (k) => `e.ch90_${k}`],
  ['orders_90d', (k) => `log1p(o.o90_${k})`],
  ['orders_365d', (k) => `log1p(o.o365_${k})`],
  ['monetary_365d', (k) => `log1p(o.m365_${k})`],
  ['days_since_last_order', (k, r) => `if(o.o365_${k} = 0, 365, ${days(r, `o.olast_${k}`)})`],
];

/** Splits, as stored in prediction_features_store. */
export const SPLIT_NOW = 0;
export const SPLIT_RECENT = 1;
export const SPLIT_EARLIER = 2;

/** At least this many buyers and non-buyers in a training split, else no propensity model. */
export const MIN_CLASS_SIZE = 20;
/** Rows of a split read into Node at most (a hash sample beyond): 200,000 × 15 features ≈ 24 MB. */
const MAX_ROWS_READ = 200_000;

/**
 * Writes the features (and labels) of every split of run `version` in ONE INSERT … SELECT: one
 * scan of the run's staged events (stageActivity, covering the year before the earliest split)
 * and one of its staged orders, each aggregate computed per split with its window as a condition
 * (the splits differ only in their reference time), in buckets of the profile (buckets.ts),
 * ACTIVITY_ROWS_PER_BUCKET staged events each. Returns the rows per split.
 */
export async function writeFeatures(
  ch: ClickHouse,
  version: number,
  splits: readonly Split[],
): Promise<Map<number, number>> {
  const v = integerLiteral(version);
  const at = (ms: number): string => `fromUnixTimestamp64Milli(toInt64(${integerLiteral(ms)}), 'UTC')`;
  const window = (column: string, split: Split): string =>
    `(${column} <= ${at(split.ref)} AND ${column} > ${at(split.ref)} - INTERVAL 365 DAY)`;
  const eventColumns = splits.flatMap((split) =>
    eventAggregates.map(([name, sql]) => `${sql(window('timestamp', split), at(split.ref))} AS ${name}_${split.split}`),
  );
  const orderColumns = splits.flatMap((split) => [
    ...orderAggregates.map(
      ([name, sql]) => `${sql(window('order_time', split), at(split.ref))} AS ${name}_${split.split}`,
    ),
    `${split.labelEnd === null ? '0' : `countIf(order_time > ${at(split.ref)} AND order_time <= ${at(split.labelEnd)})`} AS label_${split.split}`,
  ]);
  const rows = splits.map(
    (split) =>
      `tuple(toUInt8(${split.split}), [${propensityFeatures.map(([, sql]) => `toFloat64(${sql(split.split, integerLiteral(split.ref))})`).join(', ')}], toUInt8(o.label_${split.split} > 0), e.present_${split.split} > 0)`,
  );
  const earliest = Math.min(...splits.map((split) => split.ref));
  const latest = Math.max(...splits.map((split) => split.ref));
  await runInBuckets(
    ch,
    await runBuckets(ch, 'prediction_activity_store', version, ACTIVITY_ROWS_PER_BUCKET),
    (bucket) =>
      `INSERT INTO prediction_features_store (version, split, profile_id, features, label)
     SELECT toUInt64(${v}), s.1, profile_id, s.2, s.3
     FROM
     (
         SELECT e.profile_id AS profile_id, [${rows.join(', ')}] AS per_split
         FROM
         (
             SELECT profile_id, ${eventColumns.join(', ')}
             FROM prediction_activity_store
             WHERE version = ${v} AND timestamp <= ${at(latest)} AND timestamp > ${at(earliest)} - INTERVAL 365 DAY
               AND ${inBucket('profile_id', bucket)}
             GROUP BY profile_id
         ) AS e
         LEFT JOIN
         (
             SELECT profile_id, ${orderColumns.join(', ')}
             FROM prediction_orders_store
             WHERE version = ${v} AND ${inBucket('profile_id', bucket)}
             GROUP BY profile_id
         ) AS o ON o.profile_id = e.profile_id
     )
     ARRAY JOIN per_split AS s
     WHERE s.4`,
  );
  const counts = await ch.query<{ split: number; n: string }>(
    'SELECT split, count() AS n FROM prediction_features_store WHERE version = {version:UInt64} GROUP BY split',
    { version },
  );
  return new Map(counts.map((row) => [Number(row.split), Number(row.n)]));
}

/** Rows of a split read per query (streamPages). */
const ROWS_PER_PAGE = 25_000;

/** A split's rows (a deterministic hash sample of at most MAX_ROWS_READ), features flat, in profile order. */
export async function readSplit(
  ch: ClickHouse,
  version: number,
  split: number,
  rows: number,
): Promise<{ values: Float64Array; labels: Uint8Array }> {
  const keepPerMillion = Math.min(1_000_000, Math.ceil((MAX_ROWS_READ / Math.max(rows, 1)) * 1_000_000));
  // The sample's expected size and a margin of well over ten standard deviations: the values are
  // written in place instead of into copies twice as large as the last.
  const expected = (Math.min(rows, MAX_ROWS_READ) * 1.02 + 100) * propensityFeatures.length;
  const values = new GrowingArray(Math.ceil(expected));
  const labels: number[] = [];
  await streamPages(
    ch,
    [{ column: 'profile_id', type: 'String' }],
    ROWS_PER_PAGE,
    (after) =>
      `SELECT profile_id, features, label FROM prediction_features_store
       WHERE version = ${integerLiteral(version)} AND split = ${integerLiteral(split)}
         AND cityHash64(profile_id) % 1000000 < ${integerLiteral(keepPerMillion)} AND ${after}
       ORDER BY profile_id`,
    (row) => {
      for (const value of row[1] as number[]) values.push(value);
      labels.push(Number(row[2]));
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
  sizes: ReadonlyMap<number, number>,
): Promise<PropensityOutcome> {
  // Split 2 first, kept only as its model: one split's rows are held at a time.
  const check = await trainOn(ch, version, SPLIT_EARLIER, sizes);
  const recent = await readSplit(ch, version, SPLIT_RECENT, sizes.get(SPLIT_RECENT) ?? 0);
  const recentClasses = classes(recent.labels);
  if (recentClasses.positives < MIN_CLASS_SIZE || recentClasses.negatives < MIN_CLASS_SIZE)
    return {
      model: null,
      quality: null,
      notEnoughData: `purchase propensity needs at least ${MIN_CLASS_SIZE} profiles that bought and ${MIN_CLASS_SIZE} that did not in the last horizon; found ${recentClasses.positives} and ${recentClasses.negatives}`,
    };
  const model = fitLogistic({ features: names, values: recent.values, labels: recent.labels });
  if ('notEnoughData' in check)
    return {
      model,
      quality: null,
      notEnoughData: `the out-of-time quality check needs at least ${MIN_CLASS_SIZE} buyers and non-buyers one horizon earlier; found ${check.positives} and ${check.negatives}`,
    };
  return { model, quality: evaluate(check, recent) };
}

/** A model of one split's rows, or its classes' sizes when either is below MIN_CLASS_SIZE. */
async function trainOn(
  ch: ClickHouse,
  version: number,
  split: number,
  sizes: ReadonlyMap<number, number>,
): Promise<LogisticModel | { notEnoughData: true; positives: number; negatives: number }> {
  const set = await readSplit(ch, version, split, sizes.get(split) ?? 0);
  const { positives, negatives } = classes(set.labels);
  if (positives < MIN_CLASS_SIZE || negatives < MIN_CLASS_SIZE) return { notEnoughData: true, positives, negatives };
  return fitLogistic({ features: names, values: set.values, labels: set.labels });
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

/** The three splits of a run as of `asOf` with a horizon in days. */
export function runSplits(asOf: number, horizonDays: number): Split[] {
  const h = horizonDays * DAY_MS;
  return [
    { split: SPLIT_NOW, ref: asOf, labelEnd: null },
    { split: SPLIT_RECENT, ref: asOf - h, labelEnd: asOf },
    { split: SPLIT_EARLIER, ref: asOf - 2 * h, labelEnd: asOf - h },
  ];
}
