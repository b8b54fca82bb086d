import Fastify from 'fastify';
import type { ClickHouse } from '../../../services/common/clickhouse/client-factory';
import { toReadApiError } from '../../../services/profile-materializer/read-api.routes';
import { segmentRoutes } from '../../../services/profile-materializer/segments/segments.routes';
import { parseRates } from '../../../services/profile-materializer/rfm/money';
import { readRfm, writeRfmSettings } from '../../../services/profile-materializer/rfm/rfm.repository';
import {
  InvalidSegmentError,
  SegmentInUseError,
  SegmentNotFoundError,
} from '../../../services/profile-materializer/segments/segment-errors';
import {
  evaluationParams,
  segmentQuery,
  type SegmentSource,
} from '../../../services/profile-materializer/segments/segment-query';
import { dateTime64Text } from '../../../services/common/clickhouse/datetime64';
import { parseRule } from '../../../services/profile-materializer/segments/segment-rule';
import {
  createSegment,
  deleteSegment,
  getSegment,
  listSegments,
  segmentSource,
} from '../../../services/profile-materializer/segments/segment.repository';
import { defaultSegmentLimits } from '../../../services/profile-materializer/segments/validate-segment-sql';
import { embeddedHome, freshDatabase } from './materializer-test-env';

/**
 * Segment definitions against real chDB: a small known dataset written straight into the store
 * tables, every rule kind evaluated at a controlled `now`, exact member lists asserted.
 *
 * The people (now = 2026-11-23 12:00 UTC):
 *   alice  pro, 34, Paris, tags vip, birthday 1990-11-03, marketing consent. Orders o1 (web, shoes,
 *          50, 4 days ago) and o2 (store, 30, 10 days ago); a web page view 20 days ago; her absorbed
 *          profile alice-anon viewed a page on mobile 1 day ago.
 *   bob    free, 19, birthday 1985-04-12, marketing refused. Added to cart 2 days ago, no order
 *          (his order "in 1 hour" is after now and must be ignored).
 *   carol  pro, birthday 2000-11-30, marketing consent. Added to cart 3 days ago and bought 12 h
 *          later (order o3 reported twice: web and store import).
 *   dave   45, no consent recorded. Added to cart 4 d 8 h ago, bought 2 h later (o4, 4 d 6 h ago).
 *   erin   added to cart 30 days ago (never bought) and 3 hours ago.
 *   frank  bought o5 (200) 3 days ago, then added to cart 2 days ago without buying.
 */
const now = Date.UTC(2026, 10, 23, 12, 0, 0);
const HOUR = 3_600_000;
const DAY = 24 * HOUR;
const ago = (ms: number): string => dateTime64Text(now - ms);

let messages = 0;
function event(profile: string, at: string, fields: Record<string, unknown>): Record<string, unknown> {
  messages += 1;
  return {
    message_id: `m${messages}`,
    profile_id: profile,
    type: 'track',
    event: '',
    timestamp: at,
    received_at: at,
    channel: 'web',
    version: messages,
    ...fields,
  };
}
const order = (
  profile: string,
  at: string,
  id: string,
  revenue: number,
  fields: Record<string, unknown> = {},
): Record<string, unknown> =>
  event(profile, at, { event: 'Order Completed', order_id: id, revenue, currency: 'USD', ...fields });
const added = (profile: string, at: string): Record<string, unknown> => event(profile, at, { event: 'Product Added' });
const page = (profile: string, at: string, channel: string): Record<string, unknown> =>
  event(profile, at, { type: 'page', name: 'Home', channel });

const events = [
  order('alice', ago(4 * DAY), 'o1', 50, { properties: JSON.stringify({ category: 'shoes' }) }),
  order('alice', ago(10 * DAY), 'o2', 30, { channel: 'store' }),
  page('alice', ago(20 * DAY), 'web'),
  page('alice-anon', ago(1 * DAY), 'mobile'),
  added('bob', ago(2 * DAY)),
  order('bob', dateTime64Text(now + HOUR), 'o-future', 999),
  added('carol', ago(3 * DAY)),
  order('carol', ago(2.5 * DAY), 'o3', 20),
  order('carol', ago(2.5 * DAY - 60_000), 'o3', 20, { channel: 'store' }),
  added('dave', ago(4 * DAY + 8 * HOUR)),
  order('dave', ago(4 * DAY + 6 * HOUR), 'o4', 10),
  added('erin', ago(30 * DAY)),
  added('erin', ago(3 * HOUR)),
  order('frank', ago(3 * DAY), 'o5', 200),
  added('frank', ago(2 * DAY)),
];

function profile(
  id: string,
  traits: Record<string, unknown>,
  consent: Record<string, boolean> = {},
): Record<string, unknown> {
  return {
    profile_id: id,
    traits: JSON.stringify(traits),
    first_seen: ago(40 * DAY),
    last_seen: ago(0),
    consent,
    channels: [],
    identifiers: [],
    version: 1,
  };
}

