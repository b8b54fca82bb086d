import type { Command } from 'commander';
import type { BacktestReport, FitSummary, ModelVersion } from '../../common/predictions/model-reports';
import type { CliConfig } from '../config';
import { callReadApi, reportFailure } from './read-api.client';
import { formatTable } from './table-format';

/**
 * `kumiki predict fit [--as-of TIME] [--json]` and `kumiki predict backtest --calibration-end T1
 * --holdout-end T2 [--json]`, over the read API (POST /v1/models/fit, POST /v1/models/backtest):
 * the profile-materializer owns ClickHouse, so the models are fitted there.
 *
 * Exit codes: 0 done, 1 the API refused (KUMIKI_NOT_ENOUGH_DATA among others) or could not be
 * reached, 2 bad usage.
 */
function usage(message: string): number {
  process.stderr.write(`kumiki predict: ${message}\n`);
  return 2;
}

/** The time as ISO-8601, or undefined after printing the usage problem. */
function isoTime(value: string, option: string): string | undefined {
  const ms = Date.parse(value);
  if (Number.isFinite(ms)) return new Date(ms).toISOString();
  usage(`${option} must be an ISO-8601 time, e.g. 2026-05-01T00:00:00Z`);
  return undefined;
}

/** The fit as DESIGN.md prints it with --json. */
export function fitJson(fit: ModelVersion | FitSummary): Record<string, unknown> {
  return {
    model: fit.model,
    timeUnit: fit.timeUnit,
    asOf: fit.asOf,
    customers: fit.customers,
    params: fit.params,
    logLikelihood: fit.logLikelihood,
  };
}

const round = (value: number, digits = 4): string => Number(value.toPrecision(digits)).toString();

export function formatFit(fit: ModelVersion | FitSummary): string {
  const { params } = fit;
  return [
    `BG/NBD + Gamma-Gamma fitted as of ${fit.asOf} on ${fit.customers.toLocaleString('en-US')} purchasers (${fit.repeatCustomers.toLocaleString('en-US')} with repeat purchases); time unit: day`,
    `  purchases   r = ${round(params.r)}, alpha = ${round(params.alpha)} days, a = ${round(params.a)}, b = ${round(params.b)}   (log-likelihood ${round(fit.logLikelihood, 8)})`,
    `  order value p = ${round(params.p)}, q = ${round(params.q)}, gamma = ${round(params.gamma)}   (mean ${round((params.p * params.gamma) / (params.q - 1))})`,
    ...('version' in fit
      ? [`  model version ${fit.version}: ${fit.figures.profilesScored.toLocaleString('en-US')} profiles scored`]
      : []),
    '',
  ].join('\n');
}

/** The backtest as people read it (README/docs show this output). */
export function formatBacktest(report: BacktestReport): string {
  const n = (value: number): string => value.toLocaleString('en-US', { maximumFractionDigits: 1 });
  const { predicted, actual } = report.repeatPurchases;
  const lines = [
    `Backtest: fitted on the history up to ${report.calibrationEnd}, holdout ${n(report.holdoutDays)} days to ${report.holdoutEnd}`,
    `  ${n(report.customers)} customers of the calibration period; repeat purchase days in the holdout: predicted ${n(predicted)}, actual ${n(actual)} (${actual === 0 ? 'n/a' : `${predicted >= actual ? '+' : ''}${((100 * (predicted - actual)) / actual).toFixed(1)} %`})`,
    `  per customer: mean absolute error ${report.perCustomer.meanAbsoluteError.toFixed(3)}, RMSE ${report.perCustomer.rootMeanSquaredError.toFixed(3)}`,
    '  by repeat purchases in the calibration period (means per customer):',
    ...formatTable(
      report.byCalibrationRepeatPurchases.map((b) => ({
        'repeat purchases': b.repeatPurchases,
        customers: b.customers,
        predicted: b.predictedMean.toFixed(3),
        actual: b.actualMean.toFixed(3),
      })),
    )
      .trimEnd()
      .split('\n')
      .map((line) => `    ${line}`),
  ];
  const quality = report.propensity.quality;
  lines.push(
    quality && quality.auc !== null
      ? `  purchase propensity: AUC ${quality.auc.toFixed(3)}, top-decile lift ${quality.topDecileLift?.toFixed(2)} over ${n(quality.profiles)} profiles (random: AUC 0.5, lift 1)`
      : `  purchase propensity: ${report.propensity.notEnoughData ?? 'no quality figures'}`,
  );
  const recs = report.recommendations;
  lines.push(
    recs
      ? `  recommendations: hit rate at 5 ${(100 * recs.hitRateAt5).toFixed(1)} % vs ${(100 * recs.popularityHitRateAt5).toFixed(1)} % for the most popular products (${n(recs.profiles)} profiles)`
      : '  recommendations: no profile bought a new product in the holdout',
  );
  return `${lines.join('\n')}\n`;
}

async function fitModels(config: CliConfig, options: { asOf?: string; json: boolean }): Promise<number> {
  const asOf = options.asOf === undefined ? undefined : isoTime(options.asOf, '--as-of');
  if (options.asOf !== undefined && asOf === undefined) return 2;
  if (process.stderr.isTTY && !options.json) process.stderr.write('fitting (reads every purchaser)…\n');
  const result = await callReadApi<ModelVersion | FitSummary>(config, 'POST', '/v1/models/fit', asOf ? { asOf } : {});
  if (!result.ok) return reportFailure('predict fit', result);
  process.stdout.write(options.json ? `${JSON.stringify(fitJson(result.body), null, 2)}\n` : formatFit(result.body));
  return 0;
}

async function backtestModels(
  config: CliConfig,
  options: { calibrationEnd: string; holdoutEnd: string; json: boolean },
): Promise<number> {
  const calibrationEnd = isoTime(options.calibrationEnd, '--calibration-end');
  const holdoutEnd = calibrationEnd && isoTime(options.holdoutEnd, '--holdout-end');
  if (!calibrationEnd || !holdoutEnd) return 2;
  if (process.stderr.isTTY && !options.json) process.stderr.write('backtesting (reads every purchaser twice)…\n');
  const result = await callReadApi<BacktestReport>(config, 'POST', '/v1/models/backtest', {
    calibrationEnd,
    holdoutEnd,
  });
  if (!result.ok) return reportFailure('predict backtest', result);
  process.stdout.write(options.json ? `${JSON.stringify(result.body, null, 2)}\n` : formatBacktest(result.body));
  return 0;
}

export function registerPredictCommands(
  program: Command,
  config: () => CliConfig,
  setExitCode: (code: number) => void,
): void {
  const predict = program.command('predict').description('purchase predictions: fit the models, backtest them');
  predict
    .command('fit')
    .description('refit and rescore now; with --as-of, fit on the history before that time only (nothing stored)')
    .option('--as-of <time>', 'ISO-8601 time: use only the history before it')
    .option('--json', 'print { model, timeUnit, asOf, customers, params, logLikelihood }', false)
    .action(async (options: { asOf?: string; json: boolean }) => setExitCode(await fitModels(config(), options)));
  predict
    .command('backtest')
    .description('fit up to --calibration-end, compare predicted and actual purchases up to --holdout-end')
    .requiredOption('--calibration-end <time>', 'ISO-8601 end of the calibration period')
    .requiredOption('--holdout-end <time>', 'ISO-8601 end of the holdout period (not in the future)')
    .option('--json', 'print the report as JSON', false)
    .action(async (options: { calibrationEnd: string; holdoutEnd: string; json: boolean }) =>
      setExitCode(await backtestModels(config(), options)),
    );
}
