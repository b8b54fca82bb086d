import crypto from 'node:crypto';
import type { SegmentChange } from '../../../../schemas';
import { errorMessage } from '../../../common/errors';
import { ProducerFencedError } from '../../../common/kafka/transactions';
import { sleep, withRetry } from '../../../common/retry';
import { erasureExitsStep } from './erasure-exits';
import { orSkip } from './skip-refused-segment';
import { candidatesOf, PendingProfiles, type Scope } from './pending-profiles';
import { refreshMemberSizes } from './segment-evaluation.metrics';
import type { SegmentEvaluatorDeps, SweepOutcome } from './segment-evaluator.deps';
import { memberRow, toChange } from './segment-change.log';
import type { Evaluation, PublishedChange } from './segment-change.log';
import type { EvaluatedSegment } from './membership.repository';

/**
 * Segment evaluation: which profiles enter and exit which segments, each change published
 * exactly once on kumiki.segments.changes and applied to segment_members.
 *
 * Two kinds of evaluation, one worker:
 * - incremental: `evaluateTouched(ids)` (the materializer calls it after each batch, with the
 *   profiles the batch touched) only records the ids and returns; the worker evaluates every
 *   segment for the pending ids (expanded with survivors and absorbed ids of merges), up to
 *   `maxProfilesPerRun` at a time. Ids handed over while a run is under way coalesce into the
 *   next run, so the materializer is never held up and a burst costs one run, not one per batch.
 *   `evaluateChanged(tables, ids)` is the same for derived data (an RFM snapshot, …) written
 *   outside the event path: those ids are evaluated, in the same runs, only for the segments
 *   whose queries read one of `tables` (EvaluatedSegment.reads; a segment not yet analysed counts
 *   as reading everything).
 * - scheduled (the sweep): every segment over all profiles at `now`, for time-relative rules
 *   ("no purchase in 30 days" starts, "within 1 day" ends, without any new event). The diff is
 *   staged inside ClickHouse and published a page at a time, so memory is bounded by the page
 *   size, not the segment size. Pending incremental work goes first between two segments.
 *
 * EXACTLY ONCE. Kafka is the write-ahead log, ClickHouse the state (segment_members_store):
 *   1. a diff is computed against the state (new members vs current members, in SQL);
 *   2. the changes are produced in one Kafka transaction (fixed transactional id) and committed;
 *   3. only then are they applied to the state, each row recording the partition and offset of
 *      the change it applies (and version = offset + 1, so applying twice writes the same row).
 *   The worker is the only writer and does one step at a time, so a diff always sees every
 *   change committed before it. If the process dies
 *   - before the commit (1–2): the transaction is aborted when the next instance connects its
 *     producer (same transactional id: the broker fences the old one), read_committed readers
 *     never see those records, the state is unchanged, and re-evaluation finds the same changes
 *     again — published once;
 *   - after the commit, before or during the apply (3): on start, `recover()` reads the topic
 *     read_committed from the highest applied offset per partition to its end and applies what
 *     is missing, BEFORE any evaluation — so the state again holds every published change and
 *     the next diff cannot publish it a second time, nor miss the exit that follows.
 *   An apply that fails while running is retried; if it cannot succeed the evaluator stops
 *   (unhealthy) rather than diffing against a state that lacks committed changes.
 *   Limits: one evaluator per transactional id (a second instance fences the first), and the
 *   topic must not be recreated under the same name (offsets restart; see docs/segments.md).
 *
 * MERGES. A merged-away profile is in no member query, so when its survivor is evaluated
 * (the merge touches it) the absorbed id's memberships EXIT — a real change of that id — and
 * the survivor enters only the segments it was not already in. The survivor therefore never
 * gets an exit/enter pair: either it was a member and stays one (no change), or it was not and
 * enters once. Replaying the topic per (segment, profile) always yields the current membership.
 * Consent works the same way: a segment's member query requires its purpose, so a profile that
 * revokes it is no longer returned and exits at the evaluation its revoking event triggers.
 */
type Task = () => Promise<void>;

export class SegmentEvaluator {
  private readonly pending = new PendingProfiles();
  private readonly sweepTasks: Task[] = [];
  /** Erasure exits (exitErased): taken before anything else, so a busy materializer never holds them up. */
  private readonly erasureTasks: Task[] = [];
  private sweepUnderWay: Promise<SweepOutcome> | undefined;
  private abandonSweep: ((error: Error) => void) | undefined;
  private worker: Promise<void> | undefined;
  private idleWaiters: Array<() => void> = [];
  private stopped = false;
  private broken: Error | undefined;
  private failures = 0;
  private readonly abort = new AbortController();

