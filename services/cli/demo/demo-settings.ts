import type { BacktestReport } from '../../common/predictions/model-reports';

/** What `kumiki demo` needs: the population's size, where the stack is, how to reach its read API. */
export interface DemoSettings {
  readonly people: number;
  readonly days: number;
  readonly seed: number;
  readonly collectorUrl: string;
  readonly writeKey: string;
  readonly kafkaBrokers: readonly string[];
  readonly registryUrl: string;
  /** Where the import path produces (the collector's events topic). */
  readonly rawTopic: string;
  readonly dlqTopic: string;
  /** POST /v1/sql of the read API. */
  readonly sql: <T = Record<string, unknown>>(query: string, params?: Record<string, unknown>) => Promise<T[]>;
  /** How long to wait for the pipeline to catch up. */
  readonly waitTimeoutMs: number;
  readonly progress?: DemoProgress;
  readonly now?: number;
  /**
   * POST /v1/models/fit and /v1/models/backtest of the read API: the demo refits once the
   * pipeline caught up and prints who is likely to buy again, who is about to churn, and a
   * backtest. Each resolves with the body, or rejects with PredictionsUnavailable (e.g. not enough data).
   */
  readonly predictions?: {
    fit(): Promise<unknown>;
    backtest(calibrationEnd: string, holdoutEnd: string): Promise<BacktestReport>;
  };
}

/** Progress of a phase: `start(total)`, then `update(done)`, then `stop()`. */
export interface DemoProgress {
  phase(name: string, total: number): { update(done: number): void; stop(): void };
}
