import type { AuditRecord } from '../../../schemas';
import type { ClickHouse } from '../../common/clickhouse/client-factory';
import { findAuditRecords } from '../audit/audit-log.repository';
import { backquote, catalogue, SUBJECT_TABLE } from './clickhouse-erasure';
import type { DestinationReceived } from './destination-recipients';
import type { SubjectView } from './privacy-request.repository';

/**
 * The right of access (GDPR Art. 15): one JSON document with everything kumiki holds about the
 * person of a completed export request, built when it is asked for, from the request's subject.
 *
 * Every table holding the person by the convention of clickhouse-erasure.ts is included with all
 * its columns, so tables added later (predictions, say) are in it without a change here; only
 * rows that name nobody else are (exclusiveCondition): an identity link whose refused identifier
 * is a shared device's other user, for one, is left out. Internal tables (the subject rows
 * themselves, staging and indexes) are listed like the others: they are what kumiki holds.
 */
export interface ExportDocument {
  readonly format: 'kumiki.privacy-export/1';
  readonly requestId: string;
  readonly generatedAt: string;
  readonly subject: {
    readonly profileIds: readonly string[];
    readonly mergedProfileIds: readonly string[];
    readonly identifiers: SubjectView['identifiers'];
  };
  /**
   * The destinations that were sent the person (the activator's recipient ledger): destination
   * id, the profile, and when its first delivery began.
   */
  readonly destinations: readonly DestinationReceived[];
  /** Names of the segments the person's memberships refer to. */
  readonly segments: Readonly<Record<string, string>>;
  /** Rows per table (ClickHouse's JSON: 64-bit integers as strings, times as text). */
  readonly tables: Readonly<Record<string, readonly Record<string, unknown>[]>>;
  /**
   * Who accessed the person's data: the audit records (docs/access.md) that carried one of their
   * profile ids or named one of their identifiers, oldest first; this export's own among them.
   */
  readonly accessedBy: readonly Pick<
    AuditRecord,
    'at' | 'keyId' | 'keyName' | 'role' | 'service' | 'action' | 'resource' | 'outcome' | 'piiReturned'
  >[];
}

/** Audit records in an export at most (the oldest); `kumiki audit report` lists them all. */
const MAX_ACCESS_RECORDS = 10_000;

export async function exportDocument(
  ch: ClickHouse,
  requestId: string,
  subject: SubjectView,
  now: number,
  auditHash: (type: string, value: string) => string,
  destinations: readonly DestinationReceived[],
): Promise<ExportDocument> {
  const tables: Record<string, Record<string, unknown>[]> = {};
  for (const store of await catalogue(ch)) {
    if (store.kind !== 'table' || store.exclusiveCondition === undefined || store.name === SUBJECT_TABLE) continue;
    const rows = await ch.query<Record<string, unknown>>(
      `SELECT * FROM ${backquote(store.name)} WHERE ${store.exclusiveCondition}`,
      { kumiki_request: requestId },
    );
    if (rows.length > 0) tables[store.name] = rows;
  }
  const segmentIds = [...new Set((tables.segment_members_store ?? []).map((row) => String(row.segment_id)))];
  const names =
    segmentIds.length === 0
      ? []
      : await ch.query<{ segment_id: string; name: string }>(
          'SELECT segment_id, name FROM segments_store FINAL WHERE segment_id IN {ids:Array(String)}',
          { ids: segmentIds },
        );
  const accessed = await findAuditRecords(ch, {
    profileIds: [...subject.profileIds, ...subject.mergedProfileIds].map((id) => auditHash('profile_id', id)),
    identifierHashes: subject.identifiers.map((i) => auditHash(i.type, i.value)),
    limit: MAX_ACCESS_RECORDS,
  });
  return {
    format: 'kumiki.privacy-export/1',
    requestId,
    generatedAt: new Date(now).toISOString(),
    subject: {
      profileIds: subject.profileIds,
      mergedProfileIds: subject.mergedProfileIds,
      identifiers: subject.identifiers,
    },
    destinations,
    segments: Object.fromEntries(names.map((row) => [row.segment_id, row.name])),
    tables,
    accessedBy: accessed.map((r) => ({
      at: r.at,
      keyId: r.keyId,
      keyName: r.keyName,
      role: r.role,
      service: r.service,
      action: r.action,
      resource: r.resource,
      outcome: r.outcome,
      piiReturned: r.piiReturned,
    })),
  };
}
