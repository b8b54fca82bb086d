import pino from 'pino';
import { DependencyUnavailableError } from '../../../services/common/errors';
import type { SegmentChange } from '../../../schemas';
import type {
  EvaluatedSegment,
  MemberRow,
  MembershipDiff,
  MembershipRepository,
} from '../../../services/profile-materializer/segments/evaluation/membership.repository';
import type {
  PublishedChange,
  SegmentChangeLog,
} from '../../../services/profile-materializer/segments/evaluation/segment-change.log';
import { SegmentEvaluator } from '../../../services/profile-materializer/segments/evaluation/segment-evaluator';

/** The evaluator's scheduling with in-memory doubles: coalescing, re-touches, retries. */
const segment: EvaluatedSegment = {
  id: 's1',
  name: 'vip',
  deleted: false,
  references: [],
  source: { kind: 'rule', sql: '', rule: { consent: 'x' }, purpose: null },
};

function doubles(
  diff: (candidates: readonly string[]) => Promise<MembershipDiff[]>,
  segments: readonly EvaluatedSegment[] = [segment],
) {
  const calls: string[][] = [];
  const expanded: string[][] = [];
  const applied: MemberRow[] = [];
  const published: SegmentChange[] = [];
  let failNextPublish = 0;
  let offset = 0n;
  const repository = {
    segmentsToEvaluate: async () => [...segments],
    expandCandidates: async (ids: readonly string[]) => {
      expanded.push([...ids]);
      return [...ids].sort();
    },
    diffCandidates: async (_s: EvaluatedSegment, candidates: readonly string[]) => {
      calls.push([...candidates]);
      return diff(candidates);
    },
    apply: async (rows: readonly MemberRow[]) => void applied.push(...rows),
  } as unknown as MembershipRepository;
  const log = {
    topic: 't',
    publish: async (changes: readonly SegmentChange[]): Promise<PublishedChange[]> => {
      if (failNextPublish > 0) {
        failNextPublish -= 1;
        throw new DependencyUnavailableError('Kafka down');
      }
      published.push(...changes);
      return changes.map((change) => ({ change, partition: 0, offset: offset++ }));
    },
  } as unknown as SegmentChangeLog;
  const evaluator = new SegmentEvaluator({
    repository: () => repository,
    log,
    logger: pino({ level: 'silent' }),
    now: () => 1_000,
    maxProfilesPerRun: 100,
    sweepPageSize: 10,
  });
  return { evaluator, calls, expanded, applied, published, failPublish: (n: number) => (failNextPublish = n) };
}

describe('SegmentEvaluator scheduling', () => {
  it('returns at once, coalesces ids handed over during a run, and evaluates a re-touched id again', async () => {
    let release: () => void = () => undefined;
    let first = true;
    const t = doubles(async (candidates) => {
      if (first) {
        first = false;
        await new Promise<void>((resolve) => (release = resolve));
      }
      return candidates.map((profileId) => ({ profileId, entered: true }));
    });
    t.evaluator.evaluateTouched(['a']);
    await new Promise((resolve) => setImmediate(resolve));
    t.evaluator.evaluateTouched(['a', 'b']);
    t.evaluator.evaluateTouched(['c']);
    expect(t.evaluator.oldestPending()).toEqual(expect.any(Number));
    release();
    await t.evaluator.idle();
    // Run 1 saw a; run 2 took a again (touched while run 1 read it), b and c together.
    expect(t.calls).toEqual([['a'], ['a', 'b', 'c']]);
    expect(t.evaluator.oldestPending()).toBeUndefined();
  });

  it('keeps ids pending when publishing fails, and publishes once when Kafka is back', async () => {
    const t = doubles(async (candidates) => candidates.map((profileId) => ({ profileId, entered: true })));
    t.failPublish(2);
    t.evaluator.evaluateTouched(['a']);
    await t.evaluator.idle();
    expect(t.published.map((c) => `${c.profileId} ${c.change}`)).toEqual(['a entered']);
    expect(t.applied.map((r) => [r.profile_id, r.version])).toEqual([['a', '1']]);
    expect(t.calls).toHaveLength(3);
    expect(t.evaluator.isHealthy()).toBe(true);
  });

  it('without a live segment, drops the pending ids without reading their aliases', async () => {
    const t = doubles(async (candidates) => candidates.map((profileId) => ({ profileId, entered: true })), []);
    t.evaluator.evaluateTouched(['a', 'b']);
    await t.evaluator.idle();
    expect(t.expanded).toEqual([]);
    expect(t.calls).toEqual([]);
    expect(t.published).toEqual([]);
    expect(t.evaluator.oldestPending()).toBeUndefined();

    const withSegment = doubles(async () => [], [segment]);
    withSegment.evaluator.evaluateTouched(['a', 'b']);
    await withSegment.evaluator.idle();
    expect(withSegment.expanded).toEqual([['a', 'b']]);
  });
});
