import type { ClickHouse } from '../../common/clickhouse/client-factory';
import { integerLiteral } from '../../common/clickhouse/sql-text';
import type { BacktestReport, RecommendationQuality } from '../../common/predictions/model-reports';
import { expectedPurchases } from './bgnbd';
import { dropRun, fitModels, nextVersion } from './prediction-run';
import type { PredictionSettings } from './predictions.config';
import { stageActivity } from './activity';
import { DAY_MS, stageOrders } from './prediction-inputs';
import { SPLIT_EARLIER, SPLIT_RECENT, trainPropensity, writeFeatures, type PropensityOutcome } from './propensity';
import { evaluateRecommendations, writeInteractions, writeNeighbours } from './recommendations';
import { streamRows } from './stream-rows';

/**
 * `kumiki predict backtest`: fit on the history up to the end of the calibration period T1 and
 * compare, for the purchasers of that period, predicted against actual repeat purchases (purchase
 * days) in the holdout (T1, T2]: in total, by the number of repeat purchases in the calibration
 * period (the usual conditional-expectation check of BG/NBD), and per customer. The propensity
 * model and the recommendations are checked on the same split: trained on what was known at T1
 * (features one holdout length before it, labelled up to T1), evaluated on (T1, T2]. Nothing is
 * stored: the run's partitions are dropped at the end.
 */
export async function runBacktest(
  ch: ClickHouse,
  settings: PredictionSettings,
  calibrationEnd: number,
  holdoutEnd: number,
): Promise<BacktestReport> {
  const version = nextVersion();
  const holdoutDays = (holdoutEnd - calibrationEnd) / DAY_MS;
  try {
    const fitted = await fitModels(ch, settings, version, calibrationEnd);
    const params = fitted.bgnbd.params;
    const buckets = new Map<string, { customers: number; predicted: number; actual: number }>();
    let predicted = 0;
    let actual = 0;
    let absolute = 0;
    let squares = 0;
    await streamRows(
      ch,
      `SELECT i.x, i.t_x, i.T, a.days, count()
       FROM prediction_inputs_store AS i
       LEFT JOIN
       (
           SELECT profile_id, uniqExact(intDiv(toUnixTimestamp64Milli(order_time), ${DAY_MS})) AS days
           FROM orders_as_of(as_of = fromUnixTimestamp64Milli(toInt64(${integerLiteral(holdoutEnd)}), 'UTC'))
           WHERE toUnixTimestamp64Milli(order_time) > ${integerLiteral(calibrationEnd)}
           GROUP BY profile_id
       ) AS a ON a.profile_id = i.profile_id
       WHERE i.version = ${integerLiteral(version)}
       GROUP BY i.x, i.t_x, i.T, a.days`,
      (row) => {
        const [x, tx, T, days, n] = row.map(Number) as [number, number, number, number, number];
        const expected = expectedPurchases(params, x, tx, T, holdoutDays);
        predicted += n * expected;
        actual += n * days;
        absolute += n * Math.abs(days - expected);
        squares += n * (days - expected) ** 2;
        const key = x >= 7 ? '7+' : String(x);
        const bucket = buckets.get(key) ?? { customers: 0, predicted: 0, actual: 0 };
        bucket.customers += n;
        bucket.predicted += n * expected;
        bucket.actual += n * days;
        buckets.set(key, bucket);
      },
    );
    const customers = fitted.bgnbd.customers;
    let propensity: PropensityOutcome;
    let recommendations: RecommendationQuality | null;
    const order = ['0', '1', '2', '3', '4', '5', '6', '7+'];
    // Propensity and recommendations on the same split, from the orders as known at the holdout's
    // end (staged under a version of their own: the fit's are as of the calibration end).
    const holdout = nextVersion();
    try {
      await stageOrders(ch, holdout, holdoutEnd);
      const earlierRef = calibrationEnd - (holdoutEnd - calibrationEnd);
      await stageActivity(ch, holdout, holdoutEnd, earlierRef);
      const sizes = await writeFeatures(ch, holdout, [
        { split: SPLIT_RECENT, ref: calibrationEnd, labelEnd: holdoutEnd },
        { split: SPLIT_EARLIER, ref: earlierRef, labelEnd: calibrationEnd },
      ]);
      propensity = await trainPropensity(ch, holdout, sizes);
      await writeInteractions(ch, holdout, holdoutEnd, calibrationEnd);
      await writeNeighbours(ch, holdout, 1);
      recommendations = await evaluateRecommendations(ch, holdout, new Set(settings.excludedItems));
    } finally {
      await dropRun(ch, holdout);
    }
    return {
      model: 'bgnbd-gg',
      timeUnit: 'day',
      calibrationEnd: new Date(calibrationEnd).toISOString(),
      holdoutEnd: new Date(holdoutEnd).toISOString(),
      holdoutDays,
      customers,
      params: { ...params, ...fitted.gammaGamma.params },
      logLikelihood: fitted.bgnbd.logLikelihood,
      repeatPurchases: { predicted, actual },
      byCalibrationRepeatPurchases: order
        .filter((key) => buckets.has(key))
        .map((key) => {
          const bucket = buckets.get(key)!;
          return {
            repeatPurchases: key,
            customers: bucket.customers,
            predictedMean: bucket.predicted / bucket.customers,
            actualMean: bucket.actual / bucket.customers,
          };
        }),
      perCustomer: { meanAbsoluteError: absolute / customers, rootMeanSquaredError: Math.sqrt(squares / customers) },
      propensity: { quality: propensity.quality, notEnoughData: propensity.notEnoughData ?? null },
      recommendations,
    };
  } finally {
    await dropRun(ch, version);
  }
}
