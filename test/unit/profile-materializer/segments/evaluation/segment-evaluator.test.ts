import pino from 'pino';
import { DependencyUnavailableError } from '../../../../../services/common/errors';
import type { SegmentChange } from '../../../../../schemas';
import type {
  EvaluatedSegment,
  MemberRow,
  MembershipDiff,
  MembershipRepository,
} from '../../../../../services/profile-materializer/segments/evaluation/membership.repository';
import type {
  PublishedChange,
  SegmentChangeLog,
} from '../../../../../services/profile-materializer/segments/evaluation/segment-change.log';
import { SegmentEvaluator } from '../../../../../services/profile-materializer/segments/evaluation/segment-evaluator';

/** The evaluator's scheduling with in-memory doubles: coalescing, re-touches, retries. */
const segment: EvaluatedSegment = {
  id: 's1',
  name: 'vip',
  deleted: false,
  references: [],
  reads: null,
  source: { kind: 'rule', sql: '', rule: { consent: 'x' }, purpose: null },
};

function doubles(
  diff: (candidates: readonly string[]) => Promise<MembershipDiff[]>,
  segments: readonly EvaluatedSegment[] = [segment],
) {
  const calls: string[][] = [];
  const bySegment: string[] = [];
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
    diffCandidates: async (s: EvaluatedSegment, candidates: readonly string[]) => {
      calls.push([...candidates]);
      bySegment.push(`${s.id}: ${candidates.join(' ')}`);
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
  return {
    evaluator,
    calls,
    bySegment,
    expanded,
    applied,
    published,
    failPublish: (n: number) => (failNextPublish = n),
  };
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

  it('evaluates ids of derived data only for the segments that read the changed table (or are not analysed yet)', async () => {
    const reading = (id: string, reads: readonly string[] | null): EvaluatedSegment => ({ ...segment, id, reads });
    const t = doubles(
      async () => [],
      [
        reading('over-rfm', ['profiles', 'rfm']),
        reading('over-events', ['events', 'profiles']),
        reading('not-analysed', null),
        reading('in-over-rfm', ['profiles', 'segment_members', 'segment_members_store']),
      ],
    );
    t.evaluator.evaluateChanged(['rfm', 'rfm_as_of'], ['r1', 'r2']);
    await t.evaluator.idle();
    // No touched id: no alias read; a segment with no candidate is not queried. One that reads
    // membership follows the segments before it.
    expect(t.expanded).toEqual([]);
    expect(t.bySegment).toEqual(['over-rfm: r1 r2', 'not-analysed: r1 r2', 'in-over-rfm: r1 r2']);

    t.bySegment.length = 0;
    t.evaluator.evaluateTouched(['t1']);
    t.evaluator.evaluateChanged(['rfm'], ['t1', 'r3']);
    t.evaluator.evaluateChanged(['predictions'], ['p1']);
    await t.evaluator.idle();
    // Run 1 took t1 alone (touched: every segment). t1 was handed over again while it ran, so run 2
    // takes it again (still for every segment), r3 where rfm is read, p1 where nothing says otherwise.
    expect(t.expanded).toEqual([['t1'], ['t1']]);
    expect(t.bySegment).toEqual([
      'over-rfm: t1',
      'over-events: t1',
      'not-analysed: t1',
      'in-over-rfm: t1',
      'over-rfm: r3 t1',
      'over-events: t1',
      'not-analysed: p1 r3 t1',
      'in-over-rfm: p1 r3 t1',
    ]);
  });

  it('keeps a source of derived data waiting while the backlog is above the bound, and frees it on stop', async () => {
    let release: () => void = () => undefined;
    const t = doubles(() => new Promise((resolve) => (release = () => resolve([]))));
    await t.evaluator.backlogBelow(2); // nothing pending
    t.evaluator.evaluateChanged(['rfm'], ['a', 'b', 'c']);
    let below = false;
    const waiting = t.evaluator.backlogBelow(2).then(() => (below = true));
    await new Promise((resolve) => setImmediate(resolve));
    expect(below).toBe(false);
    release(); // the run over a, b, c finishes: nothing pending
    await waiting;
    expect(below).toBe(true);

    t.evaluator.evaluateChanged(['rfm'], ['d', 'e', 'f']);
    const stopped = t.evaluator.backlogBelow(1);
    await t.evaluator.stop(10);
    await stopped;
    release();
  });
});
