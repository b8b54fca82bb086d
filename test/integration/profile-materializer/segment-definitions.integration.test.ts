import Fastify from 'fastify';
import { FailedAuthThrottle, installAccessControl, KeyCache } from '../../../services/common/access';
import type { ClickHouse } from '../../../services/common/clickhouse/client-factory';
import { toReadApiError } from '../../../services/profile-materializer/read-api.routes';
import { segmentRoutes } from '../../../services/profile-materializer/segments/segments.routes';
import {
  InvalidSegmentError,
  SegmentInUseError,
  SegmentNotFoundError,
} from '../../../services/profile-materializer/segments/segment-errors';
import { evaluationParams, type SegmentSource } from '../../../services/profile-materializer/segments/segment-query';
import {
  createSegment,
  deleteSegment,
  getSegment,
  listSegments,
  segmentSource,
} from '../../../services/profile-materializer/segments/segment.repository';
import { defaultSegmentLimits } from '../../../services/profile-materializer/segments/validate-segment-sql';
import { embeddedHome } from './materializer-test-env';

import { HOUR, ago, membersOf, now, segmentsDatabase } from './segments-dataset';

/**
 * SQL segments and the definitions store (create, list, get, delete, the HTTP routes) against
 * real chDB (the people are described in segments-dataset.ts).
 */
