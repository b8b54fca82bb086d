import { timingSafeEqual } from 'node:crypto';
import type { FastifyRequest } from 'fastify';
import { ApiError } from './error-codes';

/**
 * The admin Bearer token of kumiki's HTTP APIs (the read API, the activator's destinations API):
 * `Authorization: Bearer <adminToken>` from `.kumiki/credentials.json`. Compared in constant
 * time. API keys with scopes replace it route by route (services/common/access/).
 */
export function bearerTokenMatches(header: string | undefined, expected: string): boolean {
  const match = /^Bearer\s+(.+)$/i.exec(header ?? '');
  if (!match) return false;
  const given = Buffer.from(match[1]!.trim());
  const wanted = Buffer.from(expected);
  return given.length === wanted.length && timingSafeEqual(given, wanted);
}

/** A Fastify `onRequest` hook that answers 401 KUMIKI_ADMIN_UNAUTHORIZED without the token. */
export function requireAdminToken(adminToken: string): (request: FastifyRequest) => Promise<void> {
  return async (request) => {
    if (!bearerTokenMatches(request.headers.authorization, adminToken)) {
      throw new ApiError(
        'KUMIKI_ADMIN_UNAUTHORIZED',
        'send Authorization: Bearer <adminToken> (from .kumiki/credentials.json)',
      );
    }
  };
}
