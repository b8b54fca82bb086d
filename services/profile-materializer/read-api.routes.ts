import { segmentExportRoutes } from './segments/segment-export.routes';
import { segmentRoutes } from './segments/segments.routes';
import type { FastifyInstance } from 'fastify';
import {
  type AccessControlOptions,
  auditDetails,
  installAccessControl,
  mayReadPii,
  requireScope,
  sendApiError,
} from '../common/access';
import type { ClickHouse } from '../common/clickhouse/client-factory';
import { ClickHouseQueryError } from '../common/clickhouse/errors';
import { ApiError } from '../common/error-codes';
import { refuseUnlessQuery } from '../common/clickhouse/caller-sql';
import { logInternalError, toApiError } from '../common/http-errors';
import { foldIdentifierText } from '../common/identifier-text';
import type { Logger } from '../common/logger';
import { isoTime } from './console/read-model';
import { readIdentityLinks } from './identity-links.repository';
import { personalDataSource } from './personal-data';
import { readSnapshotRfm } from './rfm/rfm.repository';
import { predictionRoutes, type PredictionRoutesDeps } from './predictions/predictions.routes';
import { predictionsJson, readPredictions } from './predictions/predictions.repository';
import { exportRecipientRoutes } from './privacy/export-recipients.routes';
import { privacyRoutes, type PrivacyRoutesDeps } from './privacy/privacy.routes';

/**
 * The read API (DESIGN.md): POST /v1/sql, GET /v1/profiles/{type}/{value}[/explain].
 *
 * /v1/sql is read-only because ClickHouse says so, not because the SQL text looks harmless:
 * every query runs with `readonly = 1` (no writes, no DDL, no table functions that touch files
 * or the network, and no settings changes — so the limits below cannot be lifted from inside
 * the SQL with `SETTINGS …`) and with time, row and memory limits. Values are passed as typed
 * parameters (`{name:Type}` in the SQL, `params` in the body), never spliced into the text.
 */
export interface ReadApiDeps {
  readonly clickhouse: () => ClickHouse;
  /**
   * ClickHouse as keys without pii:read see it (masking.ts): SQL of such keys runs only there,
   * and their profile answers are read from its views. Undefined: such reads are refused.
   */
  readonly maskedClickhouse?: () => ClickHouse | undefined;
  /** Keys, the adminToken, throttling and the audit of every call (common/access). */
  readonly access: AccessControlOptions;
  /** Key management routes (`/v1/keys`), when this service hosts them. */
  readonly keys?: (v1: FastifyInstance) => Promise<void>;
  readonly logger: Logger;
  readonly limits: {
    readonly maxExecutionSeconds: number;
    readonly maxResultRows: number;
    readonly maxMemoryBytes: number;
  };
  readonly now?: () => number;
  /** More routes for the authenticated `/v1` scope (audit, alerts, the console's read endpoints). */
  readonly plugins?: readonly ((v1: FastifyInstance) => Promise<void>)[];
  /** The predictions component and settings behind /v1/models and recommendations (predictions.routes.ts). */
  readonly predictions?: Pick<PredictionRoutesDeps, 'predictions' | 'excludedItems'>;
  /** The privacy request routes' dependencies (privacy/privacy.routes.ts); without them the routes are not served. */
  readonly privacy?: PrivacyRoutesDeps;
}

/** ClickHouse error codes the read API answers with a specific code (ClickHouse ErrorCodes.cpp). */
const readOnlyCodes = new Set(['164']); // READONLY
const timeoutCodes = new Set(['159', '160']); // TIMEOUT_EXCEEDED, TOO_SLOW
const limitCodes = new Set(['158', '241', '307', '396']); // TOO_MANY_ROWS, MEMORY_LIMIT_EXCEEDED, TOO_MANY_BYTES, TOO_MANY_ROWS_OR_BYTES

export function toReadApiError(error: unknown): ApiError {
  if (error instanceof ApiError) return error;
  if (error instanceof ClickHouseQueryError) {
    if (readOnlyCodes.has(error.code))
      return new ApiError('KUMIKI_SQL_READ_ONLY', `the read API is read-only: ${error.message}`);
    if (timeoutCodes.has(error.code)) return new ApiError('KUMIKI_SQL_TIMEOUT', error.message);
    if (limitCodes.has(error.code)) return new ApiError('KUMIKI_SQL_LIMIT', error.message);
    return new ApiError('KUMIKI_SQL_ERROR', error.message);
  }
  return toApiError(error);
}

