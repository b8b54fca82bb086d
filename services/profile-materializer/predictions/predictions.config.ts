import { z } from 'zod';
import { env } from '../../common/config';

/**
 * The predictions' settings, part of the profile-materializer's environment
 * (`...predictionsEnvShape` in materializerEnv). docs/predictions.md explains each.
 */
export const predictionsEnvShape = {
  /** Refit and rescore at least this often (and at start, and on demand); 0 turns the schedule off. */
  PREDICTIONS_REFIT_INTERVAL_MS: z.coerce
    .number()
    .int()
    .min(0)
    .default(6 * 3_600_000),
  /** Fewer purchasers than this: "not enough data", no model (and no predictions) yet. */
  PREDICTIONS_MIN_PURCHASERS: env.positiveInt(100),
  /** Fewer purchasers with a repeat purchase than this: the same. */
  PREDICTIONS_MIN_REPEAT_BUYERS: env.positiveInt(20),
  /** Annual discount rate of clv_365d (0.1 = 10 %); 0 leaves it undiscounted. */
  PREDICTIONS_DISCOUNT_RATE: z.coerce.number().min(0).max(10).default(0),
  /** Products never recommended (comma-separated product ids), e.g. gift cards. */
  PREDICTIONS_RECOMMENDATION_EXCLUDE: z
    .string()
    .default('')
    .transform((raw) =>
      raw
        .split(',')
        .map((item) => item.trim())
        .filter(Boolean),
    ),
};

export interface PredictionSettings {
  readonly refitIntervalMs: number;
  readonly minPurchasers: number;
  readonly minRepeatBuyers: number;
  readonly discountRate: number;
  readonly excludedItems: readonly string[];
}

type PredictionsEnv = z.output<z.ZodObject<typeof predictionsEnvShape>>;

export function predictionSettings(config: Readonly<PredictionsEnv>): PredictionSettings {
  return {
    refitIntervalMs: config.PREDICTIONS_REFIT_INTERVAL_MS,
    minPurchasers: config.PREDICTIONS_MIN_PURCHASERS,
    minRepeatBuyers: config.PREDICTIONS_MIN_REPEAT_BUYERS,
    discountRate: config.PREDICTIONS_DISCOUNT_RATE,
    excludedItems: config.PREDICTIONS_RECOMMENDATION_EXCLUDE,
  };
}
