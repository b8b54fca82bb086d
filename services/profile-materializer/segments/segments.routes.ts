import type { FastifyInstance, FastifyRequest } from 'fastify';
import { auditDetails, mayReadPii, principalOf, requireScope } from '../../common/access';
import { ApiError } from '../../common/error-codes';
import type { ClickHouse } from '../../common/clickhouse/client-factory';
import { SegmentError } from './segment-errors';
import { createSegment, deleteSegment, getSegment, listSegments } from './segment.repository';
import { previewSegment } from './segment-preview';
import type { SegmentLimits } from './validate-segment-sql';

/**
 * The segment definitions API (DESIGN.md, read API): `GET|POST /v1/segments`,
 * `GET|DELETE /v1/segments/{id}`, `GET /v1/segments/{id}/members`, and
 * `POST /v1/segments/preview` (size, sample and overlap of a definition, nothing saved).
 *
 * A plugin for the authenticated `/v1` scope of the read API: that scope checks the Bearer token
 * and turns errors into `{ code, message, field? }` answers. Segment errors become their ApiError
 * here (KUMIKI_INVALID_SEGMENT 400 with the JSON path in `field`, KUMIKI_SEGMENT_NOT_FOUND 404,
 * KUMIKI_SEGMENT_IN_USE 409); ClickHouse failures pass through to the scope's handler.
 */
export interface SegmentRoutesDeps {
  readonly clickhouse: () => ClickHouse;
  readonly limits: SegmentLimits;
  readonly now?: () => number;
}

const maxMembersPage = 10_000;

export function segmentRoutes(deps: SegmentRoutesDeps): (v1: FastifyInstance) => Promise<void> {
  const now = deps.now ?? Date.now;
  const answer = async <T>(work: () => Promise<T>): Promise<T> => {
    try {
      return await work();
    } catch (error) {
      throw error instanceof SegmentError ? error.toApiError() : error;
    }
  };

  return async (v1) => {
    v1.post('/segments', requireScope('segment:write'), async (request, reply) => {
      refuseSqlWithoutPii(request);
      const segment = await answer(() => createSegment(deps.clickhouse(), request.body, { limits: deps.limits, now }));
      return reply.code(201).send(segment);
    });

    v1.post('/segments/preview', requireScope('segment:read'), async (request) => {
      refuseSqlWithoutPii(request);
      return answer(() => previewSegment(deps.clickhouse(), request.body, { limits: deps.limits, now: now() }));
    });

    v1.get('/segments', requireScope('segment:read'), async () => ({
      segments: await answer(() => listSegments(deps.clickhouse())),
    }));

    v1.get('/segments/:id', requireScope('segment:read'), async (request) => {
      const { id } = request.params as { id: string };
      return answer(() => getSegment(deps.clickhouse(), id));
    });

    v1.delete('/segments/:id', requireScope('segment:write'), async (request, reply) => {
      const { id } = request.params as { id: string };
      await answer(() => deleteSegment(deps.clickhouse(), id, { now }));
      return reply.code(204).send();
    });

    // Members in profile id order, a page at a time: `?limit=` (1 to 10 000, default 1 000) and
    // `?after=<last profile id>`; `next` is the cursor for the following page, null at the end.
    v1.get('/segments/:id/members', requireScope('segment:read'), async (request) => {
      const { id } = request.params as { id: string };
      const query = request.query as { limit?: string; after?: string };
      const asked = Math.floor(Number(query.limit ?? 1000));
      const limit = Number.isFinite(asked) ? Math.min(Math.max(asked, 1), maxMembersPage) : 1000;
      const ch = deps.clickhouse();
      await answer(() => getSegment(ch, id));
      // segment_members reads FINAL and hides exits, merged-away profiles and deleted segments.
      const rows = await ch.query<{ profile_id: string; since: string }>(
        `SELECT profile_id, toString(since) AS since FROM segment_members
         WHERE segment_id = {id:String} AND profile_id > {after:String}
         ORDER BY profile_id LIMIT {limit:UInt32}`,
        { id, after: query.after ?? '', limit },
      );
      const members = rows.map((r) => ({ profileId: r.profile_id, since: `${r.since.replace(' ', 'T')}Z` }));
      const audit = auditDetails(request);
      audit.resource = `segment:${id}`;
      audit.profileIds.push(...members.map((m) => m.profileId));
      return { segmentId: id, members, next: members.length === limit ? members[members.length - 1]!.profileId : null };
    });
  };
}

/**
 * An SQL segment runs on the raw tables, outside the masked views that keys without pii:read
 * otherwise read through: its answers (a count, a sample, even an error quoting a value it could
 * not parse) can reveal personal traits and identifiers. A rule is compiled by kumiki instead.
 */
function refuseSqlWithoutPii(request: FastifyRequest): void {
  const body = request.body;
  const sql = typeof body === 'object' && body !== null ? (body as { sql?: unknown }).sql : undefined;
  if (sql === undefined || mayReadPii(request)) return;
  const principal = principalOf(request);
  throw new ApiError(
    'KUMIKI_FORBIDDEN',
    `API key ${principal.keyId} (role ${principal.role}) lacks scope pii:read, which an SQL segment needs: its query reads the raw tables (define the segment as a rule instead)`,
    'sql',
  );
}
