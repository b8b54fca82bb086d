import { Readable } from 'node:stream';
import type { FastifyInstance } from 'fastify';
import { requireScope } from '../../common/access';
import type { ClickHouse } from '../../common/clickhouse/client-factory';
import { dateTime64Text } from '../../common/clickhouse/datetime64';
import { ApiError } from '../../common/error-codes';
import { SegmentError } from './segment-errors';
import { getSegment } from './segment.repository';

/**
 * `GET /v1/segments/{id}/members/export[?changedSince=ISO]`: a segment's members as NDJSON, one
 * line per member `{ "profileId", "member": true, "identifiers": ["type:value", …], "consent":
 * { purpose: bool } }`, for audience exports (the activator hashes and filters them). With
 * `changedSince`, the changes since then instead: members who entered (`member: true`) and
 * profiles that left (`member: false`), as of now.
 *
 * Streamed a page at a time (keyset on profile id, `pageSize` rows a page: members by the
 * primary key of segment_members_store, their profiles by the primary key of profiles_store), so
 * neither this process nor the reader holds more than a page, whatever the segment's size; the
 * answer's `kumiki-as-of` header is the time the read began, where the next delta starts.
 *
 * The last line is `{ "complete": true, "rows": n }`: an answer without it was cut short.
 *
 * Exact by FINAL on both stores; merged-away profiles are left out as the views do. A profile
 * without a profiles row (none yet) comes with no identifiers and no consent.
 */
export interface SegmentExportDeps {
  readonly clickhouse: () => ClickHouse;
  readonly pageSize?: number;
}

interface MemberRow {
  readonly profile_id: string;
  readonly is_member: number;
  readonly identifiers: string[];
  readonly consent: Record<string, boolean>;
}

export function segmentExportRoutes(deps: SegmentExportDeps): (v1: FastifyInstance) => Promise<void> {
  const pageSize = deps.pageSize ?? 20_000;
  return async (v1) => {
    v1.get('/segments/:id/members/export', requireScope('segment:read'), async (request, reply) => {
      const { id } = request.params as { id: string };
      const { changedSince } = request.query as { changedSince?: string };
      const since = changedSince === undefined ? undefined : Date.parse(changedSince);
      if (since !== undefined && Number.isNaN(since))
        throw new ApiError('KUMIKI_INVALID_SEGMENT', 'changedSince must be an ISO-8601 time', 'changedSince');
      const ch = deps.clickhouse();
      try {
        await getSegment(ch, id);
      } catch (error) {
        throw error instanceof SegmentError ? error.toApiError() : error;
      }
      const [clock] = await ch.query<{ t: string }>('SELECT toString(toUnixTimestamp64Milli(now64(3))) AS t');
      const asOf = Number(clock!.t);
      const membersPage =
        since === undefined
          ? `SELECT profile_id, toUInt8(1) AS is_member FROM segment_members
             WHERE segment_id = {id:String} AND profile_id > {after:String}
             ORDER BY profile_id LIMIT {limit:UInt32}`
          : `SELECT profile_id, is_member FROM segment_members_store FINAL
             WHERE segment_id = {id:String} AND profile_id > {after:String}
               AND changed_at >= {since:DateTime64(3, 'UTC')}
               AND profile_id NOT IN (SELECT absorbed_profile_id FROM profile_aliases)
             ORDER BY profile_id LIMIT {limit:UInt32}`;
      const sql = `
        WITH page AS (${membersPage})
        SELECT page.profile_id AS profile_id, page.is_member AS is_member,
               p.identifiers AS identifiers, p.consent AS consent
        FROM page
        LEFT JOIN (
          SELECT profile_id, identifiers, consent FROM profiles_store FINAL
          WHERE profile_id IN (SELECT profile_id FROM page) AND deleted = 0
        ) AS p ON p.profile_id = page.profile_id
        ORDER BY profile_id
        SETTINGS join_use_nulls = 0`;
      async function* lines(): AsyncGenerator<string> {
        let after = '';
        let total = 0;
        for (;;) {
          const rows = await ch.query<MemberRow>(sql, {
            id,
            after,
            limit: pageSize,
            ...(since === undefined ? {} : { since: dateTime64Text(since) }),
          });
          let chunk = '';
          for (const row of rows)
            chunk += `${JSON.stringify({
              profileId: row.profile_id,
              member: Number(row.is_member) === 1,
              identifiers: row.identifiers,
              consent: row.consent,
            })}\n`;
          total += rows.length;
          if (rows.length < pageSize) {
            yield `${chunk}${JSON.stringify({ complete: true, rows: total })}\n`;
            return;
          }
          yield chunk;
          after = rows[rows.length - 1]!.profile_id;
        }
      }
      return reply
        .header('content-type', 'application/x-ndjson')
        .header('kumiki-as-of', new Date(asOf).toISOString())
        .send(Readable.from(lines()));
    });
  };
}
