import type { SubjectIdentifier } from '../../../schemas';
import type { ClickHouse } from '../../common/clickhouse/client-factory';
import { dateTime64Text } from '../../common/clickhouse/datetime64';
import type { PrivacyRequestStatus, PrivacyRequestType } from '../../common/privacy/privacy-request';
import type { HashedSubject, PrivacyReport } from '../../common/privacy/privacy-report';

/**
 * A privacy request as the read API answers it and as its steps checkpoint it
 * (privacy_requests_store, migration 0021). Raw identifiers are never here: the subject is
 * described by keyed hashes and counts (HashedSubject), the raw one is in the subject rows.
 */
export type { HashedSubject };

export interface RequestState {
  readonly requestId: string;
  readonly type: PrivacyRequestType;
  readonly status: PrivacyRequestStatus;
  /** The last step done (see the step lists of privacy-request.executor.ts). */
  readonly step: string;
  readonly identifierType: string;
  readonly identifierHash: string;
  readonly requestedAt: number;
  readonly requestedBy: string;
  readonly reason: string;
  readonly deadlineAt: number;
  readonly resolvedAt: number | null;
  readonly completedAt: number | null;
  readonly outcome: string;
  readonly subject: HashedSubject | null;
  readonly progress: Progress;
  readonly report: PrivacyReport | null;
}

/** Figures of the steps done so far; each step adds its own (kept across restarts). */
export type Progress = Readonly<Record<string, unknown>>;

/** The person as the subject rows hold them: raw, for the steps of a running request and for answers. */
export interface SubjectView {
  readonly requested: { readonly type: string; readonly value: string } | null;
  readonly profileIds: readonly string[];
  readonly mergedProfileIds: readonly string[];
  readonly identifiers: readonly (SubjectIdentifier & { readonly profileId: string })[];
}

export interface SubjectRow {
  readonly request_id: string;
  readonly role: 'requested' | 'profile' | 'merged' | 'identifier';
  readonly profile_id: string;
  readonly identifier_type: string;
  readonly identifier_value: string;
  readonly linked_by: string;
  readonly linked_at: string | null;
  readonly rule: string;
}

interface StateRow {
  request_id: string;
  type: string;
  status: string;
  step: string;
  identifier_type: string;
  identifier_hash: string;
  requested_ms: string;
  requested_by: string;
  reason: string;
  deadline_ms: string;
  resolved_ms: string | null;
  completed_ms: string | null;
  outcome: string;
  subject: string;
  progress: string;
  report: string;
}

// Times as epoch-ms strings under names of their own: an alias named like its column would shadow it.
const stateColumns = `request_id, type, status, step, identifier_type, identifier_hash,
  toString(toUnixTimestamp64Milli(requested_at)) AS requested_ms, requested_by, reason,
  toString(toUnixTimestamp64Milli(deadline_at)) AS deadline_ms,
  toString(toUnixTimestamp64Milli(resolved_at)) AS resolved_ms, toString(toUnixTimestamp64Milli(completed_at)) AS completed_ms,
  outcome, subject, progress, report`;

/**
 * Reads and writes of privacy requests in ClickHouse. Every change writes the whole row under a
 * higher version (ReplacingMergeTree), read FINAL: exact whether or not parts merged.
 */
export class PrivacyRequestRepository {
  private lastVersion = 0;

  constructor(private readonly ch: () => ClickHouse) {}

  async get(requestId: string): Promise<RequestState | undefined> {
    const [row] = await this.ch().query<StateRow>(
      `SELECT ${stateColumns} FROM privacy_requests_store FINAL WHERE request_id = {id:String}`,
      { id: requestId },
    );
    return row ? toState(row) : undefined;
  }

  /** Newest first. */
  async list(filter: { status?: string; type?: string; limit: number }): Promise<RequestState[]> {
    const rows = await this.ch().query<StateRow>(
      `SELECT ${stateColumns} FROM privacy_requests_store FINAL
       WHERE ({status:String} = '' OR status = {status:String}) AND ({type:String} = '' OR type = {type:String})
       ORDER BY requested_ms DESC, request_id LIMIT {limit:UInt32}`,
      { status: filter.status ?? '', type: filter.type ?? '', limit: filter.limit },
    );
    return rows.map(toState);
  }

  async save(state: RequestState): Promise<void> {
    this.lastVersion = Math.max(this.lastVersion + 1, Date.now() * 1000);
    await this.ch().insert('privacy_requests_store', [
      {
        request_id: state.requestId,
        type: state.type,
        status: state.status,
        step: state.step,
        identifier_type: state.identifierType,
        identifier_hash: state.identifierHash,
        requested_at: dateTime64Text(state.requestedAt),
        requested_by: state.requestedBy,
        reason: state.reason,
        deadline_at: dateTime64Text(state.deadlineAt),
        resolved_at: state.resolvedAt === null ? null : dateTime64Text(state.resolvedAt),
        completed_at: state.completedAt === null ? null : dateTime64Text(state.completedAt),
        outcome: state.outcome,
        subject: state.subject === null ? '{}' : JSON.stringify(state.subject),
        progress: JSON.stringify(state.progress),
        report: state.report === null ? '' : JSON.stringify(state.report),
        version: this.lastVersion,
      },
    ]);
  }

