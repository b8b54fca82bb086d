import { Readable } from 'node:stream';
import type { FastifyInstance } from 'fastify';
import type { Registry } from 'prom-client';
import type { ClickHouse } from '../../common/clickhouse/client-factory';
import { ApiError } from '../../common/error-codes';
import { getSegment } from '../segments/segment.repository';
import { SegmentError } from '../segments/segment-errors';
import {
  readDeadLetterSamples,
  readDeadLetterSummary,
  deadLetterWindows,
  type DeadLetterWindow,
} from './dead-letters.repository';
import { requireAnyKey, requireScope, type Scope } from '../../common/access';
import { grantsOf, mayRead } from './key-grants';
import { readOverview } from './overview.repository';
import type { StageLag } from './pipeline-lag';
import { readProfile360, readTimeline, searchProfiles, survivorOf } from './profile-360.repository';
import { pageLimit } from './read-model';
import { readRfmCell, readRfmGrid } from './rfm-grid.repository';
import { csvField, readSegmentMembers, readSegmentSizes, readSegmentSummaries } from './segment-views.repository';

/**
 * The read endpoints of the web console (docs/console.md): `GET /v1/whoami` and `/v1/console/…`.
 * A plugin for the authenticated `/v1` scope of the read API, like the segment routes: the key is
 * checked and errors answered as `{ code, message, field? }` there.
 *
 * Each route names the scope it needs in `config.scope`, the table a scope check reads once keys
 * with roles exist; `grantsOf` (key-grants.ts) is the one place that says what a key holds.
 * Personal data (identifier values in lists, dead-letter bytes, member exports) is left out for a
 * key without `pii:read`. Reads only: nothing here writes or waits on the ingest path.
 */
export interface ConsoleDataDeps {
  readonly clickhouse: () => ClickHouse;
  readonly metrics: Registry;
  readonly lag: () => Promise<StageLag[]>;
  /** Reads a Confluent wire-format record with its writer schema (the registry's codec). */
  readonly decodeAvro: (bytes: Buffer) => Promise<unknown>;
  readonly now?: () => number;
}

