import type { FastifyInstance } from 'fastify';
import type { AuditRecord } from '../../../schemas';
import { auditDetails, requireScope } from '../../common/access';
import { identifierHash, profileIdHash } from '../../common/audit/keyed-hash';
import { firstBrokenLink } from '../../common/audit/audit-record';
import type { ClickHouse } from '../../common/clickhouse/client-factory';
import { ApiError } from '../../common/error-codes';
import { auditChains, findAuditRecords } from './audit-log.repository';

/**
 * The audit trail and alerts for auditors (scope audit:read):
 * - `GET /v1/audit?profile=TYPE:VALUE|key=ID|since=ISO|until=ISO|limit=N` → `{ records }`: who
 *   accessed this person's data, when, and what they saw. A profile matches records that carried
 *   its profile id (profiles, segment members, SQL rows with a profile_id column) or named one of
 *   the identifiers asked about (by keyed hash, so the trail holds no raw identifier).
 * - `GET /v1/audit/verify` → `{ ok, writers, records, broken? }`: walks every writer's chain.
 * - `GET /v1/audit/export?since&until&format=ndjson|csv`: a period, for compliance teams.
 * - `GET /v1/security/alerts?since=ISO` → `{ alerts }`.
 */
export interface AuditRoutesDeps {
  readonly clickhouse: () => ClickHouse;
  readonly piiKey: Buffer;
}

const maxRecords = 100_000;

function time(raw: string | undefined, field: string): number | undefined {
  if (raw === undefined) return undefined;
  const ms = Date.parse(raw);
  if (Number.isNaN(ms)) throw new ApiError('KUMIKI_INVALID_EXPIRY', `${field} must be an ISO-8601 time`, field);
  return ms;
}

/** The API's shape of a record (DESIGN.md) plus the rest of its fields. */
function present(record: AuditRecord) {
  return {
    at: new Date(record.at).toISOString(),
    keyId: record.keyId,
    keyName: record.keyName,
    role: record.role,
    source: record.source,
    action: record.action,
    resource: record.resource,
    profileIds: record.profileIds,
    outcome: record.outcome,
    status: record.status,
    code: record.code,
    scope: record.scope,
    service: record.service,
    identifierHashes: record.identifierHashes,
    sqlText: record.sqlText,
    sqlHash: record.sqlHash,
    tables: record.tables,
    rows: record.rows,
    piiReturned: record.piiReturned,
    recordId: record.recordId,
    writerId: record.writerId,
    sequence: record.sequence,
  };
}

const csvColumns = [
  'at',
  'keyId',
  'keyName',
  'role',
  'source',
  'action',
  'resource',
  'outcome',
  'status',
  'code',
  'profileIds',
  'rows',
  'recordId',
] as const;