describe('segment definitions on chDB', () => {
  const home = embeddedHome('segment-definitions');
  let ch: ClickHouse;
  beforeAll(async () => {
    ch = await segmentsDatabase(home);
  });
  afterAll(async () => ch.close());
  const members = (source: SegmentSource, candidates?: readonly string[]): Promise<string[]> =>
    membersOf(ch, source, candidates);

  describe('SQL segments', () => {
    const options = { limits: defaultSegmentLimits, now: () => now };

    it('are saved after the engine checked them and evaluate with now, consent and candidates', async () => {
      const segment = await createSegment(
        ch,
        {
          name: 'recent buyers',
          sql: "SELECT profile_id FROM events WHERE event = 'Order Completed' AND timestamp > {now:DateTime64(3, 'UTC')} - INTERVAL 5 DAY AND timestamp <= {now:DateTime64(3, 'UTC')};",
          purpose: 'marketing',
        },
        options,
      );
      expect(segment).toMatchObject({ kind: 'sql', rule: null, purpose: 'marketing', params: {} });
      expect(segment.sql).not.toMatch(/;\s*$/);
      expect(await members(segmentSource(segment))).toEqual(['alice', 'carol']);
      expect(await members(segmentSource(segment), ['carol', 'dave'])).toEqual(['carol']);
      expect(await members({ ...segmentSource(segment), purpose: null })).toEqual(['alice', 'carol', 'dave', 'frank']);
    });

    it('accepts WITH, UNION and a trailing comment', async () => {
      const segment = await createSegment(
        ch,
        {
          name: 'union',
          sql: "WITH b AS (SELECT profile_id FROM profiles WHERE JSONExtractString(traits, 'plan') = 'free') SELECT profile_id FROM b UNION ALL SELECT 'dave' -- and dave",
        },
        options,
      );
      expect(await members(segmentSource(segment))).toEqual(['bob', 'dave']);
    });

    it.each([
      [
        'an INSERT',
        'INSERT INTO segments_store (segment_id) VALUES (1)',
        /must be a read-only SELECT; ClickHouse parses this as InsertQuery/,
      ],
      ['DDL', 'DROP TABLE events_store', /must be a read-only SELECT; ClickHouse parses this as DropQuery/],
      ['SHOW', 'SHOW TABLES', /must be a read-only SELECT; ClickHouse parses this as ShowTables/],
      ['two statements', 'SELECT 1 AS profile_id; SELECT 2 AS profile_id', /one SELECT statement; got 2 statements/],
      [
        'no profile_id',
        'SELECT profile_id AS id, traits FROM profiles',
        /must return a profile_id column; this SQL returns id, traits/,
      ],
      ['a non-String profile_id', 'SELECT 1 AS profile_id', /profile_id must be a String column; it is UInt8/],
      ['an unknown table', 'SELECT profile_id FROM no_such_table', /ClickHouse refused the SQL: .*no_such_table/],
      ['a syntax error', 'SELEC profile_id FROM profiles', /ClickHouse cannot parse the SQL: Syntax error/],
      // chDB's message ends at the NUL byte; it was taken for a failure of the store, 500.
      [
        'a NUL byte',
        'SELECT profile_id FROM profiles WHERE 1 \u0000',
        /ClickHouse cannot parse the SQL: .*Syntax error/,
      ],
      [
        'a file read',
        "SELECT line AS profile_id FROM file('/etc/hostname', 'LineAsString')",
        /must be read-only: .*readonly mode/,
      ],
      [
        'settings that lift the limits',
        'SELECT profile_id FROM profiles SETTINGS readonly = 0',
        /must be read-only: .*Cannot modify 'readonly' setting/,
      ],
      [
        'an unknown parameter',
        'SELECT profile_id FROM profiles WHERE profile_id = {id:String}',
        /no parameters other than \{now:DateTime64\(3, 'UTC'\)\}: Substitution `id` is not set/,
      ],
    ])('refuses %s with KUMIKI_INVALID_SEGMENT', async (_name, sql, message) => {
      const error = await createSegment(ch, { name: 'bad', sql }, options).catch((e: unknown) => e);
      expect(error).toBeInstanceOf(InvalidSegmentError);
      expect(error).toMatchObject({ code: 'KUMIKI_INVALID_SEGMENT', isRetriable: false, field: 'sql' });
      expect((error as Error).message).toMatch(message);
      expect((error as InvalidSegmentError).toApiError().body()).toMatchObject({
        code: 'KUMIKI_INVALID_SEGMENT',
        field: 'sql',
      });
    });

    it('refuses a query over the limits on current data', async () => {
      const error = await createSegment(
        ch,
        { name: 'heavy', sql: 'SELECT arrayJoin(groupArray(toString(number))) AS profile_id FROM numbers(5000000)' },
        { ...options, limits: { maxExecutionSeconds: 30, maxMemoryBytes: 10_000_000 } },
      ).catch((e: unknown) => e);
      expect(error).toBeInstanceOf(InvalidSegmentError);
      expect((error as Error).message).toMatch(/exceeded a limit on current data|took longer/);
    });
  });

  describe('the definitions store', () => {
    const options = { limits: defaultSegmentLimits, now: () => now };

    it('creates, lists, gets and deletes (a versioned row), and keeps referenced segments', async () => {
      let n = 0;
      const ids = { newId: () => `seg_store_${++n}` };
      const pro = await createSegment(
        ch,
        { name: 'Pro plan', rule: { trait: 'plan', op: 'eq', value: 'pro' } },
        { ...options, ...ids },
      );
      expect(pro).toEqual({
        id: 'seg_store_1',
        name: 'Pro plan',
        kind: 'rule',
        sql: expect.stringContaining('FROM profiles'),
        params: { p1: 'plan', p2: 'pro' },
        rule: { trait: 'plan', op: 'eq', value: 'pro' },
        purpose: null,
        createdAt: new Date(now).toISOString(),
      });
      // The stored SQL runs as it is with its params and now.
      const stored = await ch.query<{ profile_id: string }>(pro.sql, { ...pro.params, ...evaluationParams(now) });
      expect(stored.map((r) => r.profile_id).sort()).toEqual(['alice', 'carol']);

      const nested = await createSegment(
        ch,
        {
          name: 'Pro with consent',
          rule: { and: [{ inSegment: pro.id }, { consent: 'marketing' }] },
          purpose: 'marketing',
        },
        { ...options, ...ids },
      );
      expect(nested.params).toMatchObject({ p1: pro.id, p2: 'marketing', purpose: 'marketing' });
      await ch.insert('segment_members_store', [
        { segment_id: pro.id, profile_id: 'alice', is_member: 1, since: ago(0), changed_at: ago(0), version: 1 },
        { segment_id: pro.id, profile_id: 'carol', is_member: 1, since: ago(0), changed_at: ago(0), version: 1 },
        { segment_id: pro.id, profile_id: 'bob', is_member: 1, since: ago(0), changed_at: ago(0), version: 1 },
      ]);
      expect(await members(segmentSource(nested))).toEqual(['alice', 'carol']);

      expect((await listSegments(ch)).map((s) => s.id)).toEqual(expect.arrayContaining([pro.id, nested.id]));
      await expect(getSegment(ch, nested.id)).resolves.toEqual(nested);

      await expect(deleteSegment(ch, pro.id, options)).rejects.toBeInstanceOf(SegmentInUseError);
      await deleteSegment(ch, nested.id, options); // same clock: the version still goes up
      await expect(getSegment(ch, nested.id)).rejects.toBeInstanceOf(SegmentNotFoundError);
      await deleteSegment(ch, pro.id, options);
      await expect(getSegment(ch, pro.id)).rejects.toMatchObject({ code: 'KUMIKI_SEGMENT_NOT_FOUND' });
      expect((await listSegments(ch)).map((s) => s.id)).not.toContain(pro.id);
      // The delete is a row of its own with a higher version, and wins under FINAL.
      const [latest] = await ch.query<{ deleted: number; name: string }>(
        'SELECT deleted, name FROM segments_store FINAL WHERE segment_id = {id:String}',
        { id: pro.id },
      );
      expect(latest).toEqual({ deleted: 1, name: 'Pro plan' });
      await expect(deleteSegment(ch, pro.id, options)).rejects.toBeInstanceOf(SegmentNotFoundError);
    });

    it('answers over HTTP: 201, 200, members, 204, then 404; 400 with the field for invalid definitions', async () => {
      const app = Fastify();
      // As inside the read API's authenticated /v1 scope: errors become { code, message, field? }.
      const adminToken = 'adm_segment-definitions-test';
      await app.register(
        async (v1) => {
          installAccessControl(v1, {
            keys: new KeyCache(),
            adminToken,
            throttle: new FailedAuthThrottle({ maxFailures: 5, windowMs: 60_000, blockMs: 60_000 }),
            onDecision: async () => undefined,
          });
          v1.setErrorHandler(async (error, _request, reply) => {
            const apiError = toReadApiError(error);
            return reply.code(apiError.status).send(apiError.body());
          });
          await v1.register(segmentRoutes({ clickhouse: () => ch, limits: defaultSegmentLimits, now: () => now }));
        },
        { prefix: '/v1' },
      );
      const base = await app.listen({ host: '127.0.0.1', port: 0 });
      // Real HTTP: fastify's inject needs an ESM-only module jest cannot load.
      const call = async (options: {
        method: string;
        url: string;
        payload?: unknown;
      }): Promise<{ statusCode: number; json: <T = unknown>() => T }> => {
        const res = await fetch(`${base}${options.url}`, {
          method: options.method,
          headers: {
            authorization: `Bearer ${adminToken}`,
            ...(options.payload === undefined ? {} : { 'content-type': 'application/json' }),
          },
          ...(options.payload === undefined ? {} : { body: JSON.stringify(options.payload) }),
        });
        const text = await res.text();
        return { statusCode: res.status, json: <T>() => JSON.parse(text) as T };
      };
      const bad = await call({
        method: 'POST',
        url: '/v1/segments',
        payload: { name: 'x', rule: { or: [{ trait: 'plan', op: 'matches', value: 'p' }] } },
      });
      expect(bad.statusCode).toBe(400);
      expect(bad.json()).toEqual({
        code: 'KUMIKI_INVALID_SEGMENT',
        field: 'rule.or[0].op',
        message: expect.stringContaining('unknown operator "matches"'),
      });
      const insert = await call({
        method: 'POST',
        url: '/v1/segments',
        payload: { name: 'x', sql: 'INSERT INTO segments_store (segment_id) VALUES (1)' },
      });
      expect(insert.statusCode).toBe(400);
      expect(insert.json()).toMatchObject({ code: 'KUMIKI_INVALID_SEGMENT', field: 'sql' });
      const noProfile = await call({
        method: 'POST',
        url: '/v1/segments',
        payload: { name: 'x', sql: 'SELECT 1 AS id' },
      });
      expect(noProfile.json()).toMatchObject({
        code: 'KUMIKI_INVALID_SEGMENT',
        field: 'sql',
        message: expect.stringContaining('profile_id'),
      });

      const created = await call({
        method: 'POST',
        url: '/v1/segments',
        payload: {
          name: 'Birthdays',
          rule: { trait: 'birthday', part: 'month', op: 'eq', value: 'now' },
          purpose: 'marketing',
        },
      });
      expect(created.statusCode).toBe(201);
      const segment = created.json<{ id: string }>();
      expect(segment).toMatchObject({
        name: 'Birthdays',
        kind: 'rule',
        purpose: 'marketing',
        params: { p1: 'birthday', purpose: 'marketing' },
      });
      expect((await call({ method: 'GET', url: `/v1/segments/${segment.id}` })).json()).toEqual(segment);
      expect(
        (await call({ method: 'GET', url: '/v1/segments' }))
          .json<{ segments: { id: string }[] }>()
          .segments.map((s) => s.id),
      ).toContain(segment.id);

      await ch.insert(
        'segment_members_store',
        ['alice', 'carol'].map((p) => ({
          segment_id: segment.id,
          profile_id: p,
          is_member: 1,
          since: ago(HOUR),
          changed_at: ago(HOUR),
          version: 1,
        })),
      );
      const page = await call({ method: 'GET', url: `/v1/segments/${segment.id}/members?limit=1` });
      expect(page.json()).toEqual({
        segmentId: segment.id,
        members: [{ profileId: 'alice', since: new Date(now - HOUR).toISOString() }],
        next: 'alice',
      });
      const rest = await call({ method: 'GET', url: `/v1/segments/${segment.id}/members?limit=1&after=alice` });
      expect(rest.json<{ members: { profileId: string }[] }>().members.map((m) => m.profileId)).toEqual(['carol']);

      expect((await call({ method: 'DELETE', url: `/v1/segments/${segment.id}` })).statusCode).toBe(204);
      const gone = await call({ method: 'GET', url: `/v1/segments/${segment.id}` });
      expect(gone.statusCode).toBe(404);
      expect(gone.json()).toEqual({ code: 'KUMIKI_SEGMENT_NOT_FOUND', message: `no segment has id "${segment.id}"` });
      expect((await call({ method: 'GET', url: `/v1/segments/${segment.id}/members` })).statusCode).toBe(404);
      await app.close();
    });

    it('refuses unknown rule operators, fields and referenced segments, naming them', async () => {
      await expect(
        createSegment(ch, { name: 'x', rule: { and: [{ trait: 'plan', op: 'startsWith', value: 'p' }] } }, options),
      ).rejects.toMatchObject({
        code: 'KUMIKI_INVALID_SEGMENT',
        field: 'rule.and[0].op',
        message: expect.stringContaining('unknown operator "startsWith"'),
      });
      await expect(
        createSegment(ch, { name: 'x', rule: { consent: 'marketing', purpose: 'x' } }, options),
      ).rejects.toMatchObject({ field: 'rule.purpose', message: 'rule.purpose: unknown field "purpose"' });
      await expect(createSegment(ch, { name: 'x', rule: { inSegment: 'seg_nope' } }, options)).rejects.toMatchObject({
        message: 'rule: inSegment refers to unknown segment "seg_nope"',
      });
    });
  });
});