  constructor(private readonly deps: SegmentEvaluatorDeps) {}

  /** Records the profiles a materialized batch touched and returns at once (evaluation follows). */
  evaluateTouched(profileIds: Iterable<string>): void {
    this.hold(profileIds, 'all');
  }

  /**
   * Records that derived data in `tables` changed for these profiles and returns at once: the
   * segments reading any of them are evaluated for the profiles in the next run.
   */
  evaluateChanged(tables: readonly string[], profileIds: Iterable<string>): void {
    if (tables.length > 0) this.hold(profileIds, new Set(tables));
  }

  /**
   * Resolves once fewer than `limit` profiles are pending (at once when they are), or when
   * evaluation stops: a source of derived data that changes many rows waits here, so the pending
   * ids stay bounded instead of growing with the size of the change.
   */
  backlogBelow(limit: number): Promise<void> {
    return this.pending.below(limit, this.stopped || this.broken !== undefined);
  }

  private hold(profileIds: Iterable<string>, scope: Scope): void {
    if (this.stopped) return;
    this.pending.hold(profileIds, scope, Date.now());
    this.kick();
  }

  /**
   * Queues a sweep of every segment at `now` (one at a time; a sweep already under way is
   * returned instead) and resolves when it is done.
   */
  sweep(): Promise<SweepOutcome> {
    if (this.sweepUnderWay) return this.sweepUnderWay;
    if (this.stopped || this.broken) return Promise.reject(this.broken ?? new Error('segment evaluation is stopped'));
    const outcome = { segments: 0, changes: 0 };
    const started = Date.now();
    this.sweepUnderWay = new Promise<SweepOutcome>((resolve, reject) => {
      this.abandonSweep = reject;
      this.sweepTasks.push(async () => {
        const segments = await this.deps.repository().segmentsToEvaluate({ withDeleted: true });
        // `now` is read per segment, not once per sweep: incremental runs interleave between
        // segments, and a segment evaluated at an earlier `now` than a run before it could
        // undo that run's change (an exit/enter flap at a window's edge).
        const steps: Task[] = segments.map((segment) => async () => {
          outcome.changes += await this.sweepSegment(segment, this.deps.now());
          outcome.segments += 1;
        });
        steps.push(async () => {
          this.deps.metrics?.lastSweepSeconds.set((Date.now() - started) / 1000);
          this.deps.metrics?.lastSweepTimestamp.set(Date.now() / 1000);
          await refreshMemberSizes(
            this.deps.metrics,
            this.deps.repository(),
            segments.filter((segment) => !segment.deleted).map((segment) => segment.id),
          );
          resolve(outcome);
        });
        this.sweepTasks.unshift(...steps);
      });
      this.kick();
    }).finally(() => {
      this.sweepUnderWay = undefined;
      this.abandonSweep = undefined;
    });
    return this.sweepUnderWay;
  }

  /**
   * Exits `profileIds` from every segment, each exit with reason `erased` (erasure-exits.ts), as
   * the worker's next step; resolves with the number of exits once they are committed and applied.
   */
  exitErased(profileIds: readonly string[], hide: () => Promise<void>): Promise<number> {
    if (this.stopped || this.broken) return Promise.reject(this.broken ?? new Error('segment evaluation is stopped'));
    return new Promise<number>((done, failed) => {
      const publishAndApply = (exits: readonly SegmentChange[]) => this.publishAndApply(exits, 'erasure', new Set());
      this.erasureTasks.push(erasureExitsStep({ ...this.deps, profileIds, hide, publishAndApply, done, failed }));
      this.kick();
    });
  }

  /** Resolves once nothing is pending or under way (tests; shutdown). */
  idle(): Promise<void> {
    if (!this.worker && !this.hasWork()) return Promise.resolve();
    return new Promise((resolve) => this.idleWaiters.push(resolve));
  }

  /** When the oldest pending profile was handed over (wall clock), if any. */
  oldestPending(): number | undefined {
    return this.pending.oldestSince();
  }

  isHealthy(): boolean {
    return this.broken === undefined;
  }

