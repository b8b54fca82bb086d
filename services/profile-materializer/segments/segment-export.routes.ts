import { Readable } from 'node:stream';
import type { FastifyInstance } from 'fastify';
import { auditDetails, mayReadPii, principalOf, requireScope } from '../../common/access';
import type { ClickHouse } from '../../common/clickhouse/client-factory';
import { dateTime64Text } from '../../common/clickhouse/datetime64';
import { ApiError } from '../../common/error-codes';
import { SegmentError } from './segment-errors';
import { getSegment } from './segment.repository';

/**
 * `GET /v1/segments/{id}/members/export[?changedSince=ISO][&identifiers=false]`: a segment's members as NDJSON, one
 * line per member `{ "profileId", "member": true, "identifiers": ["type:value", …], "consent":
 * { purpose: bool } }`, for audience exports (the activator hashes and filters them). With
 * `changedSince`, the changes since then instead: members who entered (`member: true`) and
 * profiles that left (`member: false`), as of now. The last line is `{ "complete": true,
 * "rows": n }`: an answer without it was cut short.
 *
 * One query, streamed (`ClickHouse.stream`): rows go out as ClickHouse produces them, so this
 * process holds a chunk at a time whatever the segment's size. A full export reads the profiles
 * whose id is in the segment's member set (ClickHouse holds that set while the query runs); a
 * member without a profiles row yet has no identifiers and is left out. The answer's
 * `kumiki-as-of` header is the time the read began, where the next delta starts.
 *
 * Exact by FINAL on both stores; merged-away profiles and erased ones are left out as the views
 * leave them out.
 *
 * Access: `segment:read`, and `pii:read` besides unless `identifiers=false` (then every line's
 * identifiers are empty: profile ids and consent only). The call's audit record names the
 * segment, whether identifiers went out, and how many members (or changes) the export held.
 */
export interface SegmentExportDeps {
  readonly clickhouse: () => ClickHouse;
}

// The columns are named as the lines are: ClickHouse writes each line as it goes out.
const fullSql = (identifiers: string): string => `
  SELECT profile_id AS profileId, toBool(1) AS member, ${identifiers} AS identifiers, consent
  FROM profiles_store FINAL
  WHERE deleted = 0
    AND profile_id IN (SELECT profile_id FROM segment_members WHERE segment_id = {id:String})`;

const deltaSql = (identifiers: string): string => `
  SELECT s.profile_id AS profileId, toBool(s.is_member) AS member, ${identifiers} AS identifiers, p.consent AS consent
  FROM (
    SELECT profile_id, is_member FROM segment_members_store FINAL
    WHERE segment_id = {id:String} AND changed_at >= {since:DateTime64(3, 'UTC')}
      AND profile_id NOT IN (SELECT absorbed_profile_id FROM profile_aliases)
  ) AS s
  INNER JOIN (
    SELECT profile_id, identifiers, consent FROM profiles_store FINAL
    WHERE deleted = 0 AND profile_id IN (
      SELECT profile_id FROM segment_members_store
      WHERE segment_id = {id:String} AND changed_at >= {since:DateTime64(3, 'UTC')})
  ) AS p ON p.profile_id = s.profile_id`;

const fullCountSql = 'SELECT count() AS n FROM segment_members WHERE segment_id = {id:String}';
const deltaCountSql = `
  SELECT count() AS n FROM segment_members_store FINAL
  WHERE segment_id = {id:String} AND changed_at >= {since:DateTime64(3, 'UTC')}`;

export function segmentExportRoutes(deps: SegmentExportDeps): (v1: FastifyInstance) => Promise<void> {
  return async (v1) => {
    v1.get('/segments/:id/members/export', requireScope('segment:read'), async (request, reply) => {
      const { id } = request.params as { id: string };
      const query = request.query as { changedSince?: string; identifiers?: string };
      const since = query.changedSince === undefined ? undefined : Date.parse(query.changedSince);
      if (since !== undefined && Number.isNaN(since))
        throw new ApiError('KUMIKI_INVALID_PARAMETER', 'changedSince must be an ISO-8601 time', 'changedSince');
      if (query.identifiers !== undefined && query.identifiers !== 'true' && query.identifiers !== 'false')
        throw new ApiError('KUMIKI_INVALID_PARAMETER', 'identifiers must be true or false', 'identifiers');
      const withIdentifiers = query.identifiers !== 'false';
      const audit = auditDetails(request);
      audit.resource = `segment:${id}`;
      if (withIdentifiers && !mayReadPii(request)) {
        const principal = principalOf(request);
        throw new ApiError(
          'KUMIKI_FORBIDDEN',
          `API key ${principal.keyId} (role ${principal.role}) lacks scope pii:read, which an export with identifiers needs (ask with identifiers=false for profile ids and consent only)`,
        );
      }
      const ch = deps.clickhouse();
      try {
        await getSegment(ch, id);
      } catch (error) {
        throw error instanceof SegmentError ? error.toApiError() : error;
      }
      const [clock] = await ch.query<{ t: string }>('SELECT toString(toUnixTimestamp64Milli(now64(3))) AS t');
      const asOf = Number(clock!.t);
      const params = since === undefined ? { id } : { id, since: dateTime64Text(since) };
      const [count] = await ch.query<{ n: string }>(since === undefined ? fullCountSql : deltaCountSql, params);
      audit.rows = Number(count!.n);
      audit.piiReturned = withIdentifiers;
      const identifiers = withIdentifiers
        ? since === undefined
          ? 'identifiers'
          : 'p.identifiers'
        : 'CAST([] AS Array(String))';
      const chunks = ch.streamRows(since === undefined ? fullSql(identifiers) : deltaSql(identifiers), params);
      async function* lines(): AsyncGenerator<Buffer> {
        let total = 0;
        for await (const chunk of chunks) {
          for (let at = chunk.indexOf(10); at >= 0; at = chunk.indexOf(10, at + 1)) total += 1;
          yield chunk;
        }
        yield Buffer.from(`${JSON.stringify({ complete: true, rows: total })}\n`);
      }
      return reply
        .header('content-type', 'application/x-ndjson')
        .header('kumiki-as-of', new Date(asOf).toISOString())
        .send(Readable.from(lines()));
    });
  };
}