function csvCell(value: unknown): string {
  const text = Array.isArray(value) ? value.join(' ') : String(value);
  return /[",\n]/.test(text) ? `"${text.replace(/"/g, '""')}"` : text;
}

export function auditRoutes(deps: AuditRoutesDeps): (v1: FastifyInstance) => Promise<void> {
  return async (v1) => {
    v1.get('/audit', requireScope('audit:read'), async (request) => {
      const q = request.query as { profile?: string; key?: string; since?: string; until?: string; limit?: string };
      const ch = deps.clickhouse();
      let profileIds: string[] | undefined;
      let hash: string | undefined;
      if (q.profile !== undefined) {
        const colon = q.profile.indexOf(':');
        if (colon <= 0) throw new ApiError('KUMIKI_MISSING_FIELD', 'profile must be TYPE:VALUE', 'profile');
        const type = q.profile.slice(0, colon);
        const value = q.profile.slice(colon + 1);
        hash = identifierHash(deps.piiKey, type, value);
        auditDetails(request).identifiers.push({ type, value });
        // The person's profile now, and every profile merged into it (their records predate the merge).
        const rows = await ch.query<{ profile_id: string }>(
          `SELECT profile_id FROM identities WHERE identifier_type = {t:String} AND identifier_value = {v:String}
           UNION DISTINCT SELECT absorbed_profile_id FROM profile_aliases WHERE surviving_profile_id IN
             (SELECT profile_id FROM identities WHERE identifier_type = {t:String} AND identifier_value = {v:String})`,
          { t: type, v: type === 'email' ? value.trim().toLowerCase() : value.trim() },
        );
        profileIds = rows.map((r) => profileIdHash(deps.piiKey, r.profile_id));
      }
      const records = await findAuditRecords(ch, {
        ...(profileIds !== undefined ? { profileIds } : {}),
        ...(hash !== undefined ? { identifierHash: hash } : {}),
        ...(q.key !== undefined ? { keyId: q.key } : {}),
        ...(q.since !== undefined ? { since: time(q.since, 'since')! } : {}),
        ...(q.until !== undefined ? { until: time(q.until, 'until')! } : {}),
        limit: Math.min(Math.max(Number(q.limit ?? 10_000) || 10_000, 1), maxRecords),
      });
      auditDetails(request).resource = 'audit';
      auditDetails(request).rows = records.length;
      return { records: records.map(present) };
    });

    v1.get('/audit/verify', requireScope('audit:read'), async (request) => {
      auditDetails(request).resource = 'audit';
      let writers = 0;
      let checked = 0;
      for await (const chain of auditChains(deps.clickhouse())) {
        writers += 1;
        const broken = firstBrokenLink(chain);
        if (broken)
          return {
            ok: false,
            writers,
            records: checked,
            broken: {
              writerId: broken.record.writerId,
              sequence: broken.record.sequence,
              recordId: broken.record.recordId,
              at: new Date(broken.record.at).toISOString(),
              reason: broken.reason,
            },
          };
        checked += chain.length;
      }
      return { ok: true, writers, records: checked };
    });

    v1.get('/audit/export', requireScope('audit:read'), async (request, reply) => {
      const q = request.query as { since?: string; until?: string; format?: string };
      const format = q.format ?? 'ndjson';
      if (format !== 'ndjson' && format !== 'csv')
        throw new ApiError('KUMIKI_MISSING_FIELD', 'format must be ndjson or csv', 'format');
      const records = await findAuditRecords(deps.clickhouse(), {
        ...(q.since !== undefined ? { since: time(q.since, 'since')! } : {}),
        ...(q.until !== undefined ? { until: time(q.until, 'until')! } : {}),
        limit: maxRecords,
      });
      auditDetails(request).resource = 'audit';
      auditDetails(request).rows = records.length;
      const presented = records.map(present);
      if (format === 'ndjson')
        return reply
          .header('content-type', 'application/x-ndjson')
          .send(presented.map((r) => JSON.stringify(r)).join('\n') + (presented.length ? '\n' : ''));
      const lines = [csvColumns.join(','), ...presented.map((r) => csvColumns.map((c) => csvCell(r[c])).join(','))];
      return reply.header('content-type', 'text/csv').send(`${lines.join('\n')}\n`);
    });

    v1.get('/security/alerts', requireScope('audit:read'), async (request) => {
      const q = request.query as { since?: string };
      auditDetails(request).resource = 'security-alerts';
      const rows = await deps.clickhouse().query<{
        at_ms: string;
        rule: string;
        severity: string;
        subject: string;
        detail: string;
      }>(
        `SELECT toUnixTimestamp64Milli(at) AS at_ms, rule, severity, subject, detail FROM security_alerts FINAL
         WHERE at >= fromUnixTimestamp64Milli({since:Int64}) ORDER BY at, alert_id LIMIT 10000`,
        { since: time(q.since, 'since') ?? 0 },
      );
      return {
        alerts: rows.map((r) => ({
          at: new Date(Number(r.at_ms)).toISOString(),
          rule: r.rule,
          severity: r.severity,
          subject: r.subject,
          detail: r.detail,
        })),
      };
    });
  };
}
