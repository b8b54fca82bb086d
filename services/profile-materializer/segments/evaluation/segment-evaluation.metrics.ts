import { Counter, Gauge, Histogram, type Registry } from '../../../common/metrics';
import type { MembershipRepository } from './membership.repository';

/**
 * What /metrics shows of segment evaluation: per-segment size, evaluation time, changes, and
 * freshness lag — how long the oldest profile handed over by the materializer has been waiting
 * for its evaluation (a gauge read at scrape time), and per incremental run the time from hand-over
 * to committed changes (a histogram); profiles handed over by derived-data sources.
 */
export interface SegmentEvaluationMetrics {
  readonly members: Gauge<'segment_id'>;
  readonly evaluationSeconds: Histogram<'evaluation'>;
  readonly changes: Counter<'change' | 'evaluation'>;
  readonly freshnessLag: Gauge;
  readonly incrementalLagSeconds: Histogram;
  readonly lastSweepSeconds: Gauge;
  readonly derivedProfiles: Counter<'source'>;
  readonly lastSweepTimestamp: Gauge;
}

export function createSegmentEvaluationMetrics(
  registry: Registry,
  pendingSince: () => number | undefined,
  now: () => number = Date.now,
): SegmentEvaluationMetrics {
  return {
    members: new Gauge({
      name: 'kumiki_segment_members',
      help: 'Current members per segment',
      labelNames: ['segment_id'],
      registers: [registry],
    }),
    evaluationSeconds: new Histogram({
      name: 'kumiki_segment_evaluation_seconds',
      help: 'Time of one evaluation: an incremental run over all segments, or a sweep of one segment',
      labelNames: ['evaluation'],
      buckets: [0.01, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 300],
      registers: [registry],
    }),
    changes: new Counter({
      name: 'kumiki_segment_changes_total',
      help: 'SegmentChange records committed, by change and evaluation',
      labelNames: ['change', 'evaluation'],
      registers: [registry],
    }),
    freshnessLag: new Gauge({
      name: 'kumiki_segment_freshness_lag_seconds',
      help: 'How long the oldest touched profile not yet evaluated has waited (0 when none waits)',
      registers: [registry],
      collect() {
        const since = pendingSince();
        this.set(since === undefined ? 0 : Math.max(0, now() - since) / 1000);
      },
    }),
    incrementalLagSeconds: new Histogram({
      name: 'kumiki_segment_incremental_lag_seconds',
      help: 'Time from a batch handing its profiles over to their segment changes being committed',
      buckets: [0.05, 0.1, 0.25, 0.5, 1, 2, 5, 10, 30, 60],
      registers: [registry],
    }),
    lastSweepSeconds: new Gauge({
      name: 'kumiki_segment_last_sweep_seconds',
      help: 'Duration of the latest complete sweep of all segments',
      registers: [registry],
    }),
    derivedProfiles: new Counter({
      name: 'kumiki_segment_derived_profiles_total',
      help: 'Profiles handed over for evaluation because derived data they appear in changed, by source',
      labelNames: ['source'],
      registers: [registry],
    }),
    lastSweepTimestamp: new Gauge({
      name: 'kumiki_segment_last_sweep_timestamp_seconds',
      help: 'When the latest complete sweep of all segments ended (Unix time)',
      registers: [registry],
    }),
  };
}

/** Exact sizes after a sweep (between sweeps the gauge follows the changes); 0 for empty live segments, none for deleted ones. */
export async function refreshMemberSizes(
  metrics: SegmentEvaluationMetrics | undefined,
  repository: Pick<MembershipRepository, 'sizes'>,
  live: readonly string[],
): Promise<void> {
  if (!metrics) return;
  const sizes = await repository.sizes();
  metrics.members.reset();
  for (const segmentId of live) metrics.members.set({ segment_id: segmentId }, sizes.get(segmentId) ?? 0);
}
