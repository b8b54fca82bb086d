import type { PrivacyRequest, PrivacySubject } from '../../../schemas';
import type { ClickHouse } from '../../common/clickhouse/client-factory';
import { errorMessage, isRetriable } from '../../common/errors';
import { erases, requestKey, requestTypeOf } from '../../common/privacy/privacy-request';
import type { HashedSubject } from '../../common/privacy/privacy-report';
import { sleep } from '../../common/retry';
import { catalogue, countRows, deleteRequestRows, deleteRows, type Store } from './clickhouse-erasure';
import { identifiersLinkedTo, messageIdsOfSubject, profilesMergedInto } from './person-lookup';
import type { PrivacyExecutorDeps } from './privacy-executor.deps';
import { completedRecord, outcomeOf, signedReport } from './privacy-request-report';
import type { SubjectRow, SubjectView } from './privacy-request.repository';
import {
  allProfileIds,
  identifierRow,
  initialState,
  profileRow,
  requestedRow,
  type ExecutionContext,
  type Run,
} from './privacy-run';
import { stepsOf } from './privacy-steps';
import { personKeysOf, residualTopicsOf, scanResidualData } from './residual-data';

export type { ExecutionContext } from './privacy-run';
export type { PrivacyExecutorDeps, PrivacyTopics } from './privacy-executor.deps';

type Step = (run: Run) => Promise<void>;

/**
 * Carries out privacy requests in the profile-materializer, from the stitcher's answer (phase
 * `resolved`) to completion. The state of a request lives in ClickHouse (privacy_requests_store
 * and its subject rows) and its log on kumiki.privacy.requests: each step is checkpointed when
 * it is done, every step is safe to repeat, and the consumer commits the request's offset only
 * once it is complete, so a request interrupted at any point (SIGKILL included) is taken up
 * again after the restart and carries on from its last checkpoint (docs/privacy.md, "Where a
 * request's state lives").
 * The steps of each type are listed in privacy-steps.ts.
 */
export class PrivacyRequestExecutor {
  private readonly now: () => number;
  private readonly steps: Record<string, Step> = {
    'record-subject': (run) => this.recordSubject(run),
    'wait-for-materializer': (run) => this.waitForMaterializer(run),
    'scan-residual': (run) => this.scanResidual(run),
    'count-rows': (run) => this.countPersonRows(run),
    'exit-segments': (run) => this.exitSegments(run),
    'delete-rows': (run) => this.deletePersonRows(run),
    'settle-writers': (run) => this.settleWriters(run),
    'tombstone-profiles': (run) => this.tombstoneProfiles(run),
    verify: (run) => this.verify(run),
    report: (run) => this.report(run),
    notify: (run) => this.notify(run),
    'forget-subject': (run) => this.forgetSubject(run),
  };

  /** Requests being carried out in this process: a record delivered again meanwhile waits for the run under way. */
  private readonly inFlight = new Map<string, Promise<void>>();

  constructor(private readonly deps: PrivacyExecutorDeps) {
    this.now = deps.now ?? Date.now;
  }

  /** A request was made (phase requested): recorded as pending, unless it is known already. */
  async recordPending(record: PrivacyRequest): Promise<void> {
    if (await this.deps.repository.get(record.requestId)) return;
    await this.deps.repository.save(initialState(record, this.deps.key));
    await this.deps.repository.saveSubject([requestedRow(record)]);
  }

  /** The stitcher could not carry the request out (phase failed): recorded with its reason. */
  async recordFailed(record: PrivacyRequest): Promise<void> {
    const known = await this.deps.repository.get(record.requestId);
    if (known?.status === 'completed' || known?.status === 'failed') return;
    const state = known ?? initialState(record, this.deps.key);
    await this.deps.repository.save({
      ...state,
      status: 'failed',
      outcome: record.outcome ?? 'the identity stitcher could not carry the request out',
      completedAt: record.completedAt ?? this.now(),
    });
    this.deps.metrics?.requests.inc({ type: state.type, status: 'failed' });
  }

