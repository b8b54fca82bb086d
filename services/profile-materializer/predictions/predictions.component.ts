import type { ClickHouse } from '../../common/clickhouse/client-factory';
import { errorMessage } from '../../common/errors';
import type { Component } from '../../common/lifecycle';
import type { Logger } from '../../common/logger';
import type { BacktestReport, FitSummary } from '../../common/predictions/model-reports';
import { runBacktest } from './backtest';
import { dropRun, fitModels, nextVersion, runPredictions, type RunOutcome } from './prediction-run';
import { changesPage } from './prediction-rows';
import { NotEnoughDataError } from './prediction-errors';
import type { PredictionSettings } from './predictions.config';

export interface PredictionsDeps {
  readonly clickhouse: () => ClickHouse;
  readonly logger: Logger;
  readonly settings: PredictionSettings;
  /**
   * Called after each run with each page of profiles whose predictions changed (newly in, gone,
   * or a figure moved at the precision people read it), and with an empty list after a run that
   * changed none. The hook for everything that derives from predictions: the materializer
   * republishes their ProfileUpdates; segment rules on predictions can be re-evaluated for them.
   * A page it rejects is offered again after the next run, before that run's own pages.
   */
  readonly onPredictionsChanged?: (profileIds: readonly string[]) => Promise<void>;
  readonly changesPageSize?: number;
  readonly now?: () => number;
}

export interface Predictions extends Component {
  /** A full fit-and-score run as of now; queued behind one under way. Rejects with NotEnoughDataError below the minimums. */
  refit(): Promise<RunOutcome>;
  /** Fits on the history before `asOf` without scoring or storing anything. */
  fitAsOf(asOf: number): Promise<FitSummary>;
  backtest(calibrationEnd: number, holdoutEnd: number): Promise<BacktestReport>;
  /**
   * Resolves once the run, fit or backtest under way, and any queued before, is done (never
   * rejects): an erasure waits for it, since a run that read the person may write them back.
   */
  settled(): Promise<void>;
  /** Runs completed since start (tests). */
  readonly runs: () => number;
}

/**
 * Predictions as a component of the profile-materializer (it owns ClickHouse). A run at start, one
 * every `refitIntervalMs` and one on demand (`refit`, from POST /v1/models/fit); runs, fits and
 * backtests go one at a time (each reads every purchaser), in the background for scheduled runs
 * (a failure, or too little data, is logged and the predictions view keeps the last complete
 * version). After each run the staged changes are handed to `onPredictionsChanged` a page at a
 * time.
 */
export function createPredictions(deps: PredictionsDeps): Predictions {
  const logger = deps.logger.child({ component: 'predictions' });
  const now = deps.now ?? Date.now;
  const pageSize = deps.changesPageSize ?? 5_000;
  let tail: Promise<unknown> = Promise.resolve();
  let queuedRun: Promise<RunOutcome> | null = null;
  let interval: NodeJS.Timeout | undefined;
  let stopped = false;
  let runs = 0;
  const unpublished: Array<{ version: number; after: string }> = [];

  /** Runs `task` after everything handed over before it. */
  const exclusive = <T>(task: () => Promise<T>): Promise<T> => {
    const run = tail.then(task, task);
    tail = run.catch(() => undefined);
    return run;
  };

  const handOverChanges = async (): Promise<void> => {
    const hook = deps.onPredictionsChanged;
    if (!hook) return;
    let profiles = 0;
    try {
      while (unpublished.length > 0 && !stopped) {
        const cursor = unpublished[0]!;
        const page = await changesPage(deps.clickhouse(), cursor.version, cursor.after, pageSize);
        if (page.length > 0) await hook(page);
        profiles += page.length;
        cursor.after = page.at(-1) ?? cursor.after;
        if (page.length < pageSize) unpublished.shift();
      }
      if (profiles === 0 && !stopped) await hook([]);
    } catch (error) {
      logger.warn(
        { error: errorMessage(error), version: unpublished[0]?.version },
        'handing over profiles whose predictions changed failed; retried after the next run',
      );
    }
  };

  const refit = (): Promise<RunOutcome> => {
    // A run queued and not started yet serves every caller that asks meanwhile.
    if (queuedRun) return queuedRun;
    const run = exclusive(async () => {
      queuedRun = null;
      const started = now();
      const outcome = await runPredictions(deps.clickhouse(), deps.settings, started);
      runs += 1;
      if (outcome.changed > 0) unpublished.push({ version: outcome.model.version, after: '' });
      logger.info(
        {
          version: outcome.model.version,
          customers: outcome.model.customers,
          params: outcome.model.params,
          scored: outcome.model.figures.profilesScored,
          changed: outcome.changed,
          seconds: (now() - started) / 1000,
        },
        'predictions refitted and scored',
      );
      await handOverChanges();
      return outcome;
    });
    queuedRun = run;
    return run;
  };

  const scheduled = (): void => {
    if (stopped) return;
    refit().catch((error: unknown) => {
      if (error instanceof NotEnoughDataError) logger.info({ reason: error.message }, 'no predictions yet');
      else if (!stopped)
        logger.warn(
          { error: errorMessage(error) },
          'prediction run failed; the predictions view keeps the last complete one',
        );
    });
  };

  return {
    name: 'predictions',
    runs: () => runs,
    refit,
    settled: () => tail.then(() => undefined),
    fitAsOf: (asOf) =>
      exclusive(async () => {
        const version = nextVersion();
        const ch = deps.clickhouse();
        const fitted = await fitModels(ch, deps.settings, version, asOf);
        await dropRun(ch, version);
        return {
          model: 'bgnbd-gg',
          timeUnit: 'day',
          asOf: new Date(asOf).toISOString(),
          customers: fitted.bgnbd.customers,
          repeatCustomers: fitted.totals.repeatBuyers,
          params: { ...fitted.bgnbd.params, ...fitted.gammaGamma.params },
          logLikelihood: fitted.bgnbd.logLikelihood,
          gammaGammaLogLikelihood: fitted.gammaGamma.logLikelihood,
          standardErrors:
            fitted.bgnbd.standardErrors && fitted.gammaGamma.standardErrors
              ? { ...fitted.bgnbd.standardErrors, ...fitted.gammaGamma.standardErrors }
              : null,
        } satisfies FitSummary;
      }),
    backtest: (calibrationEnd, holdoutEnd) =>
      exclusive(() => runBacktest(deps.clickhouse(), deps.settings, calibrationEnd, holdoutEnd)),
    async start() {
      scheduled();
      if (deps.settings.refitIntervalMs > 0) {
        interval = setInterval(scheduled, deps.settings.refitIntervalMs);
        interval.unref();
      }
    },
    async stop() {
      stopped = true;
      if (interval) clearInterval(interval);
      await tail;
    },
    isHealthy: () => true,
    isReady: () => true,
  };
}