  /**
   * Applies the committed changes the state lacks (after a crash between commit and apply).
   * Must run before the first evaluation; see the class comment.
   */
  async recover(): Promise<number> {
    const repository = this.deps.repository();
    const applied = await repository.appliedOffsets();
    const count = await this.deps.log.replay(applied, async (all) => {
      const changes = all.filter((c) => !this.deps.isErased?.(c.change.profileId));
      await repository.apply(changes.map(memberRow));
      // Their hand-over died with the process that committed them.
      for (const evaluation of ['incremental', 'scheduled'] as const) {
        await this.membershipChanged(
          new Set(changes.filter((c) => c.change.evaluation === evaluation).map((c) => c.change.profileId)),
          evaluation,
        );
      }
    });
    if (count > 0)
      this.deps.logger.warn(
        { changes: count, topic: this.deps.log.topic },
        'applied committed segment changes missing from segment_members',
      );
    return count;
  }

  /** Stops taking work and waits (bounded) for the step under way. */
  async stop(graceMs = 10_000): Promise<void> {
    this.stopped = true;
    this.abort.abort();
    this.abandonSweep?.(new Error('segment evaluation stopped'));
    const worker = this.worker;
    if (worker) await Promise.race([worker.catch(() => undefined), sleep(graceMs)]);
    this.flushIdle();
  }

  private kick(): void {
    if (this.worker || this.stopped || this.broken) return;
    this.worker = this.work().finally(() => {
      this.worker = undefined;
      if (!this.stopped && !this.broken && this.hasWork()) this.kick();
      else this.flushIdle();
    });
  }

  private hasWork(): boolean {
    return this.pending.size > 0 || this.sweepTasks.length > 0 || this.erasureTasks.length > 0;
  }

  private flushIdle(): void {
    this.pending.release(this.stopped || this.broken !== undefined);
    if (this.hasWork() && !this.stopped && !this.broken) return;
    const waiters = this.idleWaiters;
    this.idleWaiters = [];
    for (const resolve of waiters) resolve();
  }

  /** The worker: erasure exits first, then incremental runs, then the next sweep step; one step at a time. */
  private async work(): Promise<void> {
    while (!this.stopped && !this.broken) {
      let task: Task | undefined;
      try {
        if ((task = this.erasureTasks[0])) await task().then(() => this.erasureTasks.shift());
        else if (this.pending.size > 0) await this.runIncremental();
        else if ((task = this.sweepTasks.shift())) await task();
        else return;
        this.failures = 0;
      } catch (error) {
        if (task && task !== this.erasureTasks[0]) this.sweepTasks.unshift(task); // taken again (an erasure's stays first)
        if (this.stopped) return;
        // Fenced: another evaluator took over this transactional id; it must not write again.
        if (error instanceof ProducerFencedError) return this.fail(error);
        this.failures += 1;
        if (this.failures >= 20) return this.fail(error instanceof Error ? error : new Error(String(error)));
        const delayMs = Math.min(5_000, 100 * 2 ** Math.min(this.failures, 6));
        this.deps.logger.warn(
          { error: errorMessage(error), attempt: this.failures, delayMs },
          'segment evaluation failed; retrying',
        );
        await sleep(delayMs, this.abort.signal);
      }
    }
  }

  private fail(error: Error): void {
    this.broken = error;
    this.deps.logger.error({ error: errorMessage(error) }, 'segment evaluation stopped');
    this.abandonSweep?.(error);
    this.flushIdle();
  }

  /** One incremental run, then the hand-over of what it applied (also when a later step of it failed). */
  private async runIncremental(): Promise<void> {
    const changed = new Set<string>();
    try {
      await this.evaluatePending(changed);
    } finally {
      await this.membershipChanged(changed, 'incremental');
    }
  }

  /**
   * The oldest pending ids (at most maxProfilesPerRun) against the live segments of their scope;
   * adds the profiles whose changes were applied to `changed`.
   */
  private async evaluatePending(changed: Set<string>): Promise<void> {
    const taken = this.pending.take(this.deps.maxProfilesPerRun);
    const started = Date.now();
    {
      const repository = this.deps.repository();
      const at = this.deps.now();
      const segments = await repository.segmentsToEvaluate();
      const touched = taken.filter(([, entry]) => entry.scope === 'all').map(([id]) => id);
      // No segment, no membership to change: the alias read of the candidates is skipped (it
      // is a query as large as the batch, queued behind the materializer's own). Ids of derived
      // data need none: a derived table holds current profiles, and its changes name the ids
      // that left it.
      const expanded = segments.length > 0 && touched.length > 0 ? await repository.expandCandidates(touched) : [];
      // Changes of several segments share a transaction, except that a segment whose rule
      // reads another segment's members is evaluated after those changes are applied.
      let unpublished: SegmentChange[] = [];
      const changedSegments = new Set<string>();
      for (const segment of segments) {
        if (unpublished.length > 0 && segment.references.some((ref) => changedSegments.has(ref))) {
          await this.publishAndApply(unpublished, 'incremental', changed);
          unpublished = [];
        }
        const candidates = candidatesOf(segment, expanded, taken);
        if (candidates.length === 0) continue;
        const diff = await orSkip(
          this.deps.logger,
          segment,
          () => repository.diffCandidates(segment, candidates, at),
          [],
        );
        if (diff.length > 0) changedSegments.add(segment.id);
        unpublished.push(...diff.map((d) => toChange(segment, d, at, 'incremental')));
      }
      // If anything above throws, the ids stay pending and the next run takes them again.
      await this.publishAndApply(unpublished, 'incremental', changed);
    }
    this.pending.settle(taken, this.stopped || this.broken !== undefined);
    const finished = Date.now();
    this.deps.metrics?.evaluationSeconds.observe({ evaluation: 'incremental' }, (finished - started) / 1000);
    if (taken.length > 0) this.deps.metrics?.incrementalLagSeconds.observe((finished - taken[0]![1].since) / 1000);
  }

