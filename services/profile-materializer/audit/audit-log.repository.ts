import type { AuditRecord } from '../../../schemas';
import type { ClickHouse } from '../../common/clickhouse/client-factory';

/** audit_log rows ↔ AuditRecords (the chain is recomputed from exactly these fields). */
const columns = `record_id, writer_id, sequence, toUnixTimestamp64Milli(at) AS at_ms, service, key_id, key_name, role, source,
  action, scope, resource, outcome, status, code, profile_ids, identifier_hashes, sql_text, sql_hash, tables, rows,
  pii_returned, previous_hash, hash`;

interface Row {
  record_id: string;
  writer_id: string;
  sequence: string;
  at_ms: string;
  service: string;
  key_id: string;
  key_name: string;
  role: string;
  source: string;
  action: string;
  scope: string;
  resource: string;
  outcome: string;
  status: number;
  code: string;
  profile_ids: string[];
  identifier_hashes: string[];
  sql_text: string;
  sql_hash: string;
  tables: string[];
  rows: string;
  pii_returned: number;
  previous_hash: string;
  hash: string;
}

function toRecord(row: Row): AuditRecord {
  return {
    recordId: row.record_id,
    writerId: row.writer_id,
    sequence: Number(row.sequence),
    at: Number(row.at_ms),
    service: row.service,
    keyId: row.key_id,
    keyName: row.key_name,
    role: row.role,
    source: row.source,
    action: row.action,
    scope: row.scope,
    resource: row.resource,
    outcome: row.outcome,
    status: Number(row.status),
    code: row.code,
    profileIds: row.profile_ids,
    identifierHashes: row.identifier_hashes,
    sqlText: row.sql_text,
    sqlHash: row.sql_hash,
    tables: row.tables,
    rows: Number(row.rows),
    piiReturned: Number(row.pii_returned) === 1,
    previousHash: row.previous_hash,
    hash: row.hash,
  };
}

export async function writeAuditRows(ch: ClickHouse, records: readonly AuditRecord[]): Promise<void> {
  await ch.insert(
    'audit_log',
    records.map((r) => ({
      record_id: r.recordId,
      writer_id: r.writerId,
      sequence: r.sequence,
      at: r.at,
      service: r.service,
      key_id: r.keyId,
      key_name: r.keyName,
      role: r.role,
      source: r.source,
      action: r.action,
      scope: r.scope,
      resource: r.resource,
      outcome: r.outcome,
      status: r.status,
      code: r.code,
      profile_ids: r.profileIds,
      identifier_hashes: r.identifierHashes,
      sql_text: r.sqlText,
      sql_hash: r.sqlHash,
      tables: r.tables,
      rows: r.rows,
      pii_returned: r.piiReturned ? 1 : 0,
      previous_hash: r.previousHash,
      hash: r.hash,
    })),
  );
}

export interface AuditQuery {
  readonly profileIds?: readonly string[];
  readonly identifierHash?: string;
  /** Records naming any of these identifier hashes (with identifierHash, either). */
  readonly identifierHashes?: readonly string[];
  readonly keyId?: string;
  readonly since?: number;
  readonly until?: number;
  readonly limit: number;
}

/** Records matching every given filter, oldest first (FINAL: replays of the topic count once). */
export async function findAuditRecords(ch: ClickHouse, query: AuditQuery): Promise<AuditRecord[]> {
  const where: string[] = [];
  if (query.profileIds !== undefined || query.identifierHash !== undefined || query.identifierHashes !== undefined)
    where.push('(hasAny(profile_ids, {pids:Array(String)}) OR hasAny(identifier_hashes, {ihs:Array(String)}))');
  if (query.keyId !== undefined) where.push('key_id = {key:String}');
  if (query.since !== undefined) where.push('at >= fromUnixTimestamp64Milli({since:Int64})');
  if (query.until !== undefined) where.push('at < fromUnixTimestamp64Milli({until:Int64})');
  const rows = await ch.query<Row>(
    `SELECT ${columns} FROM audit_log FINAL ${where.length ? `WHERE ${where.join(' AND ')}` : ''}
     ORDER BY at, writer_id, sequence LIMIT {limit:UInt32}`,
    {
      pids: query.profileIds ?? [],
      ihs: [...(query.identifierHashes ?? []), ...(query.identifierHash !== undefined ? [query.identifierHash] : [])],
      key: query.keyId ?? '',
      since: query.since ?? 0,
      until: query.until ?? 0,
      limit: query.limit,
    },
  );
  return rows.map(toRecord);
}

/** Each writer's chain, in sequence order, for verification. */
export async function* auditChains(ch: ClickHouse): AsyncGenerator<AuditRecord[]> {
  const writers = await ch.query<{ writer_id: string }>('SELECT DISTINCT writer_id FROM audit_log ORDER BY writer_id');
  for (const { writer_id } of writers) {
    const rows = await ch.query<Row>(
      `SELECT ${columns} FROM audit_log FINAL WHERE writer_id = {w:String} ORDER BY sequence`,
      { w: writer_id },
    );
    yield rows.map(toRecord);
  }
}
