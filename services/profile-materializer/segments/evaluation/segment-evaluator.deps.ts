import type { Logger } from '../../../common/logger';
import type { MembershipRepository } from './membership.repository';
import type { PublishHooks, SegmentChangeLog } from './segment-change.log';
import type { SegmentEvaluationMetrics } from './segment-evaluation.metrics';

/** What the SegmentEvaluator needs, and what a sweep comes to. */
export interface SegmentEvaluatorDeps {
  readonly repository: () => MembershipRepository;
  readonly log: SegmentChangeLog;
  readonly logger: Logger;
  /** Evaluation clock (rules' `now`, the `at` of changes); tests control it. */
  readonly now: () => number;
  readonly metrics?: SegmentEvaluationMetrics;
  /**
   * Called with the profiles whose membership changed once the changes are applied, by both
   * kinds of evaluation: their next ProfileUpdate must list their current segments, and the one
   * the materializer published for an incremental run's batch was built before the run. Once per
   * incremental run (after its ids left the pending set, so the freshness and lag metrics do not
   * count it) and per sweep page. Awaited, so the next step waits for it (backpressure); a
   * rejection is logged, never retried here.
   */
  readonly onMembershipChanged?: (profileIds: readonly string[]) => Promise<void>;
  readonly maxProfilesPerRun: number;
  readonly sweepPageSize: number;
  /** Fault injection for tests: awaited inside a publish after the records are sent, before the commit; and after the commit, before the apply. */
  readonly faults?: PublishHooks & { readonly afterCommit?: () => Promise<void> };
  /**
   * Profiles a privacy request erased: their committed changes are not applied again by
   * recovery (segment_members must keep no row of them). Recovery reads the topic from the
   * highest applied offset, which an erasure can lower by deleting the rows that held it.
   */
  readonly isErased?: (profileId: string) => boolean;
}

export interface SweepOutcome {
  readonly segments: number;
  readonly changes: number;
}
