import type { Destination, DestinationGrant } from '../../../schemas';
import { ADMIN_TOKEN_KEY_ID, type ApiKeyRecord } from '../../common/access/api-key';
import { scopesOf } from '../../common/access/scopes';
import { KumikiError } from '../../common/errors';
import { carriesPersonalData } from './destination';

/**
 * The key that let personal data flow to a destination no longer may: revoked, expired, gone, or
 * without pii:read. Nothing personal is sent on its word; the destination is paused until a key
 * holding pii:read sets it up again (PATCH) and resumes it.
 */
export class GrantWithdrawnError extends KumikiError {
  readonly isRetriable = false;
}

/** Why `grant` no longer lets personal data out at `now`, or undefined while it does. */
export function grantProblem(
  grant: DestinationGrant | null,
  key: ApiKeyRecord | undefined,
  now: number,
): string | undefined {
  // The credentials' admin token is not a key on the topic: it is changed in the credentials, not revoked.
  if (grant === null || grant.keyId === ADMIN_TOKEN_KEY_ID) return undefined;
  const named = `the key ${JSON.stringify(grant.keyName)} (${grant.keyId}) that granted pii:read`;
  if (!key) return `${named} is not known any more`;
  if (key.revokedAt !== null && key.revokedAt <= now) return `${named} was revoked at ${iso(key.revokedAt)}`;
  if (key.expiresAt !== null && key.expiresAt <= now) return `${named} expired at ${iso(key.expiresAt)}`;
  if (!scopesOf(key.role).has('pii:read')) return `${named} has role ${key.role}, without pii:read`;
  return undefined;
}

const iso = (ms: number): string => new Date(ms).toISOString();

/** Why personal data may not leave for `destination` now (its grant withdrawn), or undefined when it may or it carries none. */
export type GrantCheck = (destination: Destination) => string | undefined;

export function createGrantCheck(
  keys: { find(id: string): ApiKeyRecord | undefined },
  now: () => number = Date.now,
): GrantCheck {
  return (destination) => {
    if (!carriesPersonalData(destination)) return undefined;
    const grant = destination.grantedBy;
    return grantProblem(grant, grant ? keys.find(grant.keyId) : undefined, now());
  };
}
