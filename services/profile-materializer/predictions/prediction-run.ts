import type { ClickHouse } from '../../common/clickhouse/client-factory';
import { dateTime64Text } from '../../common/clickhouse/datetime64';
import { integerLiteral } from '../../common/clickhouse/sql-text';
import type { ModelFigures, ModelVersion } from '../../common/predictions/model-reports';
import {
  expectedPurchases,
  fitBgnbd,
  medianDaysToNextPurchase,
  probabilityAlive,
  type BgnbdData,
  type BgnbdFit,
  type BgnbdParams,
} from './bgnbd';
import { stageActivity } from './activity';
import { fitGammaGamma, type GammaGammaFit } from './gamma-gamma';
import type { PredictionSettings } from './predictions.config';
import { NotEnoughDataError } from './prediction-errors';
import { latestVersion, stageChanges, writeRows } from './prediction-rows';
import { DAY_MS, readHistogram, readRepeatBuyers, writeInputs, type InputTotals } from './prediction-inputs';
import { runSplits, scorePropensity, trainPropensity, writeFeatures } from './propensity';
import { evaluateRecommendations, popularItems, writeInteractions, writeNeighbours } from './recommendations';

/** Days ahead of the propensity model (purchase_propensity_30d) and of the recommendation check. */
export const HORIZON_DAYS = 30;

/** Tables holding one partition per run (PARTITION BY version). */
export const runTables = [
  'prediction_orders_store',
  'prediction_activity_store',
  'prediction_inputs_store',
  'prediction_triples_store',
  'prediction_propensity_store',
  'prediction_features_store',
  'prediction_interactions_store',
  'item_similarity_store',
  'prediction_rows_store',
] as const;

let lastVersion = 0;
/** Versions increase within a process and across restarts (wall clock, then +1). */
export function nextVersion(now = Date.now()): number {
  lastVersion = Math.max(lastVersion + 1, now);
  return lastVersion;
}

export interface FittedModels {
  readonly version: number;
  readonly asOf: number;
  readonly totals: InputTotals;
  readonly bgnbd: BgnbdFit;
  readonly gammaGamma: GammaGammaFit;
  readonly histogram: BgnbdData;
  /** Seconds spent summarising the orders in ClickHouse, and fitting in Node. */
  readonly seconds: { readonly inputs: number; readonly fit: number };
}

/**
 * Writes the inputs of `version` as of `asOf` and fits both models on them; throws
 * NotEnoughDataError (after dropping what it wrote) below the minimums. The inputs stay, for the
 * caller to score or drop.
 */
export async function fitModels(
  ch: ClickHouse,
  settings: PredictionSettings,
  version: number,
  asOf: number,
): Promise<FittedModels> {
  const started = Date.now();
  const totals = await writeInputs(ch, version, asOf);
  const repeat = totals.repeatBuyers;
  if (totals.purchasers < settings.minPurchasers || repeat < settings.minRepeatBuyers) {
    await dropRun(ch, version);
    throw new NotEnoughDataError(
      `not enough data to fit BG/NBD as of ${new Date(asOf).toISOString()}: found ${totals.purchasers} purchasers and ${repeat} with a repeat purchase (on another day); at least ${settings.minPurchasers} purchasers (PREDICTIONS_MIN_PURCHASERS) and ${settings.minRepeatBuyers} repeat buyers (PREDICTIONS_MIN_REPEAT_BUYERS) are needed`,
      { purchasers: totals.purchasers, repeatBuyers: repeat },
    );
  }
  const histogram = await readHistogram(ch, version);
  const values = await readRepeatBuyers(ch, version);
  const read = Date.now();
  const bgnbd = fitBgnbd(histogram);
  if (values.x.length < settings.minRepeatBuyers) {
    await dropRun(ch, version);
    throw new NotEnoughDataError(
      `not enough data to fit Gamma-Gamma: ${values.x.length} repeat buyers with a positive net value; at least ${settings.minRepeatBuyers} (PREDICTIONS_MIN_REPEAT_BUYERS) are needed`,
      { repeatBuyers: values.x.length },
    );
  }
  const gammaGamma = fitGammaGamma(values);
  const seconds = { inputs: (read - started) / 1000, fit: (Date.now() - read) / 1000 };
  return { version, asOf, totals, bgnbd, gammaGamma, histogram, seconds };
}

