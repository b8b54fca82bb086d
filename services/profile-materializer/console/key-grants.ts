import type { FastifyRequest } from 'fastify';

/** Scopes an API key may hold (DESIGN.md, "Access, audit and detection"). */
export const scopes = [
  'sql:read',
  'profile:read',
  'pii:read',
  'segment:read',
  'segment:write',
  'destination:read',
  'destination:write',
  'privacy:read',
  'privacy:write',
  'audit:read',
  'keys:write',
] as const;
export type Scope = (typeof scopes)[number];

/** What the key of a request may see and do: the answer of GET /v1/whoami. */
export interface KeyGrants {
  readonly keyId: string;
  readonly name: string;
  readonly role: string;
  readonly scopes: readonly Scope[];
}

const adminGrants: KeyGrants = Object.freeze({
  keyId: 'admin',
  name: 'admin token',
  role: 'admin',
  scopes: Object.freeze([...scopes]),
});

/**
 * The one place the read API decides what a request's key may see; the console asks it through
 * GET /v1/whoami and shows pages, actions and unmasked values by its scopes, and the console's
 * own endpoints consult it for personal data (dead-letter bytes, member exports).
 *
 * The read API authenticates one key today, the admin token (checked before any route runs), so
 * every request that gets here holds every scope. Keys with roles replace this body with the
 * key the authentication hook resolved; nothing else changes.
 */
export function grantsOf(_request: FastifyRequest): KeyGrants {
  return adminGrants;
}

export function mayRead(grants: KeyGrants, scope: Scope): boolean {
  return grants.scopes.includes(scope);
}
