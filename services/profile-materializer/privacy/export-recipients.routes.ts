import type { FastifyInstance } from 'fastify';
import { auditDetails, requireScope } from '../../common/access';
import type { ClickHouse } from '../../common/clickhouse/client-factory';
import { ApiError } from '../../common/error-codes';
import { exportRecipientsOf, forgetExportRecipients, recordExportRecipients } from './export-recipients';

/**
 * The activator's door to the recipient ledger of exports (export-recipients.ts):
 *
 * - `POST /v1/export-recipients` `{ destinationId, exportedAt, profileIdHashes }` → 204: these
 *   members are being handed to the destination (`destination:write`);
 * - `POST /v1/export-recipients/lookup` `{ profileIdHashes }` → `{ recipients: [{ destinationId,
 *   profileIdHash, firstAt, lastAt }] }`: the export destinations holding these profiles
 *   (`destination:read`);
 * - `POST /v1/export-recipients/forget` `{ pairs: [{ destinationId, profileIdHash }] }` → 204
 *   (`destination:write`).
 *
 * Profiles travel and rest as keyed hashes only (the activator hashes with the privacy key).
 */
export const MAX_HASHES_PER_CALL = 50_000;
const HASH = /^[0-9a-f]{32}$/;
const DESTINATION = /^[A-Za-z0-9_.:-]{1,128}$/;

export function exportRecipientRoutes(deps: {
  readonly clickhouse: () => ClickHouse;
  readonly now?: () => number;
}): (v1: FastifyInstance) => Promise<void> {
  const now = deps.now ?? Date.now;
  return async (v1) => {
    const bodyLimit = MAX_HASHES_PER_CALL * 48 + 4_096;
    v1.post('/export-recipients', { bodyLimit, ...requireScope('destination:write') }, async (request, reply) => {
      const body = (request.body ?? {}) as { destinationId?: unknown; exportedAt?: unknown; profileIdHashes?: unknown };
      const destinationId = destinationIdOf(body.destinationId, 'destinationId');
      const exportedAt =
        typeof body.exportedAt === 'number' && Number.isFinite(body.exportedAt) ? body.exportedAt : NaN;
      if (Number.isNaN(exportedAt)) throw invalid('exportedAt must be a time in milliseconds', 'exportedAt');
      const hashes = hashesOf(body.profileIdHashes);
      auditDetails(request).resource = `destination:${destinationId} export-recipients`;
      auditDetails(request).rows = hashes.length;
      await recordExportRecipients(deps.clickhouse(), destinationId, exportedAt, hashes);
      return reply.code(204).send();
    });

    v1.post('/export-recipients/lookup', { bodyLimit, ...requireScope('destination:read') }, async (request) => {
      const hashes = hashesOf((request.body as { profileIdHashes?: unknown } | undefined)?.profileIdHashes);
      auditDetails(request).resource = 'export-recipients';
      return { recipients: await exportRecipientsOf(deps.clickhouse(), hashes) };
    });

    v1.post(
      '/export-recipients/forget',
      { bodyLimit, ...requireScope('destination:write') },
      async (request, reply) => {
        const pairs = (request.body as { pairs?: unknown } | undefined)?.pairs;
        if (!Array.isArray(pairs) || pairs.length > MAX_HASHES_PER_CALL)
          throw invalid(`pairs must be an array of at most ${MAX_HASHES_PER_CALL}`, 'pairs');
        const checked = pairs.map((pair: { destinationId?: unknown; profileIdHash?: unknown }, i) => ({
          destinationId: destinationIdOf(pair?.destinationId, `pairs[${i}].destinationId`),
          profileIdHash: hashOf(pair?.profileIdHash, `pairs[${i}].profileIdHash`),
        }));
        auditDetails(request).resource = 'export-recipients';
        await forgetExportRecipients(deps.clickhouse(), checked, now());
        return reply.code(204).send();
      },
    );
  };
}

const invalid = (message: string, field: string) => new ApiError('KUMIKI_INVALID_PARAMETER', message, field);

function destinationIdOf(value: unknown, field: string): string {
  if (typeof value !== 'string' || !DESTINATION.test(value)) throw invalid(`${field} must be a destination id`, field);
  return value;
}

function hashOf(value: unknown, field: string): string {
  if (typeof value !== 'string' || !HASH.test(value))
    throw invalid(`${field} must be a keyed hash (32 lower-case hex characters)`, field);
  return value;
}

function hashesOf(value: unknown): string[] {
  if (!Array.isArray(value) || value.length > MAX_HASHES_PER_CALL)
    throw invalid(`profileIdHashes must be an array of at most ${MAX_HASHES_PER_CALL}`, 'profileIdHashes');
  return value.map((hash, i) => hashOf(hash, `profileIdHashes[${i}]`));
}
