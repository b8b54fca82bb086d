/**
 * The answers of the read API's /v1/models routes (docs/predictions.md): what the
 * profile-materializer computes and serves, and what `kumiki predict` and `kumiki demo` print.
 */

/** The fitted parameters: BG/NBD (r, alpha, a, b) and Gamma-Gamma (p, q, gamma). */
export type ModelParams = Record<'r' | 'alpha' | 'a' | 'b' | 'p' | 'q' | 'gamma', number>;

/** How good a score is at ranking who will buy, on held-out data: AUC, lift in the top decile, calibration by decile. */
export interface ScoreQuality {
  /** Profiles scored and how many of them bought. */
  readonly profiles: number;
  readonly positives: number;
  /** Area under the ROC curve: the chance that a random buyer scores above a random non-buyer (ties count half); null without both buyers and non-buyers. */
  readonly auc: number | null;
  /** Buy rate among the top 10 % by score over the overall buy rate. */
  readonly topDecileLift: number | null;
  /** Per decile of score (1 = highest): the mean predicted probability and the observed buy rate. */
  readonly calibration: readonly { decile: number; profiles: number; predicted: number; observed: number }[];
}

/** Recommendations against the products bought after a split, and popular products as the baseline. */
export interface RecommendationQuality {
  /** Profiles evaluated: interactions before the split and a product bought after it that they had not bought before. */
  readonly profiles: number;
  /** Share of them with a product bought after the split among the 5 recommended before it. */
  readonly hitRateAt5: number;
  readonly popularityHitRateAt5: number;
  /** Standard error of the difference of the two (paired over profiles). */
  readonly differenceStandardError: number;
}

/** What `kumiki predict fit --as-of` prints: the fit alone, of the history before `asOf`. */
export interface FitSummary {
  readonly model: 'bgnbd-gg';
  readonly timeUnit: 'day';
  readonly asOf: string;
  readonly customers: number;
  readonly repeatCustomers: number;
  readonly params: ModelParams;
  readonly logLikelihood: number;
  readonly gammaGammaLogLikelihood: number;
  readonly standardErrors: Record<string, number> | null;
}

/** A model version as GET /v1/models and `kumiki predict fit --json` show it. */
export interface ModelVersion {
  readonly version: number;
  readonly model: 'bgnbd-gg';
  readonly timeUnit: 'day';
  readonly asOf: string;
  readonly computedAt: string;
  readonly customers: number;
  readonly repeatCustomers: number;
  readonly window: { readonly start: string | null; readonly end: string };
  readonly params: ModelParams;
  readonly logLikelihood: number;
  readonly figures: ModelFigures;
}

export interface ModelFigures {
  readonly gammaGammaLogLikelihood: number;
  /** Repeat buyers the Gamma-Gamma model was fitted on (a hash sample above MAX_GAMMA_GAMMA_ROWS). */
  readonly gammaGammaCustomers: number;
  readonly standardErrors: Record<string, number> | null;
  readonly discountRate: number;
  readonly propensity: {
    readonly horizonDays: number;
    readonly features: readonly string[] | null;
    readonly quality: ScoreQuality | null;
    readonly notEnoughData: string | null;
  };
  readonly recommendations: RecommendationQuality | null;
  readonly profilesScored: number;
  readonly changed: number;
  /** Seconds each phase of the run took: inputs and fits, BG/NBD figures, propensity, recommendations, rows and changes. */
  readonly seconds: Record<'inputs' | 'fit' | 'triples' | 'propensity' | 'recommendations' | 'rows', number>;
}

/** What POST /v1/models/backtest answers and `kumiki predict backtest` prints (how: runBacktest). */
export interface BacktestReport {
  readonly model: 'bgnbd-gg';
  readonly timeUnit: 'day';
  readonly calibrationEnd: string;
  readonly holdoutEnd: string;
  readonly holdoutDays: number;
  readonly customers: number;
  readonly params: ModelParams;
  readonly logLikelihood: number;
  readonly repeatPurchases: { readonly predicted: number; readonly actual: number };
  /** By repeat purchases in the calibration period (0 … 6, then "7+"). */
  readonly byCalibrationRepeatPurchases: readonly {
    readonly repeatPurchases: string;
    readonly customers: number;
    readonly predictedMean: number;
    readonly actualMean: number;
  }[];
  readonly perCustomer: { readonly meanAbsoluteError: number; readonly rootMeanSquaredError: number };
  readonly propensity: { readonly quality: ScoreQuality | null; readonly notEnoughData: string | null };
  readonly recommendations: RecommendationQuality | null;
}