/** What a run leaves for the caller: the model and how many profiles' predictions changed (staged). */
export interface RunOutcome {
  readonly model: ModelVersion;
  readonly changed: number;
}

/**
 * One fit-and-score run as of `asOf` (docs/predictions.md, "How it is computed"). Every table
 * gets its own partition under the new version; the catalogue row is written last, so the
 * predictions view (max catalogued version) never reads a run that failed half-way. Then the
 * profiles whose predictions changed are staged in prediction_changes and partitions older than
 * the previous complete run are dropped.
 */
export async function runPredictions(ch: ClickHouse, settings: PredictionSettings, asOf: number): Promise<RunOutcome> {
  const version = nextVersion();
  try {
    return await scoreRun(ch, settings, await fitModels(ch, settings, version, asOf));
  } catch (error) {
    await dropRun(ch, version).catch(() => undefined);
    throw error;
  }
}

async function scoreRun(ch: ClickHouse, settings: PredictionSettings, fitted: FittedModels): Promise<RunOutcome> {
  const { version, asOf, bgnbd, gammaGamma } = fitted;
  let mark = Date.now();
  const lap = (): number => {
    const now = Date.now();
    const seconds = (now - mark) / 1000;
    mark = now;
    return seconds;
  };
  await writeTriples(ch, version, bgnbd.params, fitted.histogram, settings.discountRate);
  const triplesSeconds = lap();

  // ClickHouse's largest statements (features, interactions, pairs) first, Node's training and
  // evaluation after them: what Node allocates there stays on its heap until a collection, and
  // would otherwise come on top of those statements' memory.
  const splits = runSplits(asOf, HORIZON_DAYS);
  await stageActivity(ch, version, asOf, Math.min(...splits.map((split) => split.ref)));
  const sizes = await writeFeatures(ch, version, splits);
  const featuresSeconds = lap();
  await writeInteractions(ch, version, asOf, asOf - HORIZON_DAYS * DAY_MS);
  await writeNeighbours(ch, version, 0);
  await writeNeighbours(ch, version, 1);
  const neighboursSeconds = lap();

  const propensity = await trainPropensity(ch, version, sizes);
  if (propensity.model) await scorePropensity(ch, version, propensity.model);
  const propensitySeconds = featuresSeconds + lap();
  const excluded = new Set(settings.excludedItems);
  const recommendations = await evaluateRecommendations(ch, version, excluded);
  const popular = await popularItems(ch, version, 0);
  const recommendationSeconds = neighboursSeconds + lap();

  const profilesScored = await writeRows(ch, version, asOf, gammaGamma.params);
  const previous = await latestVersion(ch);
  const changed = await stageChanges(ch, version, previous);
  const params = { ...bgnbd.params, ...gammaGamma.params };
  const figures: ModelFigures = {
    gammaGammaLogLikelihood: gammaGamma.logLikelihood,
    gammaGammaCustomers: gammaGamma.customers,
    standardErrors:
      bgnbd.standardErrors && gammaGamma.standardErrors
        ? { ...bgnbd.standardErrors, ...gammaGamma.standardErrors }
        : null,
    discountRate: settings.discountRate,
    propensity: {
      horizonDays: HORIZON_DAYS,
      features: propensity.model?.features ?? null,
      quality: propensity.quality,
      notEnoughData: propensity.notEnoughData ?? null,
    },
    recommendations,
    profilesScored,
    changed,
    seconds: {
      ...fitted.seconds,
      triples: triplesSeconds,
      propensity: propensitySeconds,
      recommendations: recommendationSeconds,
      rows: lap(),
    },
  };
  const computedAt = Date.now();
  const windowStart = fitted.totals.firstOrderAt;
  await ch.insert('prediction_models_store', [
    {
      version,
      model: 'bgnbd-gg',
      as_of: dateTime64Text(asOf),
      computed_at: dateTime64Text(computedAt),
      customers: bgnbd.customers,
      repeat_customers: fitted.totals.repeatBuyers,
      window_start: dateTime64Text(windowStart ?? asOf),
      window_end: dateTime64Text(asOf),
      ...params,
      log_likelihood: bgnbd.logLikelihood,
      gg_log_likelihood: gammaGamma.logLikelihood,
      figures: JSON.stringify(figures),
      popular_items: popular,
    },
  ]);
  await dropStale(ch);
  return {
    model: {
      version,
      model: 'bgnbd-gg',
      timeUnit: 'day',
      asOf: new Date(asOf).toISOString(),
      computedAt: new Date(computedAt).toISOString(),
      customers: bgnbd.customers,
      repeatCustomers: fitted.totals.repeatBuyers,
      window: {
        start: windowStart === null ? null : new Date(windowStart).toISOString(),
        end: new Date(asOf).toISOString(),
      },
      params,
      logLikelihood: bgnbd.logLikelihood,
      figures,
    },
    changed,
  };
}

