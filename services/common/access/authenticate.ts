import { ApiError } from '../error-codes';
import { ADMIN_TOKEN_KEY_ID, type ApiKeyRecord, checkSecret, keyIdOf } from './api-key';
import type { FailedAuthThrottle } from './failed-auth-throttle';
import { type Role, type Scope, scopesOf } from './scopes';

/** Who is calling: the key that authenticated the request. */
export interface Principal {
  readonly keyId: string;
  readonly keyName: string;
  readonly role: Role;
  readonly scopes: ReadonlySet<Scope>;
}

/** Where the service looks keys up (kept current from the key topic). */
export interface KeyDirectory {
  find(id: string): ApiKeyRecord | undefined;
}

/** What an authentication attempt came to; a failure names the key it claimed, when one was found. */
export type Authentication =
  | { readonly ok: true; readonly principal: Principal }
  | {
      readonly ok: false;
      readonly error: ApiError;
      readonly claimed?: ApiKeyRecord;
      /** The failure that started a block of this subject (`address:…` or `key:…`), for the alert. */
      readonly blockStarted?: string;
      /** A revoked or expired key was presented with its right secret. */
      readonly deadKey?: 'revoked' | 'expired';
    };

export interface AuthenticateInput {
  readonly authorization: string | undefined;
  readonly source: string;
  readonly now: number;
}

const bearerPattern = /^Bearer\s+(\S+)\s*$/i;

/**
 * Checks a request's Bearer key. Order matters for brute force: a blocked address is refused
 * before anything is compared, and a blocked key id only for wrong secrets, so an attacker
 * cannot lock a key's owner out by failing on purpose from elsewhere.
 */
export function authenticate(
  input: AuthenticateInput,
  deps: {
    readonly keys: KeyDirectory;
    readonly adminToken: ApiKeyRecord | undefined;
    readonly throttle: FailedAuthThrottle;
  },
): Authentication {
  const addressSubject = `address:${input.source}`;
  const addressRetry = deps.throttle.retryAfter(addressSubject);
  if (addressRetry !== undefined) return tooMany(addressRetry);

  const secret = bearerPattern.exec(input.authorization ?? '')?.[1];
  if (!secret)
    return failed(
      deps.throttle,
      [addressSubject],
      new ApiError('KUMIKI_ADMIN_UNAUTHORIZED', 'send Authorization: Bearer <key> (an API key or the adminToken)'),
    );
  const id = keyIdOf(secret);
  const record = id !== undefined ? deps.keys.find(id) : deps.adminToken;
  if (!record)
    return failed(deps.throttle, [addressSubject], new ApiError('KUMIKI_ADMIN_UNAUTHORIZED', 'unknown API key'));
  const keySubject = `key:${record.id}`;
  const check = checkSecret(record, secret, input.now);
  if (check === 'wrong') {
    const keyRetry = record.id === ADMIN_TOKEN_KEY_ID ? undefined : deps.throttle.retryAfter(keySubject);
    if (keyRetry !== undefined) return { ...tooMany(keyRetry), claimed: record };
    const subjects = record.id === ADMIN_TOKEN_KEY_ID ? [addressSubject] : [addressSubject, keySubject];
    return {
      ...failed(deps.throttle, subjects, new ApiError('KUMIKI_ADMIN_UNAUTHORIZED', 'unknown API key')),
      claimed: record,
    };
  }
  if (check === 'revoked' || check === 'expired') {
    const error =
      check === 'revoked'
        ? new ApiError('KUMIKI_KEY_REVOKED', `API key ${record.id} was revoked`)
        : new ApiError('KUMIKI_KEY_EXPIRED', `API key ${record.id} expired`);
    return { ...failed(deps.throttle, [addressSubject], error), claimed: record, deadKey: check };
  }
  return {
    ok: true,
    principal: { keyId: record.id, keyName: record.name, role: record.role, scopes: scopesOf(record.role) },
  };
}

type Failure = Extract<Authentication, { ok: false }>;

function tooMany(retryAfterSeconds: number): Failure {
  return {
    ok: false,
    error: new ApiError('KUMIKI_TOO_MANY_FAILURES', 'too many failed authentications; try again later', undefined, {
      retryAfterSeconds,
    }),
  };
}

function failed(throttle: FailedAuthThrottle, subjects: readonly string[], error: ApiError): Failure {
  let blockStarted: string | undefined;
  for (const subject of subjects) if (throttle.recordFailure(subject)) blockStarted ??= subject;
  return blockStarted ? { ok: false, error, blockStarted } : { ok: false, error };
}

/** 403 naming the missing scope. */
export function forbidden(principal: Principal, scope: Scope): ApiError {
  return new ApiError(
    'KUMIKI_FORBIDDEN',
    `API key ${principal.keyId} (role ${principal.role}) lacks scope ${scope}`,
    undefined,
  );
}