  /**
   * Carries out a resolved request from its last checkpoint to the end. Retriable failures
   * (ClickHouse or Kafka away) are retried with backoff for as long as it takes; any other
   * failure ends the request as failed, with the reason.
   */
  run(record: PrivacyRequest, context: ExecutionContext): Promise<void> {
    const under = this.inFlight.get(record.requestId);
    if (under) return under;
    const running = this.carryOut(record, context).finally(() => this.inFlight.delete(record.requestId));
    this.inFlight.set(record.requestId, running);
    return running;
  }

  private async carryOut(record: PrivacyRequest, context: ExecutionContext): Promise<void> {
    const type = requestTypeOf(record.kind);
    let state = (await this.deps.repository.get(record.requestId)) ?? initialState(record, this.deps.key);
    if (state.status === 'completed' || state.status === 'failed') return; // done before: a replay
    const run: Run = {
      record,
      type,
      context,
      state,
      subject: await this.deps.repository.subjectOf(record.requestId),
      progress: { ...state.progress },
    };
    const started = this.now();
    const steps = stepsOf(type);
    const done = steps.indexOf(state.step);
    if (erases(type) && run.subject) this.beginErasure(run);
    for (const name of steps.slice(done + 1)) {
      if (context.signal.aborted) return;
      try {
        await this.retrying(name, run, () => this.steps[name]!(run));
      } catch (error) {
        if (context.signal.aborted) return;
        await this.fail(run, `${name}: ${errorMessage(error)}`);
        return;
      }
      state = { ...run.state, status: 'running', step: name, progress: run.progress };
      run.state = state;
      await this.deps.repository.save(state);
      this.deps.logger.info({ requestId: record.requestId, type, step: name }, 'privacy request step done');
      if (this.deps.killAfterStep === name) {
        // Straight to stderr (a pipe: written before the next line runs); the logger's buffer dies with the process.
        process.stderr.write(`fault injection: SIGKILL after privacy request step ${name}\n`);
        process.kill(process.pid, 'SIGKILL');
      }
    }
    const completedAt = this.now();
    await this.deps.repository.save({
      ...run.state,
      status: 'completed',
      completedAt,
      outcome: outcomeOf(run),
    });
    if (erases(type) && run.subject) this.deps.erased.end(allProfileIds(run.subject));
    this.deps.metrics?.requests.inc({ type, status: 'completed' });
    this.deps.metrics?.seconds.observe({ type }, (completedAt - started) / 1000);
  }

  /** From here on the person is dropped from replays and left alone by background writes. */
  private beginErasure(run: Run): { profiles: string[]; identifiers: string[] } {
    const subject = run.subject!;
    const identifiers = [...subject.identifiers, ...(subject.requested ? [subject.requested] : [])];
    return this.deps.erased.begin(allProfileIds(subject), identifiers, run.record.subject?.resolvedAt ?? this.now());
  }

  private async retrying(step: string, run: Run, task: () => Promise<void>): Promise<void> {
    for (let attempt = 1; ; attempt++) {
      try {
        return await task();
      } catch (error) {
        if (!isRetriable(error) || run.context.signal.aborted) throw error;
        const delayMs = Math.min(30_000, 500 * 2 ** Math.min(attempt, 6));
        this.deps.logger.warn(
          { requestId: run.record.requestId, step, attempt, delayMs, error: errorMessage(error) },
          'privacy request step failed; retrying',
        );
        await run.context.heartbeat().catch(() => undefined);
        await sleep(delayMs, run.context.signal);
      }
    }
  }

  private async fail(run: Run, outcome: string): Promise<void> {
    this.deps.logger.error({ requestId: run.record.requestId, outcome }, 'privacy request failed');
    await this.deps.repository.save({ ...run.state, status: 'failed', outcome, completedAt: this.now() });
    if (erases(run.type) && run.subject) this.deps.erased.end(allProfileIds(run.subject));
    this.deps.metrics?.requests.inc({ type: run.type, status: 'failed' });
  }

