import type { FastifyRequest } from 'fastify';
import { principalOf, type Scope } from '../../common/access';

/** What the key of a request may see and do: the answer of GET /v1/whoami. */
export interface KeyGrants {
  readonly keyId: string;
  readonly name: string;
  readonly role: string;
  readonly scopes: readonly Scope[];
}

/**
 * What a request's key may see, as the access control resolved it; the console shows pages,
 * actions and unmasked values by these scopes, and its endpoints consult them for personal data.
 */
export function grantsOf(request: FastifyRequest): KeyGrants {
  const principal = principalOf(request);
  return { keyId: principal.keyId, name: principal.keyName, role: principal.role, scopes: [...principal.scopes] };
}

export function mayRead(grants: KeyGrants, scope: Scope): boolean {
  return grants.scopes.includes(scope);
}