  /** One segment's sweep at `at`: stage the diff in ClickHouse, then publish it page by page. */
  private async sweepSegment(segment: EvaluatedSegment, at: number): Promise<number> {
    const started = Date.now();
    const repository = this.deps.repository();
    const runId = `${segment.id}:${at}:${crypto.randomBytes(4).toString('hex')}`;
    const staged = await orSkip(this.deps.logger, segment, () => repository.stageSweep(runId, segment, at), 0);
    let changes = 0;
    let after = '';
    while (staged > 0) {
      const page = await repository.sweepPage(runId, after, this.deps.sweepPageSize);
      if (page.length === 0) break;
      after = page[page.length - 1]!.profileId;
      // Re-checked against the state at publish time: a change that an incremental run already
      // published (between staging and this page) is not published twice.
      const members = await repository.membersAmong(
        segment.id,
        page.map((d) => d.profileId),
      );
      const fresh = page.filter((d) => d.entered !== members.has(d.profileId));
      const applied = new Set<string>();
      await this.publishAndApply(
        fresh.map((d) => toChange(segment, d, at, 'scheduled')),
        'scheduled',
        applied,
      );
      await this.membershipChanged(applied, 'scheduled');
      changes += fresh.length;
      if (page.length < this.deps.sweepPageSize) break;
    }
    this.deps.metrics?.evaluationSeconds.observe({ evaluation: 'scheduled' }, (Date.now() - started) / 1000);
    return changes;
  }

  /** Steps 2 and 3 of the class comment: commit to Kafka, then apply to ClickHouse (retried; never skipped). */
  private async publishAndApply(
    changes: readonly SegmentChange[],
    evaluation: Evaluation,
    applied: Set<string>,
  ): Promise<void> {
    if (changes.length === 0) return;
    const published: PublishedChange[] = await this.deps.log.publish(changes, this.deps.faults ?? {});
    await this.deps.faults?.afterCommit?.();
    try {
      await withRetry(() => this.deps.repository().apply(published.map(memberRow)), {
        initialDelayMs: 200,
        maxDelayMs: 5_000,
        deadlineMs: 120_000,
        signal: this.abort.signal,
        onRetry: ({ attempt, error }) =>
          this.deps.logger.warn({ attempt, error }, 'applying committed segment changes failed; retrying'),
      });
    } catch (error) {
      // The state now lacks committed changes: evaluating on would publish them again. Stop;
      // the next start recovers them from the topic.
      this.fail(new Error(`committed segment changes could not be applied: ${errorMessage(error)}`, { cause: error }));
      throw error;
    }
    for (const change of changes) {
      this.deps.metrics?.changes.inc({ change: change.change, evaluation });
      this.deps.metrics?.members.inc({ segment_id: change.segmentId }, change.change === 'entered' ? 1 : -1);
      applied.add(change.profileId);
    }
  }

  /** Hands the profiles whose membership changed to onMembershipChanged; never throws. */
  private async membershipChanged(profileIds: ReadonlySet<string>, evaluation: Evaluation): Promise<void> {
    if (!this.deps.onMembershipChanged || profileIds.size === 0) return;
    const profiles = [...profileIds].sort();
    await this.deps
      .onMembershipChanged(profiles)
      .catch((error: unknown) =>
        this.deps.logger.warn(
          { error: errorMessage(error), profiles: profiles.length, evaluation },
          'republishing profiles after segment changes failed',
        ),
      );
  }
}