  // ---- Steps ------------------------------------------------------------------------------

  private async recordSubject(run: Run): Promise<void> {
    const resolved: PrivacySubject = run.record.subject ?? {
      outcome: 'not_found',
      profileIds: [],
      mergedProfileIds: [],
      identifiers: [],
      erasedBy: null,
      resolvedAt: this.now(),
    };
    {
      // Written again if a crash came before this step's checkpoint: the rows are the same
      // (nothing is deleted before it), and the subject table keeps one of each.
      const ch = this.deps.clickhouse();
      const merged = await profilesMergedInto(ch, resolved.profileIds);
      const stored = await identifiersLinkedTo(ch, [...resolved.profileIds, ...merged]);
      const current = resolved.profileIds[0] ?? '';
      const identifiers = new Map<string, SubjectRow>();
      for (const i of stored)
        identifiers.set(`${i.type}:${i.value}`, identifierRow(run.record.requestId, i.profileId, i));
      // The graph's view wins: it is the person at the time of the request.
      for (const i of resolved.identifiers)
        identifiers.set(`${i.type}:${i.value}`, identifierRow(run.record.requestId, current, i));
      const rows: SubjectRow[] = [
        requestedRow(run.record),
        ...resolved.profileIds.map((id) => profileRow(run.record.requestId, 'profile', id)),
        ...merged.map((id) => profileRow(run.record.requestId, 'merged', id)),
        ...identifiers.values(),
      ];
      await this.deps.repository.saveSubject(rows);
      run.subject = await this.deps.repository.subjectOf(run.record.requestId);
    }
    const subject = run.subject!;
    run.state = {
      ...run.state,
      status: 'running',
      resolvedAt: resolved.resolvedAt,
      subject: this.hashed(subject, resolved),
    };
    if (erases(run.type)) {
      await this.deps.repository.addErased(this.beginErasure(run), run.record.requestId, resolved.resolvedAt);
    }
  }

  private async waitForMaterializer(run: Run): Promise<void> {
    const group = this.deps.materializerGroupId;
    const watched = [this.deps.topics.stitched, this.deps.topics.changes];
    const admin = this.deps.kafka.admin();
    await admin.connect();
    try {
      const targets = new Map(
        (await admin.groupLag(group, watched)).map((l) => [`${l.topic}|${l.partition}`, BigInt(l.end)]),
      );
      let lastLog = this.now();
      for (let delayMs = 100; ; delayMs = Math.min(2_000, delayMs * 2)) {
        const behind = (await admin.groupLag(group, watched)).filter((l) => {
          const target = targets.get(`${l.topic}|${l.partition}`) ?? 0n;
          const committed = BigInt(l.committed);
          return committed >= 0n ? committed < target : l.lag > 0;
        });
        if (behind.length === 0) return;
        if (this.now() - lastLog > 30_000) {
          lastLog = this.now();
          this.deps.logger.info(
            { requestId: run.record.requestId, partitionsBehind: behind.length },
            'erase waits for the materializer to write everything stitched before it',
          );
        }
        await run.context.heartbeat();
        await sleep(delayMs, run.context.signal);
        if (run.context.signal.aborted) throw new Error('stopped');
      }
    } finally {
      await admin.disconnect().catch(() => undefined);
    }
  }

  private async scanResidual(run: Run): Promise<void> {
    const messageIds = await messageIdsOfSubject(this.deps.clickhouse(), run.record.requestId);
    run.progress.residual = await scanResidualData(
      this.deps.kafka,
      residualTopicsOf(this.deps.topics),
      personKeysOf(run.subject!, messageIds),
      { onProgress: run.context.heartbeat },
    );
  }

  private async countPersonRows(run: Run): Promise<void> {
    const ch = this.deps.clickhouse();
    const counts: Record<string, number> = {};
    for (const store of await catalogue(ch)) {
      if (store.kind !== 'table' || store.personCondition === undefined) continue;
      counts[store.name] = await countRows(ch, store, run.record.requestId, 'person');
      await run.context.heartbeat();
    }
    run.progress.rows = counts;
  }

