import Fastify, { type FastifyInstance } from 'fastify';
import {
  type AccessDecision,
  type ApiKeyRecord,
  auditDetails,
  FailedAuthThrottle,
  installAccessControl,
  KeyCache,
  newKeyId,
  newSecret,
  principalOf,
  requireScope,
  sendApiError,
  sha256Hex,
} from '../../../../services/common/access';
import { ApiError } from '../../../../services/common/error-codes';

function key(
  role: ApiKeyRecord['role'],
  overrides: Partial<ApiKeyRecord> = {},
): { record: ApiKeyRecord; secret: string } {
  const id = newKeyId();
  const secret = newSecret(id);
  return {
    secret,
    record: {
      id,
      name: `${role}-key`,
      role,
      secretHashes: [{ sha256: sha256Hex(secret), validUntil: null }],
      createdAt: 1,
      expiresAt: null,
      revokedAt: null,
      ...overrides,
    },
  };
}

describe('installAccessControl', () => {
  let app: FastifyInstance;
  let base = '';
  const clock = 1_000_000;
  const keys = new KeyCache();
  const decisions: AccessDecision[] = [];
  let failAudit = false;
  const analyst = key('analyst');
  const privacy = key('privacy-officer');
  const revoked = key('admin', { revokedAt: 5 });
  const expired = key('admin', { expiresAt: 10 });
  for (const k of [analyst, privacy, revoked, expired]) keys.put(k.record);

  beforeAll(async () => {
    app = Fastify();
    await app.register(
      async (v1) => {
        installAccessControl(v1, {
          keys,
          adminToken: 'adm_unit-test-token-123456',
          throttle: new FailedAuthThrottle({ maxFailures: 5, windowMs: 60_000, blockMs: 120_000 }, () => clock),
          now: () => clock,
          onDecision: async (decision) => {
            if (failAudit) throw new Error('audit down');
            decisions.push(decision);
          },
        });
        v1.setErrorHandler(async (error, request, reply) =>
          sendApiError(request, reply, error instanceof ApiError ? error : new ApiError('KUMIKI_INTERNAL', 'x')),
        );
        v1.get('/segments', requireScope('segment:read'), async (request) => {
          auditDetails(request).profileIds.push('p-1');
          return { role: principalOf(request).role };
        });
        v1.post('/privacy', requireScope('privacy:write'), async () => ({ ok: true }));
      },
      { prefix: '/v1' },
    );
    base = await app.listen({ host: '127.0.0.1', port: 0 });
  });
  afterAll(() => app.close());
  beforeEach(() => {
    decisions.length = 0;
    failAudit = false;
  });

  const call = async (path: string, token?: string, method = 'GET') => {
    const response = await fetch(`${base}${path}`, {
      method,
      headers: token === undefined ? {} : { authorization: `Bearer ${token}` },
    });
    return {
      status: response.status,
      retryAfter: response.headers.get('retry-after'),
      body: (await response.json()) as { code?: string; role?: string; message?: string },
    };
  };

  it('lets a key through to routes of its scopes and names the missing scope otherwise', async () => {
    expect(await call('/v1/segments', analyst.secret)).toMatchObject({ status: 200, body: { role: 'analyst' } });
    const denied = await call('/v1/privacy', analyst.secret, 'POST');
    expect(denied.status).toBe(403);
    expect(denied.body).toEqual({
      code: 'KUMIKI_FORBIDDEN',
      message: expect.stringContaining('lacks scope privacy:write'),
    });
    expect((await call('/v1/privacy', privacy.secret, 'POST')).status).toBe(200);
    expect((await call('/v1/segments', 'adm_unit-test-token-123456')).body).toEqual({ role: 'admin' });
    expect(decisions.map((d) => [d.principal?.keyId, d.outcome, d.status, d.scope])).toEqual([
      [analyst.record.id, 'allowed', 200, 'segment:read'],
      [analyst.record.id, 'denied', 403, 'privacy:write'],
      [privacy.record.id, 'allowed', 200, 'privacy:write'],
      ['admin-token', 'allowed', 200, 'segment:read'],
    ]);
    expect(decisions[0]!.details.profileIds).toEqual(['p-1']);
    expect(decisions[1]!.code).toBe('KUMIKI_FORBIDDEN');
  });

  it('answers 401 with a code per reason and records the claimed key', async () => {
    expect((await call('/v1/segments')).body.code).toBe('KUMIKI_ADMIN_UNAUTHORIZED');
    expect((await call('/v1/segments', `${analyst.secret.slice(0, -1)}x`)).body.code).toBe('KUMIKI_ADMIN_UNAUTHORIZED');
    expect((await call('/v1/segments', revoked.secret)).body.code).toBe('KUMIKI_KEY_REVOKED');
    expect((await call('/v1/segments', expired.secret)).body.code).toBe('KUMIKI_KEY_EXPIRED');
    expect(decisions.map((d) => [d.claimed?.id, d.outcome, d.deadKey])).toEqual([
      [undefined, 'denied', undefined],
      [analyst.record.id, 'denied', undefined],
      [revoked.record.id, 'denied', 'revoked'],
      [expired.record.id, 'denied', 'expired'],
    ]);
  });

  it('answers 503 instead of the result when the audit record cannot be written', async () => {
    failAudit = true;
    const result = await call('/v1/segments', analyst.secret);
    expect(result.status).toBe(503);
    expect(result.body.code).toBe('KUMIKI_UNAVAILABLE');
  });

  it('refuses to start with a route that names no scope', async () => {
    const bad = Fastify();
    await expect(
      bad.register(async (scope) => {
        installAccessControl(scope, {
          keys,
          throttle: new FailedAuthThrottle({ maxFailures: 1, windowMs: 1, blockMs: 1 }),
        });
        scope.get('/open', async () => 'x');
      }),
    ).rejects.toThrow('GET /open names no scope');
    await bad.close();
  });
});

describe('FailedAuthThrottle', () => {
  it('blocks a subject after N failures in the window, once, for blockMs', () => {
    let now = 0;
    const throttle = new FailedAuthThrottle({ maxFailures: 3, windowMs: 1000, blockMs: 5000 }, () => now);
    expect([throttle.recordFailure('a'), throttle.recordFailure('a')]).toEqual([false, false]);
    now = 1500; // the first two fell out of the window
    expect(throttle.recordFailure('a')).toBe(false);
    expect(throttle.retryAfter('a')).toBeUndefined();
    expect([throttle.recordFailure('a'), throttle.recordFailure('a')]).toEqual([false, true]);
    expect(throttle.retryAfter('a')).toBe(5);
    expect(throttle.recordFailure('a')).toBe(false);
    expect(throttle.retryAfter('b')).toBeUndefined();
    now = 6500;
    expect(throttle.retryAfter('a')).toBeUndefined();
  });
});
