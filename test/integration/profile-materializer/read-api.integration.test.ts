import Fastify, { type FastifyInstance } from 'fastify';
import type { ClickHouse } from '../../../services/common/clickhouse/client-factory';
import { encodeEventRows, ProfileRepository } from '../../../services/profile-materializer/profile.repository';
import { FailedAuthThrottle, KeyCache } from '../../../services/common/access';
import { readApiRoutes } from '../../../services/profile-materializer/read-api.routes';
import { parseRates } from '../../../services/profile-materializer/rfm/money';
import { writeRfmSettings } from '../../../services/profile-materializer/rfm/rfm.repository';
import { writeRfmSnapshot } from '../../../services/profile-materializer/rfm/rfm-snapshot';
import { identityRowsOfEvent, rowsOfChange, toEventRow } from '../../../services/profile-materializer/store-rows';
import type { StitchedEvent } from '../../../schemas';
import { embeddedHome, freshDatabase, quietLogger } from './materializer-test-env';

const token = 'test-admin-token-0123456789';
const auth = { authorization: `Bearer ${token}` };
const day = 86_400_000;
const now = Date.now();

function stitched(
  profileId: string,
  messageId: string,
  overrides: Partial<StitchedEvent['event']> = {},
  identifiers = [{ type: 'email', value: 'ann@example.com' }],
): StitchedEvent {
  return {
    profileId,
    identifiers,
    stitchedAt: now,
    event: {
      messageId,
      type: 'track',
      event: 'Order Completed',
      name: null,
      userId: null,
      anonymousId: 'anon-1',
      previousId: null,
      groupId: null,
      timestamp: now - day,
      sentAt: null,
      receivedAt: now - day,
      channel: 'web',
      source: 'test',
      context: '{}',
      properties: '{"order_id":"o1","revenue":12.5,"currency":"USD"}',
      traits: '{}',
      consent: {},
      ...overrides,
    },
  };
}