/**
 * Spellings to look an identifier up by, preferred first. Identifier values are stored
 * normalised by the stitcher; the lookup does the unambiguous part (Unicode folding, emails
 * lower-cased), then tries the value as given, trimmed: an identifier stored before the
 * stitcher folded Unicode keeps its old spelling (docs/identity-stitcher.md).
 */
export function normaliseLookup(type: string, value: string): string[] {
  const folded = foldIdentifierText(value);
  const spelled = type === 'email' ? folded.toLowerCase() : folded;
  const given = value.trim();
  return spelled === given ? [spelled] : [spelled, given];
}

export function readApiRoutes(deps: ReadApiDeps): (app: FastifyInstance) => Promise<void> {
  const now = deps.now ?? Date.now;
  const personalData = personalDataSource(deps);
  const logger = deps.logger.child({ component: 'read-api' });
  return async (app) => {
    await app.register(
      async (v1) => {
        installAccessControl(v1, deps.access);
        v1.setErrorHandler(async (error, request, reply) => {
          const apiError = toReadApiError(error);
          logInternalError(logger, request, error, apiError);
          return sendApiError(request, reply, apiError);
        });

        v1.post('/sql', requireScope('sql:read'), async (request) => {
          const body = request.body as { query?: unknown; params?: unknown } | null;
          if (!body || typeof body !== 'object' || Array.isArray(body))
            throw new ApiError(
              'KUMIKI_MALFORMED_JSON',
              'the body must be a JSON object { "query": "...", "params": { ... } }',
            );
          if (typeof body.query !== 'string' || body.query.trim() === '')
            throw new ApiError('KUMIKI_MISSING_FIELD', 'query must be a non-empty string', 'query');
          const params = body.params ?? {};
          if (typeof params !== 'object' || params === null || Array.isArray(params))
            throw new ApiError('KUMIKI_INVALID_EVENT', 'params must be an object of typed parameter values', 'params');
          const audit = auditDetails(request);
          audit.resource = 'sql';
          audit.sql = body.query;
          const ch = personalData(request);
          const settings = {
            max_execution_time: deps.limits.maxExecutionSeconds,
            max_result_rows: String(deps.limits.maxResultRows),
            result_overflow_mode: 'throw' as const,
            max_memory_usage: String(deps.limits.maxMemoryBytes),
          };
          const values = params as Record<string, unknown>;
          // The masked connection checks its statements itself; SQL on the raw tables is checked here.
          if (mayReadPii(request)) await refuseUnlessQuery(ch, body.query, values, settings);
          const rows = await ch.query(body.query, values, { readOnly: true, settings });
          audit.rows = rows.length;
          // Who this answer was about, where its rows say so: a profile_id column.
          for (const row of rows) {
            const id = (row as { profile_id?: unknown }).profile_id;
            if (typeof id === 'string') audit.profileIds.push(id);
          }
          return { rows };
        });

        v1.get('/profiles/:type/:value', requireScope('profile:read'), async (request) => {
          const { type, value } = request.params as { type: string; value: string };
          const ch = deps.clickhouse();
          const audit = auditDetails(request);
          audit.identifiers.push({ type, value });
          const profileId = await findProfile(ch, type, normaliseLookup(type, value));
          audit.profileIds.push(profileId);
          const personal = personalData(request);
          const [profile] = await personal.query<{
            traits: string;
            first_seen: string;
            last_seen: string;
            consent: Record<string, boolean>;
            identifiers: string[];
          }>(
            `SELECT traits, toString(first_seen) AS first_seen, toString(last_seen) AS last_seen, consent, identifiers
             FROM profiles WHERE profile_id = {id:String}`,
            { id: profileId },
          );
          // The rfm view's row (the latest snapshot), as ProfileUpdates carry it: a key read.
          const rfm = (await readSnapshotRfm(ch, [profileId])).get(profileId);
          const segments = await ch.query<{ segment_id: string }>(
            'SELECT segment_id FROM segment_members WHERE profile_id = {id:String} ORDER BY segment_id',
            { id: profileId },
          );
          const predictions = (await readPredictions(ch, [profileId])).get(profileId);
          const identifiers = profile
            ? profile.identifiers.map(splitIdentifier)
            : await identifiersOf(personal, profileId);
          return {
            profileId,
            identifiers,
            traits: profile ? (JSON.parse(profile.traits) as unknown) : {},
            rfm: rfm
              ? {
                  recencyDays: rfm.recencyDays,
                  frequency: rfm.frequency,
                  monetary: rfm.monetary,
                  r: rfm.r,
                  f: rfm.f,
                  m: rfm.m,
                  label: rfm.label,
                }
              : null,
            segments: segments.map((s) => s.segment_id),
            consent: profile?.consent ?? {},
            firstSeen: profile ? isoTime(profile.first_seen) : null,
            lastSeen: profile ? isoTime(profile.last_seen) : null,
            predictions: predictions ? predictionsJson(predictions) : null,
          };
        });

        await v1.register(segmentRoutes({ clickhouse: deps.clickhouse, limits: deps.limits, now }));
        if (deps.keys) await v1.register(deps.keys);
        await v1.register(segmentExportRoutes({ clickhouse: deps.clickhouse }));
        await v1.register(exportRecipientRoutes({ clickhouse: deps.clickhouse, now }));
        for (const plugin of deps.plugins ?? []) await v1.register(plugin);
        if (deps.predictions)
          await v1.register(
            predictionRoutes({
              clickhouse: deps.clickhouse,
              findProfile: (ch, type, value) => findProfile(ch, type, normaliseLookup(type, value)),
              now,
              ...deps.predictions,
            }),
          );
        if (deps.privacy) await v1.register(privacyRoutes({ ...deps.privacy, now }));

        v1.get('/profiles/:type/:value/explain', requireScope('profile:read'), async (request) => {
          const { type, value } = request.params as { type: string; value: string };
          const ch = deps.clickhouse();
          const audit = auditDetails(request);
          audit.identifiers.push({ type, value });
          const profileId = await findProfile(ch, type, normaliseLookup(type, value));
          audit.profileIds.push(profileId);
          // The profile and every profile merged into it: links are recorded under the profile of their time.
          const absorbed = await ch.query<{ absorbed_profile_id: string; merged_at: string; message_id: string }>(
            'SELECT absorbed_profile_id, toString(merged_at) AS merged_at, message_id FROM profile_aliases WHERE surviving_profile_id = {id:String} ORDER BY absorbed_profile_id',
            { id: profileId },
          );
          const links = await readIdentityLinks(personalData(request), [
            profileId,
            ...absorbed.map((a) => a.absorbed_profile_id),
          ]);
          return {
            profileId,
            mergedProfiles: absorbed.map((a) => ({
              profileId: a.absorbed_profile_id,
              mergedAt: isoTime(a.merged_at),
              messageId: a.message_id,
            })),
            links,
          };
        });
      },
      { prefix: '/v1' },
    );
  };
}

