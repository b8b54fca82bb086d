import type { SegmentChange } from '../../../../schemas';
import { ProducerFencedError } from '../../../common/kafka/transactions';
import type { MembershipRepository } from './membership.repository';

/** Attempts of one erasure's exits before its caller hears of the failure (the worker retries in between). */
const ATTEMPTS = 5;

/**
 * One step of the evaluator's worker that exits `profileIds` from every segment they are a
 * member of, each exit with reason `erased`: `hide` (which makes the profiles qualify for no
 * segment: profiles_store rows with deleted = 1) runs first, then their memberships are read,
 * published and applied in the same step, so no evaluation can run in between and let them
 * enter again. `done` hears the number of exits once they are committed and applied; a failure
 * is thrown for the worker to take the step again, `ATTEMPTS` times, then handed to `failed`.
 */
export function erasureExitsStep(options: {
  readonly profileIds: readonly string[];
  readonly hide: () => Promise<void>;
  readonly repository: () => Pick<MembershipRepository, 'membershipsOf'>;
  readonly now: () => number;
  readonly publishAndApply: (exits: readonly SegmentChange[]) => Promise<void>;
  readonly done: (exits: number) => void;
  readonly failed: (error: unknown) => void;
}): () => Promise<void> {
  let attempts = 0;
  return async () => {
    attempts += 1;
    try {
      await options.hide();
      const memberships = await options.repository().membershipsOf(options.profileIds);
      const at = options.now();
      const exits = memberships.map(
        (m): SegmentChange => ({
          segmentId: m.segmentId,
          segmentName: m.name,
          profileId: m.profileId,
          change: 'exited',
          at,
          evaluation: 'erasure',
          reason: 'erased',
        }),
      );
      await options.publishAndApply(exits);
      options.done(exits.length);
    } catch (error) {
      if (attempts >= ATTEMPTS || error instanceof ProducerFencedError) options.failed(error);
      else throw error;
    }
  };
}