describe('read API', () => {
  const home = embeddedHome('read-api');
  let ch: ClickHouse;
  let app: FastifyInstance;
  let base = '';
  /** Real HTTP (fastify's inject needs an ESM-only module jest cannot load). */
  const request = async (options: {
    method: string;
    url: string;
    headers?: Record<string, string>;
    payload?: unknown;
  }) => {
    const res = await fetch(`${base}${options.url}`, {
      method: options.method,
      headers: { ...(options.payload !== undefined ? { 'content-type': 'application/json' } : {}), ...options.headers },
      ...(options.payload !== undefined ? { body: JSON.stringify(options.payload) } : {}),
    });
    const text = await res.text();
    return { statusCode: res.status, json: () => JSON.parse(text) };
  };

  beforeAll(async () => {
    ch = await freshDatabase(home);
    await writeRfmSettings(ch, {
      purchaseEvents: ['Order Completed'],
      refundEvents: ['Order Refunded'],
      windowDays: 365,
      rates: parseRates('', 'USD'),
      reportingCurrency: 'USD',
    });
    const repository = new ProfileRepository(ch);
    const records = [
      stitched('p-ann', 'm1'),
      stitched('p-ann', 'm2', {
        type: 'identify',
        event: null,
        properties: '{}',
        traits: '{"name":"Ann","plan":"gold"}',
        consent: { email: true },
        timestamp: now - 2 * day,
      }),
      stitched('p-old', 'm3', { properties: '{"order_id":"o2","revenue":"7.25"}' }, [
        { type: 'user_id', value: 'u-9' },
      ]),
    ];
    await repository.writeEvents(encodeEventRows(records.map(toEventRow)));
    await repository.writeIdentities(records.flatMap(identityRowsOfEvent));
    const merge = rowsOfChange({
      changeId: 'c1',
      kind: 'merge',
      profileId: 'p-ann',
      absorbedProfileIds: ['p-old'],
      identifiers: [
        { type: 'user_id', value: 'u-9' },
        { type: 'email', value: 'ann@example.com' },
      ],
      rule: 'email',
      reason: null,
      messageId: 'm4',
      eventTime: now - day,
      changedAt: now,
    });
    await repository.writeIdentities(merge.identities);
    await repository.writeLinks(merge.links);
    await repository.writeAliases([{ absorbed: 'p-old', survivor: 'p-ann', mergedAt: now, messageId: 'm4' }]);
    await repository.writeSnapshots(
      await repository.readSnapshots(['p-ann'], await repository.loadAliasGroups(['p-ann'])),
    );
    await writeRfmSnapshot(ch, Date.now());
    await ch.command('CREATE TABLE scratch (x UInt8) ENGINE = MergeTree ORDER BY x');

    app = Fastify();
    await app.register(
      readApiRoutes({
        clickhouse: () => ch,
        access: {
          keys: new KeyCache(),
          adminToken: token,
          throttle: new FailedAuthThrottle({ maxFailures: 1000, windowMs: 60_000, blockMs: 60_000 }),
        },
        logger: quietLogger,
        limits: { maxExecutionSeconds: 1, maxResultRows: 100, maxMemoryBytes: 500_000_000 },
      }),
    );
    base = await app.listen({ host: '127.0.0.1', port: 0 });
  });
  afterAll(async () => {
    await app.close();
    await ch.close();
  });

  const sql = (query: string, params?: Record<string, unknown>) =>
    request({ method: 'POST', url: '/v1/sql', headers: auth, payload: { query, ...(params ? { params } : {}) } });

  it('answers SQL with typed parameters', async () => {
    const res = await sql(
      'SELECT profile_id, count() AS n FROM events WHERE profile_id = {id:String} GROUP BY profile_id',
      { id: 'p-ann' },
    );
    expect(res.statusCode).toBe(200);
    expect(res.json()).toEqual({ rows: [{ profile_id: 'p-ann', n: '3' }] });
  });

  it('refuses writes, DDL and settings changes, enforced by ClickHouse', async () => {
    for (const query of [
      'INSERT INTO scratch VALUES (1)',
      'ALTER TABLE scratch DELETE WHERE 1',
      'DROP TABLE scratch',
      'TRUNCATE TABLE scratch',
      'CREATE TABLE other (x UInt8) ENGINE = Memory',
      'SELECT 1 SETTINGS max_execution_time = 1000',
      'SELECT 1 SETTINGS readonly = 0',
      "SELECT * FROM file('/etc/passwd', 'LineAsString')",
    ]) {
      const res = await sql(query);
      expect({ query, status: res.statusCode, code: res.json().code }).toEqual({
        query,
        status: 403,
        code: 'KUMIKI_SQL_READ_ONLY',
      });
    }
    const set = await sql('SET max_execution_time = 1000');
    expect(set.statusCode).toBeGreaterThanOrEqual(400);
    expect(set.statusCode).toBeLessThan(500);
    const multi = await sql('SELECT 1; DROP TABLE scratch');
    expect(multi.statusCode).toBe(400);
    const still = await ch.query<{ n: string }>(
      'SELECT count() AS n FROM system.tables WHERE database = currentDatabase() AND name = {t:String}',
      { t: 'scratch' },
    );
    expect(still).toEqual([{ n: '1' }]);
    expect(await ch.query('SELECT * FROM scratch')).toEqual([]);
  });

  it('answers bad SQL with 400 and ClickHouse’s message', async () => {
    const res = await sql('SELEC 1');
    expect(res.statusCode).toBe(400);
    expect(res.json()).toMatchObject({ code: 'KUMIKI_SQL_ERROR', message: expect.stringMatching(/Syntax error/) });
    const unknown = await sql('SELECT nope FROM events');
    expect(unknown.statusCode).toBe(400);
    expect(unknown.json().message).toMatch(/nope/);
    const missingParam = await sql('SELECT {x:UInt8}');
    expect(missingParam.statusCode).toBe(400);
  });

  it('answers parameter values ClickHouse cannot take with 400, not 500', async () => {
    for (const params of [{ a: -9007199254740992 }, { a: [2 ** 60] }]) {
      const res = await sql('SELECT {a:String} AS a', params);
      expect(res.statusCode).toBe(400);
      expect(res.json()).toMatchObject({ code: 'KUMIKI_SQL_ERROR', message: expect.stringMatching(/unsafe integer/) });
    }
  });

  it('stops long queries (408) and large results (422)', async () => {
    const slow = await sql('SELECT count() FROM numbers(100000000000)');
    expect(slow.statusCode).toBe(408);
    expect(slow.json().code).toBe('KUMIKI_SQL_TIMEOUT');
    const big = await sql('SELECT number FROM numbers(1000)');
    expect(big.statusCode).toBe(422);
    expect(big.json().code).toBe('KUMIKI_SQL_LIMIT');
    // The session that served them still works.
    expect((await sql('SELECT 1 AS one')).json()).toEqual({ rows: [{ one: 1 }] });
  });

  it('wants the admin token', async () => {
    const none = await request({ method: 'POST', url: '/v1/sql', payload: { query: 'SELECT 1' } });
    expect(none.statusCode).toBe(401);
    expect(none.json()).toMatchObject({ code: 'KUMIKI_ADMIN_UNAUTHORIZED' });
    const wrong = await request({
      method: 'GET',
      url: '/v1/profiles/email/ann@example.com',
      headers: { authorization: 'Bearer nope' },
    });
    expect(wrong.statusCode).toBe(401);
    const body = await request({ method: 'POST', url: '/v1/sql', headers: auth, payload: { params: {} } });
    expect(body.json()).toEqual({
      code: 'KUMIKI_MISSING_FIELD',
      message: 'query must be a non-empty string',
      field: 'query',
    });
  });

  it('returns a profile by any identifier, merged profiles included', async () => {
    for (const [type, value] of [
      ['email', ' Ann@Example.com'],
      ['user_id', 'u-9'],
    ]) {
      const res = await request({
        method: 'GET',
        url: `/v1/profiles/${type}/${encodeURIComponent(value!)}`,
        headers: auth,
      });
      expect(res.statusCode).toBe(200);
      expect(res.json()).toEqual({
        profileId: 'p-ann',
        identifiers: [
          { type: 'email', value: 'ann@example.com' },
          { type: 'user_id', value: 'u-9' },
        ],
        traits: { name: 'Ann', plan: 'gold' },
        rfm: { recencyDays: 1, frequency: 2, monetary: 19.75, r: 1, f: 1, m: 1, label: 'Lost' },
        segments: [],
        consent: { email: true },
        firstSeen: new Date(now - 2 * day).toISOString(),
        lastSeen: new Date(now - day).toISOString(),
        // No model version yet (predictions: docs/predictions.md).
        predictions: null,
      });
    }
    const missing = await request({ method: 'GET', url: '/v1/profiles/email/nobody@example.com', headers: auth });
    expect(missing.statusCode).toBe(404);
    expect(missing.json().code).toBe('KUMIKI_PROFILE_NOT_FOUND');
  });

  it('explains a profile with the links and merges behind it', async () => {
    const res = await request({ method: 'GET', url: '/v1/profiles/user_id/u-9/explain', headers: auth });
    expect(res.statusCode).toBe(200);
    const body = res.json();
    expect(body.profileId).toBe('p-ann');
    expect(body.mergedProfiles).toEqual([
      { profileId: 'p-old', mergedAt: new Date(now).toISOString(), messageId: 'm4' },
    ]);
    expect(body.links).toEqual([
      expect.objectContaining({
        type: 'email',
        value: 'ann@example.com',
        rule: 'merged',
        messageId: 'm4',
        profileId: 'p-ann',
      }),
      expect.objectContaining({
        type: 'user_id',
        value: 'u-9',
        rule: 'merged',
        messageId: 'm4',
        reason: 'merged p-old into p-ann (rule email)',
      }),
    ]);
  });
});
