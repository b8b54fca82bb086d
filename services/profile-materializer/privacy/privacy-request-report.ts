import type { PrivacyRequest } from '../../../schemas';
import type { PrivacyKey } from '../../common/privacy/privacy-key';
import { erases } from '../../common/privacy/privacy-request';
import {
  isoTime,
  signReport,
  type ClickHouseStoreReport,
  type DestinationNoticeReport,
  type HashedSubject,
  type KafkaActionReport,
  type ResidualReport,
  type PrivacyReport,
} from '../../common/privacy/privacy-report';
import type { Store } from './clickhouse-erasure';
import type { DestinationReceived } from './destination-recipients';
import type { PrivacyTopics } from './privacy-executor.deps';
import type { Run } from './privacy-run';

/**
 * A request's signed report (docs/privacy.md, "The report"), from what its steps checkpointed:
 * per ClickHouse store the rows found, deleted and counted after; the Kafka actions; the
 * residual records on topics that cannot be edited; and whether the verification found 0.
 */
export function signedReport(
  run: Run,
  stores: readonly Store[],
  completedAt: number,
  deps: { readonly topics: PrivacyTopics; readonly key: PrivacyKey },
  destinations: readonly DestinationReceived[] = [],
): PrivacyReport {
  const { state, record } = run;
  const rows = (run.progress.rows ?? {}) as Record<string, number>;
  const after = run.progress.after as Record<string, number> | undefined;
  const clickhouse: ClickHouseStoreReport[] = stores.map((s) => ({
    store: s.name,
    kind: s.kind,
    matchedBy: s.matchedBy,
    rows: rows[s.name] ?? 0,
    deleted: erases(run.type) ? (rows[s.name] ?? 0) : 0,
    after: after ? (after[s.name] ?? 0) : null,
  }));
  const kafka: KafkaActionReport[] = [];
  const subject = state.subject!;
  if (erases(run.type)) {
    kafka.push(
      {
        topic: deps.topics.graph,
        action: 'graph tombstones',
        records: record.subject?.identifiers.length ?? 0,
        detail: 'written by the identity stitcher with the erasure, one per identifier (type:value)',
      },
      {
        topic: deps.topics.updates,
        action: 'tombstones',
        records: Number(run.progress.tombstones ?? 0),
        detail: 'one per profile id, merged-away ids included',
      },
      {
        topic: deps.topics.segments,
        action: 'segment exits',
        records: Number(run.progress.exits ?? 0),
        detail: 'reason erased, evaluation erasure',
      },
      {
        topic: deps.topics.privacy,
        action: 'deletion notice',
        records: 1,
        detail: 'phase completed: the profile ids and identifiers, for downstream tools to delete',
      },
    );
  }
  if (run.type === 'suppress' || run.type === 'suppress_and_erase')
    kafka.push({
      topic: 'kumiki.privacy.subjects',
      action: 'suppression',
      records: record.outcome?.startsWith('already suppressed') ? 0 : 1,
      detail: record.outcome ?? 'keyed hashes of the identifiers; events carrying any of them are dropped',
    });
  const residual = (run.progress.residual ?? []) as ResidualReport[];
  const verified = after === undefined || Object.values(after).every((n) => n === 0);
  return signReport(
    {
      format: 'kumiki.privacy-report/1',
      requestId: record.requestId,
      type: run.type,
      identifier: { type: state.identifierType, hash: state.identifierHash },
      requestedAt: isoTime(state.requestedAt),
      requestedBy: state.requestedBy,
      deadlineAt: isoTime(state.deadlineAt),
      completedAt: isoTime(completedAt),
      deadlineMet: completedAt <= state.deadlineAt,
      subject: { ...subject, summary: summaryOf(subject) },
      clickhouse,
      kafka,
      residual,
      ...(erases(run.type) ? { destinations: noticesOf(destinations) } : {}),
      verified,
      notes: notesOf(run, verified),
      keyId: deps.key.keyId,
    },
    deps.key,
  );
}

/** The completed record on kumiki.privacy.requests: the request's outcome and, for an erase, the deletion notice. */
export function completedRecord(run: Run, now: number): PrivacyRequest {
  const subject = run.subject!;
  return {
    ...run.record,
    phase: 'completed',
    subject: {
      outcome: run.record.subject?.outcome ?? 'not_found',
      profileIds: [...subject.profileIds],
      mergedProfileIds: [...subject.mergedProfileIds],
      identifiers: subject.identifiers.map(({ profileId: _owner, ...identifier }) => identifier),
      erasedBy: run.record.subject?.erasedBy ?? null,
      resolvedAt: run.record.subject?.resolvedAt ?? run.state.resolvedAt ?? now,
    },
    outcome: outcomeOf(run),
    completedAt: now,
  };
}

/** Per destination and way it was sent the person: how many profile ids, and the notice it gets. */
function noticesOf(received: readonly DestinationReceived[]): DestinationNoticeReport[] {
  const byDestination = new Map<string, { destinationId: string; via: 'webhook' | 'export'; profiles: Set<string> }>();
  for (const r of received) {
    const key = `${r.via}|${r.destinationId}`;
    const entry = byDestination.get(key) ?? { destinationId: r.destinationId, via: r.via, profiles: new Set<string>() };
    entry.profiles.add(r.profileId);
    byDestination.set(key, entry);
  }
  return [...byDestination.values()].map(({ destinationId, via, profiles }) => ({
    destinationId,
    via,
    profiles: profiles.size,
    notice:
      via === 'webhook'
        ? 'profile.deleted per profile id, signed, with the identifiers of the types it takes'
        : 'a deletions file in its directory, or profile.deleted to its URL, identifiers hashed as its exports carried them',
  }));
}

function summaryOf(subject: HashedSubject): string {
  if (subject.outcome === 'not_found') return 'no profile holds the identifier: nothing of anyone was held under it';
  if (subject.outcome === 'already_erased')
    return `the identifier was erased before${subject.erasedBy ? ` (request ${subject.erasedBy})` : ''}: nothing is held under it`;
  return `${subject.profileIdHashes.length} profile, ${subject.mergedProfileIdHashes.length} merged into it, ${subject.identifiers.length} identifiers`;
}

export function outcomeOf(run: Run): string {
  const subject = run.state.subject;
  const who = subject ? summaryOf(subject) : 'nobody';
  switch (run.type) {
    case 'erase':
      return `erased: ${who}`;
    case 'suppress_and_erase':
      return `suppressed and erased: ${who}`;
    case 'suppress':
      return `suppressed: ${who}${run.record.outcome ? ` (${run.record.outcome})` : ''}`;
    case 'unsuppress':
      return run.record.outcome === 'not suppressed'
        ? 'nothing to lift: the identifier was not suppressed'
        : 'suppression lifted';
    case 'export':
      return `exported: ${who}`;
  }
}

function notesOf(run: Run, verified: boolean): string[] {
  const notes: string[] = [];
  if (!verified) {
    const after = run.progress.after as Record<string, number>;
    const left = Object.entries(after)
      .filter(([, n]) => n > 0)
      .map(([table, n]) => `${table} (${n})`);
    notes.push(
      `rows still name the person in: ${left.join(', ')}; a table that holds people must carry a profile id or identifier column (infra/clickhouse/README.md)`,
    );
  }
  if (erases(run.type))
    notes.push(
      'the person is remembered only as keyed hashes (kumiki.privacy.subjects, privacy_erased_profiles), so that replays of the topics above never bring them back; events received after the erasure start a new profile',
    );
  return notes;
}
