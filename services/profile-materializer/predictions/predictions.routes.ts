import type { FastifyInstance } from 'fastify';
import { auditDetails, requireScope } from '../../common/access';
import type { ClickHouse } from '../../common/clickhouse/client-factory';
import { ApiError } from '../../common/error-codes';
import type { Predictions } from './predictions.component';
import { NotEnoughDataError } from './prediction-errors';
import { listModels, recommendationInputs } from './predictions.repository';
import { recommend } from './recommendations';

/**
 * The predictions API, all its routes here (DESIGN.md, "Predictions"):
 *   GET  /v1/models                                   model versions with their figures
 *   POST /v1/models/fit        { "asOf"? }            refit and rescore now; with asOf, a fit of the history before it (stored nowhere)
 *   POST /v1/models/backtest   { "calibrationEnd", "holdoutEnd" }
 *   GET  /v1/profiles/{type}/{value}/recommendations  ?limit=1..20 (5) &exclude=id,id
 * A plugin for the authenticated `/v1` scope of the read API (token check, `{ code, message,
 * field? }` errors). `findProfile` is the read API's identifier lookup (404 when unknown).
 */
export interface PredictionRoutesDeps {
  readonly clickhouse: () => ClickHouse;
  readonly predictions: Pick<Predictions, 'refit' | 'fitAsOf' | 'backtest'>;
  readonly findProfile: (ch: ClickHouse, type: string, value: string) => Promise<string>;
  readonly excludedItems: readonly string[];
  readonly now?: () => number;
}

function time(value: unknown, field: string): number {
  const ms = typeof value === 'string' ? Date.parse(value) : Number.NaN;
  if (!Number.isFinite(ms))
    throw new ApiError(
      'KUMIKI_INVALID_PARAMETER',
      `${field} must be an ISO-8601 time, e.g. 2026-05-01T00:00:00Z`,
      field,
    );
  return ms;
}

async function notEnoughData<T>(work: () => Promise<T>): Promise<T> {
  try {
    return await work();
  } catch (error) {
    if (error instanceof NotEnoughDataError) throw new ApiError('KUMIKI_NOT_ENOUGH_DATA', error.message);
    throw error;
  }
}

export function predictionRoutes(deps: PredictionRoutesDeps): (v1: FastifyInstance) => Promise<void> {
  const now = deps.now ?? Date.now;
  return async (v1) => {
    v1.get('/models', requireScope('segment:read'), async () => ({ models: await listModels(deps.clickhouse()) }));

    v1.post('/models/fit', requireScope('segment:write'), async (request) => {
      const body = (request.body ?? {}) as { asOf?: unknown };
      if (body.asOf === undefined) {
        const outcome = await notEnoughData(() => deps.predictions.refit());
        return { ...outcome.model, changed: outcome.changed };
      }
      const asOf = time(body.asOf, 'asOf');
      if (asOf > now()) throw new ApiError('KUMIKI_INVALID_PARAMETER', 'asOf must not be in the future', 'asOf');
      return notEnoughData(() => deps.predictions.fitAsOf(asOf));
    });

    v1.post('/models/backtest', requireScope('segment:read'), async (request) => {
      const body = (request.body ?? {}) as { calibrationEnd?: unknown; holdoutEnd?: unknown };
      const calibrationEnd = time(body.calibrationEnd, 'calibrationEnd');
      const holdoutEnd = time(body.holdoutEnd, 'holdoutEnd');
      if (holdoutEnd <= calibrationEnd)
        throw new ApiError('KUMIKI_INVALID_PARAMETER', 'holdoutEnd must be after calibrationEnd', 'holdoutEnd');
      if (holdoutEnd > now())
        throw new ApiError(
          'KUMIKI_INVALID_PARAMETER',
          'holdoutEnd must not be in the future (the holdout must have happened)',
          'holdoutEnd',
        );
      return notEnoughData(() => deps.predictions.backtest(calibrationEnd, holdoutEnd));
    });

    v1.get('/profiles/:type/:value/recommendations', requireScope('profile:read'), async (request) => {
      const { type, value } = request.params as { type: string; value: string };
      const query = request.query as { limit?: string; exclude?: string };
      const limit = query.limit === undefined ? 5 : Number(query.limit);
      if (!Number.isInteger(limit) || limit < 1 || limit > 20)
        throw new ApiError('KUMIKI_INVALID_PARAMETER', 'limit must be a whole number from 1 to 20', 'limit');
      const ch = deps.clickhouse();
      const audit = auditDetails(request);
      audit.identifiers.push({ type, value });
      const profileId = await deps.findProfile(ch, type, value);
      audit.profileIds.push(profileId);
      const inputs = await recommendationInputs(ch, profileId);
      if (!inputs) return { profileId, modelVersion: null, recommendations: [] };
      const excluded = new Set([...deps.excludedItems, ...(query.exclude ?? '').split(',').filter(Boolean)]);
      const similar = recommend(inputs.items, inputs.neighbours, [], excluded, limit);
      const items = recommend(inputs.items, inputs.neighbours, inputs.popular, excluded, limit);
      return {
        profileId,
        modelVersion: inputs.version,
        recommendations: items.map((productId) => ({
          productId,
          reason: similar.includes(productId) ? 'bought or viewed together' : 'popular',
        })),
      };
    });
  };
}