export function consoleDataRoutes(deps: ConsoleDataDeps): (v1: FastifyInstance) => Promise<void> {
  const now = deps.now ?? Date.now;
  const segmentAnswer = async <T>(work: () => Promise<T>): Promise<T> => {
    try {
      return await work();
    } catch (error) {
      throw error instanceof SegmentError ? error.toApiError() : error;
    }
  };

  return async (v1) => {
    v1.get('/whoami', requireAnyKey(), async (request) => grantsOf(request));

    v1.get('/console/overview', requireScope('profile:read'), async () =>
      readOverview(deps.clickhouse(), { lag: deps.lag, metrics: deps.metrics, now: now() }),
    );

    v1.get('/console/profiles', requireScope('profile:read'), async (request) => {
      const query = request.query as { q?: string; limit?: string };
      if (typeof query.q !== 'string' || query.q.trim() === '')
        throw new ApiError('KUMIKI_MISSING_FIELD', 'q (an identifier, or part of its start) is required', 'q');
      return { profiles: await searchProfiles(deps.clickhouse(), query.q, pageLimit(query.limit, 20, 50)) };
    });

    v1.get('/console/profiles/:id', requireScope('profile:read'), async (request) => {
      const { id } = request.params as { id: string };
      const ch = deps.clickhouse();
      const survivor = await survivorOf(ch, id);
      return { requestedId: id, ...(await readProfile360(ch, survivor)) };
    });

    v1.get('/console/profiles/:id/events', requireScope('profile:read'), async (request) => {
      const { id } = request.params as { id: string };
      const query = request.query as { before?: string; limit?: string; channel?: string };
      const ch = deps.clickhouse();
      return readTimeline(ch, await survivorOf(ch, id), {
        ...(query.before ? { before: query.before } : {}),
        ...(query.channel ? { channel: query.channel } : {}),
        limit: pageLimit(query.limit, 50, 200),
      });
    });

    v1.get('/console/rfm', requireScope('profile:read'), async () => readRfmGrid(deps.clickhouse()));

    v1.get('/console/rfm/cells/:r/:f', requireScope('profile:read'), async (request) => {
      const params = request.params as { r: string; f: string };
      const query = request.query as { after?: string; limit?: string };
      const [r, f] = [Number(params.r), Number(params.f)];
      for (const [name, score] of [
        ['r', r],
        ['f', f],
      ] as const)
        if (!Number.isInteger(score) || score < 1 || score > 5)
          throw new ApiError('KUMIKI_INVALID_EVENT', `${name} must be a score from 1 to 5`, name);
      const page = await readRfmCell(
        deps.clickhouse(),
        { r, f },
        { after: query.after ?? '', limit: pageLimit(query.limit, 50, 500) },
      );
      return mayRead(grantsOf(request), 'pii:read')
        ? page
        : { ...page, members: page.members.map((m) => ({ ...m, email: null })) };
    });

    v1.get('/console/dead-letters', requireScope('profile:read'), async (request) => {
      const { window = '24h' } = request.query as { window?: string };
      if (!Object.hasOwn(deadLetterWindows, window))
        throw new ApiError(
          'KUMIKI_INVALID_EVENT',
          `window must be one of ${Object.keys(deadLetterWindows).join(', ')}`,
          'window',
        );
      return readDeadLetterSummary(deps.clickhouse(), window as DeadLetterWindow, now());
    });

    v1.get('/console/dead-letters/samples', requireScope('profile:read'), async (request) => {
      const query = request.query as { code?: string; before?: string; limit?: string };
      return readDeadLetterSamples(deps.clickhouse(), {
        code: query.code ?? '',
        ...(query.before ? { before: query.before } : {}),
        limit: pageLimit(query.limit, 20, 100),
        // The original bytes are whatever was sent: personal data.
        withBytes: mayRead(grantsOf(request), 'pii:read'),
        decodeAvro: deps.decodeAvro,
      });
    });

    v1.get('/console/segments', requireScope('segment:read'), async () => ({
      segments: await readSegmentSummaries(deps.clickhouse()),
    }));

    v1.get('/console/segments/:id/sizes', requireScope('segment:read'), async (request) => {
      const { id } = request.params as { id: string };
      const { days } = request.query as { days?: string };
      const ch = deps.clickhouse();
      await segmentAnswer(() => getSegment(ch, id));
      return readSegmentSizes(ch, id, { days: pageLimit(days, 30, 30), now: now() });
    });

    v1.get('/console/segments/:id/members', requireScope('segment:read'), async (request) => {
      const { id } = request.params as { id: string };
      const query = request.query as { after?: string; limit?: string };
      const ch = deps.clickhouse();
      await segmentAnswer(() => getSegment(ch, id));
      return readSegmentMembers(ch, id, {
        after: query.after ?? '',
        limit: pageLimit(query.limit, 50, 1000),
        withEmails: mayRead(grantsOf(request), 'pii:read'),
      });
    });

    // Every member as CSV, streamed a page at a time (memory does not grow with the segment).
    v1.get('/console/segments/:id/export', requireScope('segment:read'), async (request, reply) => {
      const { id } = request.params as { id: string };
      const ch = deps.clickhouse();
      const segment = await segmentAnswer(() => getSegment(ch, id));
      const withEmails = mayRead(grantsOf(request), 'pii:read');
      async function* csv(): AsyncGenerator<string> {
        yield withEmails ? 'profile_id,since,email\n' : 'profile_id,since\n';
        let after = '';
        for (;;) {
          const page = await readSegmentMembers(ch, id, { after, limit: 5_000, withEmails });
          let text = '';
          for (const m of page.members)
            text += `${[m.profileId, m.since, ...(withEmails ? [m.email ?? ''] : [])].map(csvField).join(',')}\n`;
          yield text;
          if (page.next === null) return;
          after = page.next;
        }
      }
      const file = `${segment.name.replace(/[^\p{L}\p{N}._-]+/gu, '-').slice(0, 80) || segment.id}.csv`;
      return reply
        .header('content-type', 'text/csv; charset=utf-8')
        .header(
          'content-disposition',
          `attachment; filename="${segment.id}.csv"; filename*=UTF-8''${encodeURIComponent(file)}`,
        )
        .send(Readable.from(csv()));
    });
  };
}