/** BG/NBD figures of one summary triple (what prediction_triples_store holds). */
export function tripleFigures(params: BgnbdParams, x: number, tx: number, T: number, discountRate: number) {
  let clvPurchases: number;
  if (discountRate === 0) clvPurchases = expectedPurchases(params, x, tx, T, 365);
  else {
    // Month by month, each month's expected purchases discounted to the end of that month.
    clvPurchases = 0;
    let before = 0;
    for (let month = 1; month <= 12; month++) {
      const upTo = expectedPurchases(params, x, tx, T, (365 * month) / 12);
      clvPurchases += (upTo - before) / (1 + discountRate) ** (month / 12);
      before = upTo;
    }
  }
  return {
    pAlive: probabilityAlive(params, x, tx, T),
    expected30: expectedPurchases(params, x, tx, T, 30),
    expected90: expectedPurchases(params, x, tx, T, 90),
    clvPurchases,
    nextPurchaseDays: medianDaysToNextPurchase(params, x, T),
  };
}

const tripleColumns = [
  'version',
  'x',
  't_x',
  'T',
  'p_alive',
  'expected_purchases_30d',
  'expected_purchases_90d',
  'clv_purchases_365d',
  'next_purchase_days',
] as const;

/** Computes every triple's figures in Node and inserts them 50,000 rows at a time. */
async function writeTriples(
  ch: ClickHouse,
  version: number,
  params: BgnbdParams,
  histogram: BgnbdData,
  discountRate: number,
): Promise<void> {
  const batch = 50_000;
  for (let start = 0; start < histogram.x.length; start += batch) {
    let body = '';
    const end = Math.min(histogram.x.length, start + batch);
    for (let i = start; i < end; i++) {
      const x = histogram.x[i]!;
      const tx = histogram.tx[i]!;
      const T = histogram.T[i]!;
      const f = tripleFigures(params, x, tx, T, discountRate);
      const next = Number.isFinite(f.nextPurchaseDays) ? Math.min(f.nextPurchaseDays, 1e9) : 1e9;
      body += `${JSON.stringify([version, x, tx, T, f.pAlive, f.expected30, f.expected90, f.clvPurchases, next])}\n`;
    }
    await ch.insertEncoded('prediction_triples_store', { columns: tripleColumns, count: end - start, body });
  }
}

/** Drops a run's partitions (a failed run, a backtest, a fit as of the past). */
export async function dropRun(ch: ClickHouse, version: number): Promise<void> {
  for (const table of runTables) await ch.command(`ALTER TABLE ${table} DROP PARTITION ${integerLiteral(version)}`);
}

/** Drops partitions older than the previous complete run (kept for reads still running against it). */
async function dropStale(ch: ClickHouse): Promise<void> {
  const complete = await ch.query<{ version: string }>(
    'SELECT DISTINCT version FROM prediction_models_store ORDER BY version DESC LIMIT 2',
  );
  const keepFrom = complete.at(-1)?.version;
  if (keepFrom === undefined) return;
  for (const table of runTables) {
    const stale = await ch.query<{ partition: string }>(
      `SELECT DISTINCT partition FROM system.parts
       WHERE database = currentDatabase() AND table = {table:String} AND active AND toUInt64(partition) < {keep:UInt64}`,
      { table, keep: keepFrom },
    );
    for (const { partition } of stale)
      await ch.command(`ALTER TABLE ${table} DROP PARTITION ${integerLiteral(partition)}`);
  }
}
