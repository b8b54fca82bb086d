import type { FastifyInstance, FastifyReply, FastifyRequest, RouteShorthandOptions } from 'fastify';
import { type ApiError, errorBody, type ErrorCode } from '../error-codes';
import { type ApiKeyRecord, adminTokenRecord } from './api-key';
import { authenticate, forbidden, type KeyDirectory, type Principal } from './authenticate';
import type { FailedAuthThrottle } from './failed-auth-throttle';
import type { Scope } from './scopes';

/**
 * Access control for an HTTP scope of any kumiki service:
 *
 *   installAccessControl(v1, { keys, adminToken, throttle, onDecision });
 *   v1.get('/segments', requireScope('segment:read'), handler);
 *
 * Every route registered in the scope after `installAccessControl` must name its scope with
 * `requireScope`; one that does not fails the service's start. Each request is authenticated
 * (401 KUMIKI_ADMIN_UNAUTHORIZED / KUMIKI_KEY_REVOKED / KUMIKI_KEY_EXPIRED, 429
 * KUMIKI_TOO_MANY_FAILURES with Retry-After) and checked against the route's scope (403
 * KUMIKI_FORBIDDEN naming it) before the handler runs. `onDecision` receives every call,
 * allowed or denied, before its answer leaves: when it fails, the answer becomes 503 and says
 * so, so that nothing is answered without its audit record.
 */
export interface AccessControlOptions {
  readonly keys: KeyDirectory;
  /** The credentials file's adminToken: an `admin` key with id `admin-token`. */
  readonly adminToken?: string;
  readonly throttle: FailedAuthThrottle;
  readonly now?: () => number;
  readonly onDecision?: (decision: AccessDecision) => Promise<void>;
}

/** What a route handler adds to its call's audit record. */
export interface AuditDetails {
  /** What was read or changed: `segment:<id>`, `key:<id>`, `profile`, … */
  resource?: string;
  /** Profiles whose data the answer carried. */
  profileIds: string[];
  /** Identifiers the request named (kept in the audit trail only as keyed hashes). */
  identifiers: { type: string; value: string }[];
  sql?: string;
  tables?: string[];
  columns?: string[];
  rows?: number;
  /** The answer carried raw identifiers or personal traits. */
  piiReturned?: boolean;
}

export interface AccessDecision {
  readonly at: number;
  readonly source: string;
  readonly method: string;
  /** The route's pattern (`/v1/profiles/:type/:value`), or the URL path for unknown routes. */
  readonly route: string;
  readonly scope: Scope | undefined;
  /** Set when the key authenticated; `claimed` when a known key was presented but refused. */
  readonly principal: Principal | undefined;
  readonly claimed: ApiKeyRecord | undefined;
  readonly outcome: 'allowed' | 'denied' | 'failed';
  readonly status: number;
  readonly code: ErrorCode | undefined;
  readonly details: AuditDetails;
  /** `address:…` or `key:…` when this failure started a throttle block. */
  readonly blockStarted: string | undefined;
  readonly deadKey: 'revoked' | 'expired' | undefined;
}

declare module 'fastify' {
  interface FastifyContextConfig {
    /** The scope a route needs (`requireScope`). */
    scope?: Scope;
    /** Any valid key may call the route (`requireAnyKey`). */
    anyKey?: boolean;
  }
}

interface CallState {
  principal?: Principal;
  claimed?: ApiKeyRecord;
  blockStarted?: string;
  deadKey?: 'revoked' | 'expired';
  code?: ErrorCode;
  readonly details: AuditDetails;
}

const calls = new WeakMap<FastifyRequest, CallState>();

function stateOf(request: FastifyRequest): CallState {
  let state = calls.get(request);
  if (!state) {
    state = { details: { profileIds: [], identifiers: [] } };
    calls.set(request, state);
  }
  return state;
}

/** Route options naming the scope a route needs. */
export function requireScope(scope: Scope): RouteShorthandOptions {
  return { config: { scope } };
}

/**
 * Route options for a route any valid key may call, whatever its scopes: only `GET /v1/whoami`,
 * which tells a key what it may do. Still authenticated, throttled and audited.
 */
export function requireAnyKey(): RouteShorthandOptions {
  return { config: { anyKey: true } };
}

/** The authenticated key of a request (routes under `installAccessControl` always have one). */
export function principalOf(request: FastifyRequest): Principal {
  const principal = calls.get(request)?.principal;
  if (!principal) throw new Error('principalOf: request was not authenticated by installAccessControl');
  return principal;
}

/** Whether the request's key may see raw identifiers and personal traits. */
export function mayReadPii(request: FastifyRequest): boolean {
  return principalOf(request).scopes.has('pii:read');
}

/** The audit details of the request, for its handler to fill in. */
export function auditDetails(request: FastifyRequest): AuditDetails {
  return stateOf(request).details;
}

/** The code an error answer is sent with (set by the scope's error handler through `sendApiError`). */
export function sendApiError(request: FastifyRequest, reply: FastifyReply, error: ApiError): FastifyReply {
  stateOf(request).code = error.code;
  if (error.retryAfterSeconds !== undefined) void reply.header('retry-after', String(error.retryAfterSeconds));
  return reply.code(error.status).send(error.body());
}

function scopeOfRoute(request: FastifyRequest): Scope | undefined {
  return (request.routeOptions.config as { scope?: Scope } | undefined)?.scope;
}

export function installAccessControl(scope: FastifyInstance, options: AccessControlOptions): void {
  const now = options.now ?? Date.now;
  const adminToken = options.adminToken ? adminTokenRecord(options.adminToken) : undefined;

  scope.addHook('onRoute', (route) => {
    const config = route.config as { scope?: Scope; anyKey?: boolean } | undefined;
    if (!config?.scope && !config?.anyKey)
      throw new Error(`route ${String(route.method)} ${route.url} names no scope (use requireScope)`);
  });

  scope.addHook('onRequest', async (request) => {
    const state = stateOf(request);
    const result = authenticate(
      { authorization: request.headers.authorization, source: request.ip, now: now() },
      { keys: options.keys, adminToken, throttle: options.throttle },
    );
    if (!result.ok) {
      if (result.claimed) state.claimed = result.claimed;
      if (result.blockStarted) state.blockStarted = result.blockStarted;
      if (result.deadKey) state.deadKey = result.deadKey;
      throw result.error;
    }
    state.principal = result.principal;
    const needed = scopeOfRoute(request);
    if (needed && !result.principal.scopes.has(needed)) throw forbidden(result.principal, needed);
  });

  scope.addHook('onSend', async (request, reply, payload) => {
    if (!options.onDecision) return payload;
    const state = stateOf(request);
    const status = reply.statusCode;
    const decision: AccessDecision = {
      at: now(),
      source: request.ip,
      method: request.method,
      route: request.routeOptions.url ?? request.url.split('?')[0]!,
      scope: scopeOfRoute(request),
      principal: state.principal,
      claimed: state.claimed,
      outcome: status < 400 ? 'allowed' : status === 401 || status === 403 || status === 429 ? 'denied' : 'failed',
      status,
      code: state.code,
      details: state.details,
      blockStarted: state.blockStarted,
      deadKey: state.deadKey,
    };
    try {
      await options.onDecision(decision);
      return payload;
    } catch (error) {
      request.log.error({ err: error }, 'audit record not written; answering 503');
      void reply.code(503).header('retry-after', '5').header('content-type', 'application/json; charset=utf-8');
      return JSON.stringify(
        errorBody('KUMIKI_UNAVAILABLE', 'the audit record of this call could not be written; retry later'),
      );
    }
  });
}
