import { Readable } from 'node:stream';
import type { FastifyInstance, FastifyRequest } from 'fastify';
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
import { auditDetails, requireAnyKey, requireScope } from '../../common/access';
import { grantsOf, mayRead } from './key-grants';
import { personalDataSource } from '../personal-data';
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
 * Each route names the scope it needs in `config.scope`; `grantsOf` (key-grants.ts) is the one
 * place that says what a key holds. Personal data (identifiers, traits, event payloads, emails in
 * lists) is read through `personalDataSource` (personal-data.ts), as the read API's is: a key
 * without `pii:read` gets what ClickHouse's masked views give, pseudonyms. Dead-letter bytes,
 * which no view masks, are left out for such a key. Every route answering about particular
 * profiles names them (and the identifiers searched for) in the call's audit record.
 * Reads only: nothing here writes or waits on the ingest path.
 */
export interface ConsoleDataDeps {
  readonly clickhouse: () => ClickHouse;
  /** ClickHouse as keys without pii:read see it (ReadApiDeps.maskedClickhouse). */
  readonly maskedClickhouse?: () => ClickHouse | undefined;
  readonly metrics: Registry;
  readonly lag: () => Promise<StageLag[]>;
  /** Reads a Confluent wire-format record with its writer schema (the registry's codec). */
  readonly decodeAvro: (bytes: Buffer) => Promise<unknown>;
  readonly now?: () => number;
}

export function consoleDataRoutes(deps: ConsoleDataDeps): (v1: FastifyInstance) => Promise<void> {
  const now = deps.now ?? Date.now;
  const personalData = personalDataSource(deps);
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
      const profiles = await searchProfiles(
        deps.clickhouse(),
        personalData(request),
        query.q,
        pageLimit(query.limit, 20, 50),
      );
      const audit = auditDetails(request);
      audit.resource = 'profile-search';
      for (const hit of profiles) {
        audit.profileIds.push(hit.profileId);
        audit.identifiers.push(...hit.matched);
      }
      audit.rows = profiles.length;
      return { profiles };
    });

    v1.get('/console/profiles/:id', requireScope('profile:read'), async (request) => {
      const { id } = request.params as { id: string };
      const ch = deps.clickhouse();
      const survivor = await survivorOf(ch, id);
      aboutProfile(request, id, survivor);
      return { requestedId: id, ...(await readProfile360(ch, personalData(request), survivor)) };
    });

    v1.get('/console/profiles/:id/events', requireScope('profile:read'), async (request) => {
      const { id } = request.params as { id: string };
      const query = request.query as { before?: string; limit?: string; channel?: string };
      const ch = deps.clickhouse();
      const survivor = await survivorOf(ch, id);
      aboutProfile(request, id, survivor);
      const page = await readTimeline(ch, personalData(request), survivor, {
        ...(query.before ? { before: query.before } : {}),
        ...(query.channel ? { channel: query.channel } : {}),
        limit: pageLimit(query.limit, 50, 200),
      });
      auditDetails(request).rows = page.events.length;
      return page;
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
        personalData(request),
        { r, f },
        { after: query.after ?? '', limit: pageLimit(query.limit, 50, 500) },
      );
      aboutMembers(request, `rfm-cell:${r}:${f}`, page.members);
      return page;
    });

    v1.get('/console/dead-letters', requireScope('profile:read'), async (request) => {
      const { window = '24h' } = request.query as { window?: string };
      if (!Object.hasOwn(deadLetterWindows, window))
        throw new ApiError(
          'KUMIKI_INVALID_EVENT',
          `window must be one of ${Object.keys(deadLetterWindows).join(', ')}`,
          'window',
        );
      return readDeadLetterSummary(
        deps.clickhouse(),
        window as DeadLetterWindow,
        now(),
        mayRead(grantsOf(request), 'pii:read'),
      );
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
      const page = await readSegmentMembers(ch, personalData(request), id, {
        after: query.after ?? '',
        limit: pageLimit(query.limit, 50, 1000),
      });
      aboutMembers(request, `segment:${id}`, page.members);
      return page;
    });

    // Every member as CSV, streamed a page at a time (memory does not grow with the segment). The
    // audit record is written before the body streams, so it names the segment, not each member:
    // who was in it at that time is what segment_changes keeps (docs/access.md).
    v1.get('/console/segments/:id/export', requireScope('segment:read'), async (request, reply) => {
      const { id } = request.params as { id: string };
      const ch = deps.clickhouse();
      const segment = await segmentAnswer(() => getSegment(ch, id));
      const personal = personalData(request);
      auditDetails(request).resource = `segment-export:${id}`;
      async function* csv(): AsyncGenerator<string> {
        yield 'profile_id,since,email\n';
        let after = '';
        for (;;) {
          const page = await readSegmentMembers(ch, personal, id, { after, limit: 5_000 });
          let text = '';
          for (const m of page.members) text += `${[m.profileId, m.since, m.email ?? ''].map(csvField).join(',')}\n`;
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

/** Audits a read of one profile: the id asked for and the profile it now belongs to. */
function aboutProfile(request: FastifyRequest, requestedId: string, survivor: string): void {
  const audit = auditDetails(request);
  audit.resource = 'profile';
  audit.profileIds.push(survivor, requestedId);
}

/** Audits a page of a list of profiles (an RFM cell, a segment's members). */
function aboutMembers(request: FastifyRequest, resource: string, members: readonly { profileId: string }[]): void {
  const audit = auditDetails(request);
  audit.resource = resource;
  audit.profileIds.push(...members.map((m) => m.profileId));
  audit.rows = members.length;
}