  async saveSubject(rows: readonly SubjectRow[]): Promise<void> {
    await this.ch().insert('privacy_request_subjects', rows);
  }

  /** The raw subject rows of a request, or undefined when there are none (never written, or erased). */
  async subjectOf(requestId: string): Promise<SubjectView | undefined> {
    const rows = await this.ch().query<Omit<SubjectRow, 'linked_at'> & { linked_ms: string | null }>(
      `SELECT request_id, role, profile_id, identifier_type, identifier_value, linked_by,
              toString(toUnixTimestamp64Milli(linked_at)) AS linked_ms, rule
       FROM privacy_request_subjects FINAL WHERE request_id = {id:String}
       ORDER BY role, profile_id, identifier_type, identifier_value`,
      { id: requestId },
    );
    if (rows.length === 0) return undefined;
    const requested = rows.find((r) => r.role === 'requested');
    return {
      requested: requested ? { type: requested.identifier_type, value: requested.identifier_value } : null,
      profileIds: rows.filter((r) => r.role === 'profile').map((r) => r.profile_id),
      mergedProfileIds: rows.filter((r) => r.role === 'merged').map((r) => r.profile_id),
      identifiers: rows
        .filter((r) => r.role === 'identifier')
        .map((r) => ({
          type: r.identifier_type,
          value: r.identifier_value,
          linkedBy: r.linked_by,
          linkedAt: r.linked_ms === null ? 0 : Number(r.linked_ms),
          rule: r.rule,
          profileId: r.profile_id,
        })),
    };
  }

  /** Ids of other requests whose subject rows name one of this request's profiles or identifiers. */
  async requestsAboutTheSamePerson(requestId: string): Promise<string[]> {
    const rows = await this.ch().query<{ request_id: string }>(
      `SELECT DISTINCT request_id FROM privacy_request_subjects
       WHERE request_id != {id:String}
         AND (profile_id IN (SELECT profile_id FROM privacy_request_subjects WHERE request_id = {id:String} AND profile_id != '')
              OR (identifier_type, identifier_value) IN
                 (SELECT identifier_type, identifier_value FROM privacy_request_subjects
                  WHERE request_id = {id:String} AND identifier_type != ''))`,
      { id: requestId },
    );
    return rows.map((r) => r.request_id);
  }

  async addErased(
    hashes: { readonly profiles: readonly string[]; readonly identifiers: readonly string[] },
    requestId: string,
    erasedAt: number,
  ): Promise<void> {
    const at = dateTime64Text(erasedAt);
    await this.ch().insert('privacy_erased', [
      ...hashes.profiles.map((hash) => ({ hash, kind: 'profile', request_id: requestId, erased_at: at })),
      ...hashes.identifiers.map((hash) => ({ hash, kind: 'identifier', request_id: requestId, erased_at: at })),
    ]);
  }

  /** Every erased hash with its kind and when it was erased (at start). */
  async erased(): Promise<{ hash: string; kind: 'profile' | 'identifier'; erasedAt: number }[]> {
    const rows = await this.ch().query<{ hash: string; kind: string; at: string }>(
      'SELECT hash, toString(kind) AS kind, toString(max(toUnixTimestamp64Milli(erased_at))) AS at FROM privacy_erased GROUP BY hash, kind',
    );
    return rows.map((r) => ({
      hash: r.hash,
      kind: r.kind === 'identifier' ? 'identifier' : 'profile',
      erasedAt: Number(r.at),
    }));
  }

  /** Identifier types kumiki holds identifiers of (for refusing requests for types that cannot exist). */
  async identifierTypesSeen(): Promise<string[]> {
    const rows = await this.ch().query<{ t: string }>(
      'SELECT DISTINCT toString(identifier_type) AS t FROM identities_store',
    );
    return rows.map((r) => r.t);
  }
}

function toState(row: StateRow): RequestState {
  const time = (value: string | null): number | null => (value === null ? null : Number(value));
  return {
    requestId: row.request_id,
    type: row.type as PrivacyRequestType,
    status: row.status as PrivacyRequestStatus,
    step: row.step,
    identifierType: row.identifier_type,
    identifierHash: row.identifier_hash,
    requestedAt: Number(row.requested_ms),
    requestedBy: row.requested_by,
    reason: row.reason,
    deadlineAt: Number(row.deadline_ms),
    resolvedAt: time(row.resolved_ms),
    completedAt: time(row.completed_ms),
    outcome: row.outcome,
    subject: row.subject === '{}' || row.subject === '' ? null : (JSON.parse(row.subject) as HashedSubject),
    progress: JSON.parse(row.progress || '{}') as Progress,
    report: row.report === '' ? null : (JSON.parse(row.report) as PrivacyReport),
  };
}
