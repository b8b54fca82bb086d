import { z } from 'zod';
import { env } from '../../../common/config';
import { topics } from '../../../common/kafka/topics';

/**
 * Settings of segment evaluation, part of the materializer's env schema
 * (`...segmentEvaluationEnvShape` in materializerEnv).
 */
export const segmentEvaluationEnvShape = {
  /** Where SegmentChange records go; tests use their own. */
  SEGMENT_CHANGES_TOPIC: z.string().min(1).default(topics.segmentChanges.name),
  /**
   * Transactional id of this instance's change producer (default `<MATERIALIZER_GROUP_ID>.segments`).
   * Fixed per instance and stable across its restarts: that is what lets a restart fence and
   * abort what the previous run left open. Two instances with the same id fence each other.
   */
  SEGMENT_TRANSACTIONAL_ID: z.string().min(1).optional(),
  /** Period of the full re-evaluation of every segment (time-relative rules); 0 turns it off. */
  SEGMENT_SWEEP_INTERVAL_MS: z.coerce.number().int().min(0).default(60_000),
  /** Touched profiles evaluated per incremental run; more wait for the next run. */
  SEGMENT_INCREMENTAL_MAX_PROFILES: env.positiveInt(5_000),
  /** Changes per page (and Kafka transaction) of a sweep; bounds the sweep's memory. */
  SEGMENT_SWEEP_PAGE_SIZE: env.positiveInt(5_000),
};

export interface SegmentEvaluationSettings {
  readonly topic: string;
  readonly transactionalId: string;
  readonly sweepIntervalMs: number;
  readonly maxProfilesPerRun: number;
  readonly sweepPageSize: number;
}

type SegmentEvaluationEnv = z.output<z.ZodObject<typeof segmentEvaluationEnvShape>>;

export function segmentEvaluationSettings(
  config: Readonly<SegmentEvaluationEnv> & { readonly MATERIALIZER_GROUP_ID: string },
): SegmentEvaluationSettings {
  return {
    topic: config.SEGMENT_CHANGES_TOPIC,
    transactionalId: config.SEGMENT_TRANSACTIONAL_ID ?? `${config.MATERIALIZER_GROUP_ID}.segments`,
    sweepIntervalMs: config.SEGMENT_SWEEP_INTERVAL_MS,
    maxProfilesPerRun: config.SEGMENT_INCREMENTAL_MAX_PROFILES,
    sweepPageSize: config.SEGMENT_SWEEP_PAGE_SIZE,
  };
}