const profiles = [
  profile(
    'alice',
    {
      plan: 'pro',
      age: 34,
      email: 'alice@example.com',
      birthday: '1990-11-03',
      tags: ['vip', 'newsletter'],
      address: { city: 'Paris' },
    },
    { marketing: true },
  ),
  profile('alice-anon', { plan: 'pro' }, { marketing: true }),
  profile('bob', { plan: 'free', age: 19, birthday: '1985-04-12' }, { marketing: false }),
  profile('carol', { plan: 'pro', birthday: '2000-11-30T08:00:00Z' }, { marketing: true }),
  profile('dave', { age: 45 }),
  profile('erin', {}),
  profile('frank', { age: 'unknown' }),
];
const everyone = ['alice', 'bob', 'carol', 'dave', 'erin', 'frank'];

describe('segments on chDB', () => {
  const home = embeddedHome('segments');
  let ch: ClickHouse;

  beforeAll(async () => {
    ch = await freshDatabase(home);
    await ch.insert('events_store', events);
    await ch.insert('profiles_store', profiles);
    await ch.insert('profile_aliases_store', [
      { absorbed_profile_id: 'alice-anon', surviving_profile_id: 'alice', merged_at: ago(DAY), version: 1 },
    ]);
    await writeRfmSettings(ch, {
      purchaseEvents: ['Order Completed'],
      refundEvents: ['Order Refunded'],
      windowDays: 365,
      rates: parseRates('', 'USD'),
      reportingCurrency: 'USD',
    });
  });
  afterAll(async () => ch.close());

  async function members(source: SegmentSource, candidates?: readonly string[]): Promise<string[]> {
    const query = segmentQuery(source, candidates ? { candidates } : {});
    const rows = await ch.query<{ profile_id: string }>(
      query.sql,
      { ...query.params, ...evaluationParams(now, candidates) },
      { readOnly: true },
    );
    return rows.map((r) => r.profile_id).sort();
  }
  const rule = (json: unknown, purpose: string | null = null, candidates?: readonly string[]): Promise<string[]> =>
    members({ kind: 'rule', sql: '', rule: parseRule(json), purpose }, candidates);

  describe('traits', () => {
    it.each([
      ['eq', { trait: 'plan', op: 'eq', value: 'pro' }, ['alice', 'carol']],
      ['neq needs the trait', { trait: 'plan', op: 'neq', value: 'free' }, ['alice', 'carol']],
      [
        'not eq includes profiles without it',
        { not: { trait: 'plan', op: 'eq', value: 'free' } },
        ['alice', 'carol', 'dave', 'erin', 'frank'],
      ],
      ['in', { trait: 'plan', op: 'in', values: ['pro', 'free'] }, ['alice', 'bob', 'carol']],
      ['range (a string age does not match)', { trait: 'age', op: 'range', min: 18, max: 40 }, ['alice', 'bob']],
      ['gt', { trait: 'age', op: 'gt', value: 40 }, ['dave']],
      ['contains in an array', { trait: 'tags', op: 'contains', value: 'vip' }, ['alice']],
      ['contains in a string', { trait: 'email', op: 'contains', value: '@example.com' }, ['alice']],
      ['nested path', { trait: 'address.city', op: 'eq', value: 'Paris' }, ['alice']],
      ['exists', { trait: 'age', op: 'exists' }, ['alice', 'bob', 'dave', 'frank']],
      [
        'or',
        {
          or: [
            { trait: 'plan', op: 'eq', value: 'free' },
            { trait: 'age', op: 'gt', value: 40 },
          ],
        },
        ['bob', 'dave'],
      ],
    ])('%s', async (_name, json, expected) => {
      expect(await rule(json)).toEqual(expected);
    });

    it('birthday month = this month, and this day', async () => {
      expect(await rule({ trait: 'birthday', part: 'month', op: 'eq', value: 'now' })).toEqual(['alice', 'carol']);
      expect(
        await rule({
          and: [
            { trait: 'birthday', part: 'month', op: 'eq', value: 'now' },
            { trait: 'birthday', part: 'day', op: 'eq', value: 3 },
          ],
        }),
      ).toEqual(['alice']);
      expect(await rule({ trait: 'birthday', part: 'year', op: 'lt', value: 1990 })).toEqual(['bob']);
    });
  });

  describe('events', () => {
    it('bought twice in 14 days (an order reported twice counts once)', async () => {
      expect(
        await rule({ performed: { event: 'Order Completed' }, within: { days: 14 }, count: { op: 'gte', value: 2 } }),
      ).toEqual(['alice']);
      expect(await rule({ performed: { event: 'Order Completed' }, count: { op: 'gte', value: 2 } })).toEqual([
        'alice',
      ]);
    });

    it('no purchase in the last 3 days includes profiles that never bought; future events are ignored', async () => {
      expect(
        await rule({ performed: { event: 'Order Completed' }, within: { days: 3 }, count: { op: 'eq', value: 0 } }),
      ).toEqual(['alice', 'bob', 'dave', 'erin', 'frank']);
      expect(await rule({ not: { performed: { event: 'Order Completed' }, within: { days: 3 } } })).toEqual([
        'alice',
        'bob',
        'dave',
        'erin',
        'frank',
      ]);
    });

    it('sums revenue and filters on properties', async () => {
      expect(
        await rule({ performed: { event: 'Order Completed' }, sum: { field: 'revenue', op: 'gte', value: 80 } }),
      ).toEqual(['alice', 'frank']);
      expect(
        await rule({
          performed: { event: 'Order Completed' },
          sum: { field: 'revenue', op: 'range', min: 20, max: 20 },
        }),
      ).toEqual(['carol']);
      expect(
        await rule({
          performed: { event: 'Order Completed', where: [{ property: 'category', op: 'eq', value: 'shoes' }] },
        }),
      ).toEqual(['alice']);
    });

    it('cart abandonment: added to cart, no Order Completed within 1 day after it (window passed)', async () => {
      const abandoned = {
        performed: { event: 'Product Added' },
        notFollowedBy: { event: 'Order Completed' },
        within: { days: 1 },
      };
      // bob: no order; frank: his order came before the cart; erin: 30 days ago (her 3-hour-old cart is still open).
      expect(await rule(abandoned)).toEqual(['bob', 'erin', 'frank']);
      expect(await rule({ ...abandoned, lookback: { days: 7 } })).toEqual(['bob', 'frank']);
      // At now + 22 h, erin's cart of 3 hours ago has waited a day too.
      const later = segmentQuery({
        kind: 'rule',
        sql: '',
        rule: parseRule({ ...abandoned, lookback: { days: 7 } }),
        purpose: null,
      });
      const rows = await ch.query<{ profile_id: string }>(later.sql, {
        ...later.params,
        ...evaluationParams(now + 22 * HOUR),
      });
      expect(rows.map((r) => r.profile_id).sort()).toEqual(['bob', 'erin', 'frank']);
    });

    it('repurchase day 4: bought within 14 days and exactly 4 days since the last purchase', async () => {
      const repurchase = {
        and: [
          { performed: { event: 'Order Completed' }, within: { days: 14 } },
          { lastPerformed: { event: 'Order Completed' }, op: 'eq', value: { days: 4 } },
        ],
      };
      expect(await rule(repurchase)).toEqual(['alice', 'dave']);
      expect(await rule(repurchase, 'marketing')).toEqual(['alice']);
      expect(await rule(repurchase, null, ['dave', 'bob', 'carol'])).toEqual(['dave']);
    });

    it('time since the last event of any kind (events of absorbed profiles count for the survivor)', async () => {
      expect(await rule({ lastPerformed: {}, op: 'gte', value: { days: 2 } })).toEqual([
        'bob',
        'carol',
        'dave',
        'frank',
      ]);
      expect(await rule({ lastPerformed: {}, op: 'lt', value: { hours: 25 } })).toEqual(['alice', 'erin']);
    });

    it('channels: browsed online and bought in store; seen on every channel', async () => {
      expect(
        await rule({
          and: [
            { performed: { type: 'page', channel: ['web', 'mobile'] } },
            { performed: { event: 'Order Completed', channel: 'store' } },
          ],
        }),
      ).toEqual(['alice']);
      expect(await rule({ channels: ['web', 'mobile'], match: 'all' })).toEqual(['alice']);
      expect(await rule({ channels: ['store'] })).toEqual(['alice', 'carol']);
      expect(await rule({ channels: ['mobile'], within: { hours: 12 } })).toEqual([]);
    });
  });

  it('consent as a condition and as the segment purpose; not', async () => {
    expect(await rule({ consent: 'marketing' })).toEqual(['alice', 'carol']);
    expect(await rule({ not: { consent: 'marketing' } })).toEqual(['bob', 'dave', 'erin', 'frank']);
    expect(await rule({ trait: 'plan', op: 'exists' }, 'marketing')).toEqual(['alice', 'carol']);
  });

  it('RFM figures and labels (rfm_as_of at now)', async () => {
    expect(await rule({ rfm: 'frequency', op: 'gte', value: 2 })).toEqual(['alice']);
    expect(await rule({ rfm: 'monetary', op: 'gt', value: 100 })).toEqual(['frank']);
    const rfm = await readRfm(ch, now);
    expect([...rfm.keys()].sort()).toEqual(['alice', 'carol', 'dave', 'frank']);
    const frankLabel = rfm.get('frank')!.label;
    const sameLabel = [...rfm]
      .filter(([, row]) => row.label === frankLabel)
      .map(([id]) => id)
      .sort();
    expect(await rule({ rfm: 'label', op: 'eq', value: frankLabel })).toEqual(sameLabel);
    expect(await rule({ not: { rfm: 'r_score', op: 'gte', value: 1 } })).toEqual(['bob', 'erin']);
  });

  it('never returns a merged-away profile id', async () => {
    expect(await rule({ trait: 'plan', op: 'eq', value: 'pro' }, 'marketing')).not.toContain('alice-anon');
    expect(
      await members({
        kind: 'sql',
        sql: 'SELECT stitched_profile_id AS profile_id FROM events',
        rule: null,
        purpose: null,
      }),
    ).toEqual(everyone);
  });

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
      await app.register(
        async (v1) => {
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
          ...(options.payload === undefined
            ? {}
            : { body: JSON.stringify(options.payload), headers: { 'content-type': 'application/json' } }),
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