/** The surviving profile of an identifier by the first of its spellings found, or 404. identities resolves merged-away ids. */
async function findProfile(ch: ClickHouse, type: string, values: readonly string[]): Promise<string> {
  const [row] = await ch.query<{ profile_id: string }>(
    `SELECT profile_id FROM identities
     WHERE identifier_type = {type:String} AND identifier_value IN {values:Array(String)}
     ORDER BY indexOf({values:Array(String)}, identifier_value) LIMIT 1`,
    { type, values },
  );
  if (!row) throw new ApiError('KUMIKI_PROFILE_NOT_FOUND', `no profile has ${type} ${JSON.stringify(values[0])}`);
  return row.profile_id;
}

async function identifiersOf(ch: ClickHouse, profileId: string): Promise<{ type: string; value: string }[]> {
  const rows = await ch.query<{ identifier_type: string; identifier_value: string }>(
    'SELECT identifier_type, identifier_value FROM identities WHERE profile_id = {id:String} ORDER BY identifier_type, identifier_value',
    { id: profileId },
  );
  return rows.map((r) => ({ type: r.identifier_type, value: r.identifier_value }));
}

function splitIdentifier(text: string): { type: string; value: string } {
  const colon = text.indexOf(':');
  return { type: text.slice(0, colon), value: text.slice(colon + 1) };
}