  private async exitSegments(run: Run): Promise<void> {
    const ids = allProfileIds(run.subject!);
    run.progress.exits = ids.length === 0 ? 0 : await this.deps.exitSegments(ids, () => this.deps.hideProfiles(ids));
  }

  private async deletePersonRows(run: Run): Promise<void> {
    const ch = this.deps.clickhouse();
    await this.deleteWherePresent(ch, run);
    // Other requests about the same person (an earlier export, say) hold them in their subject rows.
    const others = await this.deps.repository.requestsAboutTheSamePerson(run.record.requestId);
    await deleteRequestRows(ch, others, { onWait: run.context.heartbeat, signal: run.context.signal });
    this.deps.forgetIdentities(run.subject!.identifiers);
  }

  private async settleWriters(run: Run): Promise<void> {
    await this.deps.settleWriters();
    // A writer that read the person before the deletion may have written them after it.
    await this.deleteWherePresent(this.deps.clickhouse(), run);
  }

  /** One mutation per table that still has rows of the person. */
  private async deleteWherePresent(ch: ClickHouse, run: Run): Promise<void> {
    const present: Store[] = [];
    for (const store of await catalogue(ch)) {
      if (store.deletable && store.personCondition && (await countRows(ch, store, run.record.requestId, 'person')) > 0)
        present.push(store);
      await run.context.heartbeat();
    }
    await deleteRows(ch, present, run.record.requestId, { onWait: run.context.heartbeat, signal: run.context.signal });
  }

  private async tombstoneProfiles(run: Run): Promise<void> {
    const ids = allProfileIds(run.subject!);
    // Under the publish lock: a ProfileUpdate read before the deletion cannot land after the tombstone.
    await this.deps.exclusive(() =>
      this.deps.producer.send(
        this.deps.topics.updates,
        ids.map((id) => ({ key: id, value: null })),
      ),
    );
    run.progress.tombstones = ids.length;
  }

  private async verify(run: Run): Promise<void> {
    const ch = this.deps.clickhouse();
    const after: Record<string, number> = {};
    for (const store of await catalogue(ch)) {
      after[store.name] = await countRows(ch, store, run.record.requestId, 'mentions');
      await run.context.heartbeat();
    }
    run.progress.after = after;
  }

  private async report(run: Run): Promise<void> {
    const stores = await catalogue(this.deps.clickhouse());
    // Read before the notice: the activator forgets a pair once its notice went out.
    const destinations =
      erases(run.type) && run.subject && this.deps.recipients
        ? await this.deps.recipients(allProfileIds(run.subject))
        : [];
    run.state = { ...run.state, report: signedReport(run, stores, this.now(), this.deps, destinations) };
  }

  private async notify(run: Run): Promise<void> {
    const completed = completedRecord(run, this.now());
    await this.deps.producer.send(this.deps.topics.privacy, [
      { key: requestKey(completed), value: this.deps.encode(this.deps.topics.privacy, completed) },
    ]);
  }

  private async forgetSubject(run: Run): Promise<void> {
    await deleteRequestRows(this.deps.clickhouse(), [run.record.requestId], {
      onWait: run.context.heartbeat,
      signal: run.context.signal,
    });
  }

  private hashed(subject: SubjectView, resolved: PrivacySubject): HashedSubject {
    const { key } = this.deps;
    return {
      outcome: resolved.outcome,
      erasedBy: resolved.erasedBy,
      profileIdHashes: subject.profileIds.map((id) => key.hashProfileId(id)),
      mergedProfileIdHashes: subject.mergedProfileIds.map((id) => key.hashProfileId(id)),
      identifiers: subject.identifiers.map((i) => ({ type: i.type, hash: key.hashIdentifier(i.type, i.value) })),
    };
  }
}
