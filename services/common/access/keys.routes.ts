import type { FastifyInstance } from 'fastify';
import { ApiError } from '../error-codes';
import type { EventProducer } from '../kafka/client';
import { auditDetails, requireScope } from './access-control';
import { type ApiKeyRecord, newKeyId, newSecret, parseDuration, sha256Hex } from './api-key';
import type { KeyCache } from './key-cache';
import { publishKey } from './key-topic';
import { isRole, roleNames } from './scopes';

/**
 * Key management (`keys:write`): `POST /v1/keys` `{ name, role, expires? }` → `201 { id, name,
 * role, secret, expiresAt }` (the only time the secret is shown), `GET /v1/keys`,
 * `DELETE /v1/keys/{id}` (revoke), `POST /v1/keys/{id}/rotate` `{ grace? }` → a new secret; the
 * old one keeps working for the grace (default KEY_ROTATION_GRACE). A change is answered once
 * the key topic acknowledged it; this service's cache takes it at once, the others within a fetch.
 */
export interface KeysRoutesDeps {
  readonly producer: () => EventProducer;
  readonly topic: string;
  readonly cache: KeyCache;
  readonly rotationGraceMs: number;
  readonly now?: () => number;
}

/** A key as listed: never a secret or a hash. */
export function describeKey(record: ApiKeyRecord) {
  const iso = (ms: number | null) => (ms === null ? null : new Date(ms).toISOString());
  const graceUntil = record.secretHashes.map((h) => h.validUntil).find((v) => v !== null) ?? null;
  return {
    id: record.id,
    name: record.name,
    role: record.role,
    createdAt: iso(record.createdAt),
    expiresAt: iso(record.expiresAt),
    revokedAt: iso(record.revokedAt),
    previousSecretValidUntil: iso(graceUntil),
  };
}

function parseExpiry(raw: unknown, field: string): number | undefined {
  if (raw === undefined || raw === null) return undefined;
  const ms = typeof raw === 'string' ? parseDuration(raw) : undefined;
  if (ms === undefined)
    throw new ApiError('KUMIKI_INVALID_EXPIRY', `${field} must be a duration like 90d, 12h, 30m or 45s`, field);
  return ms;
}

export function keysRoutes(deps: KeysRoutesDeps): (v1: FastifyInstance) => Promise<void> {
  const now = deps.now ?? Date.now;
  const save = async (record: ApiKeyRecord): Promise<void> => {
    await publishKey(deps.producer(), deps.topic, record);
    deps.cache.put(record);
  };
  const existing = (id: string): ApiKeyRecord => {
    const record = deps.cache.find(id);
    if (!record) throw new ApiError('KUMIKI_KEY_NOT_FOUND', `no API key has id ${JSON.stringify(id)}`);
    return record;
  };

  return async (v1) => {
    v1.post('/keys', requireScope('keys:write'), async (request, reply) => {
      const body = (request.body ?? {}) as { name?: unknown; role?: unknown; expires?: unknown };
      if (typeof body.name !== 'string' || body.name.trim() === '' || body.name.length > 200)
        throw new ApiError('KUMIKI_MISSING_FIELD', 'name must be a non-empty string (at most 200 characters)', 'name');
      if (!isRole(body.role))
        throw new ApiError('KUMIKI_INVALID_ROLE', `role must be one of ${roleNames.join(', ')}`, 'role');
      const lifetime = parseExpiry(body.expires, 'expires');
      const at = now();
      const id = newKeyId();
      const secret = newSecret(id);
      const record: ApiKeyRecord = {
        id,
        name: body.name.trim(),
        role: body.role,
        secretHashes: [{ sha256: sha256Hex(secret), validUntil: null }],
        createdAt: at,
        expiresAt: lifetime === undefined ? null : at + lifetime,
        revokedAt: null,
      };
      await save(record);
      auditDetails(request).resource = `key:${id}`;
      return reply.code(201).send({ ...describeKey(record), secret });
    });

    v1.get('/keys', requireScope('keys:write'), async (request) => {
      auditDetails(request).resource = 'keys';
      return { keys: deps.cache.list().map(describeKey) };
    });

    v1.delete('/keys/:id', requireScope('keys:write'), async (request, reply) => {
      const { id } = request.params as { id: string };
      auditDetails(request).resource = `key:${id}`;
      const record = existing(id);
      if (record.revokedAt === null) await save({ ...record, revokedAt: now() });
      return reply.code(204).send();
    });

    v1.post('/keys/:id/rotate', requireScope('keys:write'), async (request) => {
      const { id } = request.params as { id: string };
      auditDetails(request).resource = `key:${id}`;
      const record = existing(id);
      if (record.revokedAt !== null) throw new ApiError('KUMIKI_KEY_REVOKED', `API key ${id} was revoked`);
      const grace = parseExpiry((request.body as { grace?: unknown } | null)?.grace, 'grace') ?? deps.rotationGraceMs;
      const at = now();
      const secret = newSecret(id);
      const rotated: ApiKeyRecord = {
        ...record,
        // The newest secret, and the one before it until the grace ends; older ones go.
        secretHashes: [
          { sha256: sha256Hex(secret), validUntil: null },
          ...record.secretHashes.filter((h) => h.validUntil === null).map((h) => ({ ...h, validUntil: at + grace })),
        ],
      };
      await save(rotated);
      return { ...describeKey(rotated), secret };
    });
  };
}
