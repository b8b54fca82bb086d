import { mkdtempSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import fc from 'fast-check';
import { errorCodes } from '../../../services/common/error-codes';
import { rfmLabels } from '../../../services/profile-materializer/rfm/rfm-labels';
import { checkProperty, fuzzTimeout } from '../../support/fuzz';
import { freePort } from '../../support/ports';
import { spawnService, waitUntilAnswering, type ServiceProcess } from '../../support/service-process';
import { uniqueName } from '../../support/stack-env';
import { waitFor } from '../../support/wait-for';

/**
 * The read and segment APIs' door, fuzzed against a profile-materializer process: random rule
 * trees (valid and not), SQL text from a grammar of ClickHouse pieces and from plain noise,
 * bodies of the wrong shape, identifiers of any text, credentials of any kind. Every answer is
 * a 2xx or a 4xx with its stable code, never a 5xx; every rule the API accepts compiles to SQL
 * that ClickHouse runs; the process keeps running.
 *
 * Cases per property are bounded for `npm test`; FUZZ_RUNS=N multiplies them, FUZZ_SEED replays a run.
 */
const token = `adm_${uniqueName('fuzz').replace(/-/g, '_')}`;
let home: string;
let materializer: ServiceProcess;
let url: string;
const created: string[] = [];

beforeAll(async () => {
  home = mkdtempSync(path.join(os.tmpdir(), 'kumiki-fuzz-read-'));
  const port = await freePort();
  const topic = uniqueName('fuzz-read');
  url = `http://127.0.0.1:${port}`;
  materializer = spawnService('profile-materializer', {
    HTTP_PORT: String(port),
    KUMIKI_HOME: home,
    KUMIKI_ADMIN_TOKEN: token,
    MATERIALIZER_STITCHED_TOPIC: `${topic}.stitched`,
    MATERIALIZER_CHANGES_TOPIC: `${topic}.changes`,
    MATERIALIZER_UPDATES_TOPIC: `${topic}.updates`,
    MATERIALIZER_DLQ_TOPIC: `${topic}.dlq`,
    MATERIALIZER_GROUP_ID: `${topic}-materializer`,
    SEGMENT_CHANGES_TOPIC: `${topic}.segments`,
    ACCESS_KEYS_TOPIC: `${topic}.keys`,
    AUDIT_TOPIC: `${topic}.audit`,
    SECURITY_ALERTS_TOPIC: `${topic}.alerts`,
    // Every wrong credential is a failed authentication from this one address: past the throttle's
    // limit the valid token would be answered 429 too, and the properties could not check answers.
    AUTH_MAX_FAILURES: '1000000',
    // Fuzzed SQL may ask for a lot: the limits answer it quickly.
    SQL_MAX_EXECUTION_SECONDS: '2',
    SQL_MAX_RESULT_ROWS: '1000',
    SQL_MAX_MEMORY_BYTES: '200000000',
    LOG_LEVEL: 'warn',
  });
  await waitUntilAnswering(materializer, url, '/ready', 180_000);
}, 240_000);

afterAll(async () => {
  await materializer?.stop();
  if (home) rmSync(home, { recursive: true, force: true });
});

interface Answer {
  readonly status: number;
  readonly body: {
    code?: string;
    message?: string;
    field?: string;
    id?: string;
    sql?: string;
    params?: Record<string, unknown>;
  };
}

async function call(
  method: string,
  pathname: string,
  body?: unknown,
  authorization = `Bearer ${token}`,
): Promise<Answer> {
  const response = await fetch(`${url}${pathname}`, {
    method,
    headers: {
      authorization,
      ...(body === undefined ? {} : { 'content-type': 'application/json' }),
    },
    ...(body === undefined ? {} : { body: typeof body === 'string' ? body : JSON.stringify(body) }),
  });
  const text = await response.text();
  // Exports answer CSV or NDJSON; every other answer, errors included, is one JSON document.
  const json = (response.headers.get('content-type') ?? '').startsWith('application/json');
  return { status: response.status, body: json && text ? JSON.parse(text) : {} };
}

/** 2xx, or a documented error: its code's status and `{ code, message, field? }`; never a 5xx. */
function expectWellFormed(answer: Answer): void {
  if (answer.status < 300) return;
  const code = answer.body.code as keyof typeof errorCodes;
  expect(Object.keys(errorCodes)).toContain(code);
  expect({ status: answer.status, message: typeof answer.body.message }).toEqual({
    status: errorCodes[code].status,
    message: 'string',
  });
  expect(answer.status).toBeLessThan(500);
}

// Rule trees: the grammar of docs/segments.md, with noise in every place a value goes.
const noise = fc.oneof(fc.jsonValue({ maxDepth: 2 }), fc.string({ maxLength: 30 }));
const op = fc.oneof(
  fc.constantFrom('eq', 'neq', 'in', 'gt', 'gte', 'lt', 'lte', 'range', 'contains', 'exists'),
  fc.string({ maxLength: 8 }),
);
const scalar = fc.oneof(
  fc.string({ maxLength: 30 }),
  fc.double({ noNaN: false }),
  fc.integer(),
  fc.boolean(),
  fc.constant(null),
);
const duration = fc.oneof(
  fc.record({ days: fc.integer({ min: -5, max: 5000 }) }),
  fc.dictionary(fc.constantFrom('minutes', 'hours', 'days', 'weeks', 'months', 'x'), fc.oneof(fc.integer(), noise), {
    maxKeys: 2,
  }),
  noise,
);
const comparison = fc.record(
  {
    op,
    value: scalar,
    values: fc.array(scalar, { maxLength: 4 }),
    min: scalar,
    max: scalar,
    part: fc.constantFrom('year', 'month', 'day', 'weekday', 'hour'),
  },
  { requiredKeys: ['op'] },
);
const eventFilter = fc.record(
  {
    event: fc.oneof(fc.string({ maxLength: 20 }), noise),
    type: fc.oneof(fc.constantFrom('track', 'page', 'screen', 'identify', 'group', 'alias'), noise),
    name: fc.string({ maxLength: 20 }),
    channel: fc.oneof(
      fc.constantFrom('web', 'mobile', 'store', 'import'),
      fc.array(fc.constantFrom('web', 'email', 'x'), { maxLength: 3 }),
      noise,
    ),
    where: fc.array(fc.record({ property: fc.string({ maxLength: 20 }), op, value: scalar }, { requiredKeys: [] }), {
      maxLength: 3,
    }),
  },
  { requiredKeys: [] },
);
const leaf = fc.oneof(
  fc.tuple(fc.oneof(fc.string({ maxLength: 30 }), noise), comparison).map(([trait, c]) => ({ trait, ...c })),
  fc
    .tuple(
      fc.constantFrom('r_score', 'f_score', 'm_score', 'recency_days', 'frequency', 'monetary', 'label', 'nope'),
      comparison,
    )
    .map(([rfm, c]) => ({ rfm, ...c })),
  fc.record(
    {
      performed: eventFilter,
      within: duration,
      count: comparison,
      sum: fc.record(
        { field: fc.constantFrom('revenue', 'x'), property: fc.string(), op, value: scalar },
        { requiredKeys: [] },
      ),
      notFollowedBy: eventFilter,
      lookback: duration,
    },
    { requiredKeys: ['performed'] },
  ),
  fc.record({ lastPerformed: eventFilter, op, value: duration }, { requiredKeys: ['lastPerformed'] }),
  fc.record(
    {
      channels: fc.oneof(fc.array(fc.constantFrom('web', 'mobile', 'store', 'email', 'x'), { maxLength: 4 }), noise),
      match: fc.constantFrom('any', 'all', 'some'),
      within: duration,
    },
    { requiredKeys: ['channels'] },
  ),
  fc.record({ inSegment: fc.oneof(fc.string({ maxLength: 20 }), noise) }),
  fc.record({ consent: fc.oneof(fc.string({ maxLength: 20 }), noise) }),
  fc.dictionary(fc.string({ maxLength: 10 }), noise, { maxKeys: 3 }),
  noise,
);
// Conditions as the grammar has them, with values of every kind: most trees of these compile.
const text = fc.string({ maxLength: 30 });
const days = fc.integer({ min: 1, max: 3_650 }).map((n) => ({ days: n }));
const numberOp = fc.constantFrom('eq', 'neq', 'gt', 'gte', 'lt', 'lte');
const validLeaf = fc.oneof(
  fc.record({ trait: text.filter((t) => t.trim() !== ''), op: fc.constantFrom('eq', 'neq', 'contains'), value: text }),
  fc.record({ trait: text.filter((t) => t.trim() !== ''), op: numberOp, value: fc.integer() }),
  fc.record({ trait: text.filter((t) => t.trim() !== ''), op: fc.constant('exists') }),
  fc.record({
    rfm: fc.constantFrom('r_score', 'f_score', 'm_score', 'frequency', 'monetary'),
    op: numberOp,
    value: fc.integer({ min: 0, max: 10_000 }),
  }),
  fc.record({
    rfm: fc.constant('label'),
    op: fc.constant('in'),
    values: fc.subarray([...rfmLabels], { minLength: 1 }),
  }),
  fc.record(
    {
      performed: fc.record({ event: text, type: fc.constantFrom('track', 'page') }, { requiredKeys: [] }),
      within: days,
      count: fc.record({ op: numberOp, value: fc.nat(100) }),
    },
    { requiredKeys: ['performed'] },
  ),
  fc.record({
    performed: fc.record({ event: text }),
    notFollowedBy: fc.record({ event: text }),
    within: days,
    lookback: days,
  }),
  fc.record({ lastPerformed: fc.record({ event: text }, { requiredKeys: [] }), op: numberOp, value: days }),
  fc.record({
    channels: fc.subarray(['web', 'mobile', 'server', 'store', 'email', 'import'], { minLength: 1 }),
    match: fc.constantFrom('any', 'all'),
  }),
  fc.record({ consent: text.filter((t) => t.trim() !== '') }),
);
const rule: fc.Arbitrary<unknown> = fc.letrec<{ node: unknown }>((tie) => ({
  node: fc.oneof(
    { depthSize: 'small', withCrossShrink: true },
    validLeaf,
    leaf,
    fc.record({ and: fc.array(tie('node'), { maxLength: 4 }) }),
    fc.record({ or: fc.array(tie('node'), { maxLength: 4 }) }),
    fc.record({ not: tie('node') }),
  ),
})).node;

// SQL: pieces ClickHouse knows (and some it must refuse), glued at random, or plain noise.
const identifier = fc.oneof(
  fc.constantFrom(
    'profile_id',
    'events',
    'profiles',
    'rfm',
    'identities',
    'segment_members',
    'system.tables',
    'numbers(10)',
    'x',
    '*',
    'count()',
    'traits',
    'rfm_as_of(as_of = now64(3))',
  ),
  fc.string({ maxLength: 12 }),
);
const literal = fc.oneof(
  fc.integer().map(String),
  fc.double().map(String),
  fc.string({ maxLength: 20 }).map((s) => `'${s.replace(/'/g, "''")}'`),
  fc.string({ maxLength: 20 }).map((s) => `'${s}'`),
  fc.constantFrom('NULL', '[1,2]', "{'a':1}", '{p:String}', '{now:DateTime64(3)}', '1e999', '0x', "'\\'"),
);
const clause = fc.oneof(
  fc.tuple(identifier, identifier).map(([a, b]) => `SELECT ${a} FROM ${b}`),
  fc.tuple(identifier, identifier, literal).map(([a, b, c]) => `SELECT ${a} FROM ${b} WHERE ${a} = ${c}`),
  fc.tuple(identifier, literal).map(([a, b]) => `SELECT ${a}, ${b}`),
  fc.constantFrom(
    'INSERT INTO events_store SELECT * FROM events_store',
    'DROP TABLE profiles_store',
    'ALTER TABLE events_store DELETE WHERE 1',
    'SET max_execution_time = 0',
    'SYSTEM SHUTDOWN',
    'KILL QUERY WHERE 1',
    'SELECT 1 SETTINGS readonly = 0',
    "SELECT * FROM file('/etc/passwd')",
    "SELECT * FROM url('http://127.0.0.1:1/', CSV)",
    'SELECT sleep(3)',
    'SELECT count() FROM numbers(100000000000)',
    'SELECT * FROM numbers(100000)',
    'SELECT 1; SELECT 2',
    "SELECT 1 INTO OUTFILE '/tmp/x'",
    'SELECT 1 FORMAT Native',
    'WITH x AS (SELECT 1) SELECT * FROM x',
    'SELECT groupArray(number) FROM numbers(10000000)',
    'EXPLAIN SELECT 1',
    'SHOW TABLES',
    'DESCRIBE events',
    '-- only a comment',
    '/* unclosed',
    "SELECT '",
  ),
);
const sql = fc.oneof(
  fc
    .tuple(fc.array(clause, { minLength: 1, maxLength: 3 }), fc.constantFrom(' ', ' UNION ALL ', ';', '\n', ' -- '))
    .map(([parts, glue]) => parts.join(glue)),
  fc.string({ maxLength: 200 }),
  fc.string({ unit: 'binary', maxLength: 200 }),
);

describe('the read and segment APIs under fuzzed input', () => {
  it(
    'accept a rule only when it compiles to SQL that runs, and refuse the rest with KUMIKI_INVALID_SEGMENT',
    async () => {
      await checkProperty(
        'segments: rule trees',
        fc.asyncProperty(rule, fc.option(fc.oneof(fc.string({ maxLength: 12 }), noise)), async (tree, purpose) => {
          const answer = await call('POST', '/v1/segments', {
            name: `fuzz ${created.length}`,
            rule: tree,
            ...(purpose === null ? {} : { purpose }),
          });
          expectWellFormed(answer);
          if (answer.status !== 201) {
            expect(answer.body.code).toBe('KUMIKI_INVALID_SEGMENT');
            expect(typeof answer.body.field).toBe('string');
            return;
          }
          created.push(answer.body.id!);
          // SQL_MAX_EXECUTION_SECONDS is short here for the huge scans of the SQL property; on a busy
          // machine, with the segments created so far being evaluated meanwhile, a plain query can
          // pass it too: a timeout says nothing about the rule, so the query is asked again.
          const run = await waitFor(
            async () => {
              const attempt = await call('POST', '/v1/sql', {
                query: answer.body.sql,
                params: { ...answer.body.params, now: '2026-06-01 12:00:00.000' },
              });
              if (attempt.body.code === 'KUMIKI_SQL_TIMEOUT') throw new Error(attempt.body.message);
              return attempt;
            },
            { timeoutMs: 60_000, intervalMs: 500 },
          );
          expect({ status: run.status, body: run.status === 200 ? 'rows' : run.body }).toEqual({
            status: 200,
            body: 'rows',
          });
          expect((await call('GET', `/v1/segments/${answer.body.id}/members`)).status).toBe(200);
        }),
        300,
      );
      // The trees are not all refused: the accepted ones are what the property above checks.
      expect(created.length).toBeGreaterThan(30);
    },
    fuzzTimeout(240_000),
  );

  it(
    'answers any SQL text with rows or a stable 4xx',
    async () => {
      await checkProperty(
        'read API: SQL text',
        fc.asyncProperty(
          sql,
          fc.option(fc.dictionary(fc.string({ maxLength: 8 }), fc.jsonValue({ maxDepth: 1 }), { maxKeys: 3 })),
          async (query, params) => {
            const answer = await call('POST', '/v1/sql', { query, ...(params === null ? {} : { params }) });
            expectWellFormed(answer);
            if (answer.status !== 200)
              expect([
                'KUMIKI_SQL_ERROR',
                'KUMIKI_SQL_READ_ONLY',
                'KUMIKI_SQL_TIMEOUT',
                'KUMIKI_SQL_LIMIT',
                'KUMIKI_MISSING_FIELD',
              ]).toContain(answer.body.code);
          },
        ),
        300,
      );
    },
    fuzzTimeout(240_000),
  );

  it(
    'answers any segment SQL with the segment or KUMIKI_INVALID_SEGMENT',
    async () => {
      await checkProperty(
        'segments: SQL text',
        fc.asyncProperty(sql, async (text) => {
          const answer = await call('POST', '/v1/segments', { name: `fuzz sql ${created.length}`, sql: text });
          expectWellFormed(answer);
          if (answer.status === 201) created.push(answer.body.id!);
          else expect(answer.body.code).toBe('KUMIKI_INVALID_SEGMENT');
        }),
        150,
      );
    },
    fuzzTimeout(240_000),
  );

  it(
    'answers bodies of the wrong shape, any identifier and any credential with a stable 4xx',
    async () => {
      await checkProperty(
        'read API: shapes, paths, credentials',
        fc.asyncProperty(
          fc.constantFrom('/v1/sql', '/v1/segments'),
          fc.oneof(fc.jsonValue({ maxDepth: 3 }), fc.string({ maxLength: 100 })),
          fc.string({ maxLength: 30 }),
          fc.string({ maxLength: 60 }),
          fc.oneof(
            fc.constant(`Bearer ${token}`),
            fc.string({ maxLength: 40 }),
            fc.constant(`Bearer ${token}x`),
            fc.constant('Bearer '),
          ),
          async (pathname, body, type, value, authorization) => {
            const authorised = authorization === `Bearer ${token}`;
            const posted = await call(
              'POST',
              pathname,
              typeof body === 'string' ? body : JSON.stringify(body),
              authorization,
            );
            expectWellFormed(posted);
            if (!authorised) expect(posted.body.code).toBe('KUMIKI_ADMIN_UNAUTHORIZED');
            const profile = await call(
              'GET',
              `/v1/profiles/${encodeURIComponent(type)}/${encodeURIComponent(value)}`,
              undefined,
              authorization,
            );
            expectWellFormed(profile);
            if (authorised) expect([200, 404]).toContain(profile.status);
            const segment = await call('GET', `/v1/segments/${encodeURIComponent(value)}`, undefined, authorization);
            expectWellFormed(segment);
          },
        ),
        200,
      );
      expect(materializer.child.exitCode).toBeNull();
      expect((await fetch(`${url}/health`)).status).toBe(200);
    },
    fuzzTimeout(240_000),
  );
  it(
    'answers the console, key, audit and model routes with any identifier and any query with a stable answer',
    async () => {
      const value = fc.oneof(
        fc.string({ maxLength: 40 }),
        fc.integer().map(String),
        fc.constantFrom('', '0', '-1', '1e400', 'NaN', '2026-01-01T00:00:00Z', '9999-99-99', "'", '\\', '%00'),
      );
      const query = fc.dictionary(
        fc.constantFrom(
          'q',
          'limit',
          'before',
          'after',
          'channel',
          'window',
          'code',
          'days',
          'since',
          'until',
          'format',
        ),
        value,
        { maxKeys: 4 },
      );
      const route = fc.oneof(
        fc.constantFrom(
          '/v1/whoami',
          '/v1/console/overview',
          '/v1/console/profiles',
          '/v1/console/rfm',
          '/v1/console/dead-letters',
          '/v1/console/dead-letters/samples',
          '/v1/console/segments',
          '/v1/keys',
          '/v1/audit',
          '/v1/audit/verify',
          '/v1/audit/export',
          '/v1/security/alerts',
          '/v1/models',
        ),
        value.map((id) => `/v1/console/profiles/${encodeURIComponent(id)}`),
        value.map((id) => `/v1/console/profiles/${encodeURIComponent(id)}/events`),
        fc
          .tuple(value, value)
          .map(([type, id]) => `/v1/profiles/${encodeURIComponent(type)}/${encodeURIComponent(id)}/recommendations`),
        fc
          .tuple(value, value)
          .map(([r, f]) => `/v1/console/rfm/cells/${encodeURIComponent(r)}/${encodeURIComponent(f)}`),
        fc
          .tuple(fc.constantFrom('sizes', 'members', 'export'), value)
          .map(([what, id]) => `/v1/console/segments/${encodeURIComponent(id)}/${what}`),
      );
      await checkProperty(
        'console, keys, audit, models: identifiers and queries',
        fc.asyncProperty(
          route,
          query,
          fc.constantFrom('/v1/keys', '/v1/models/backtest', '/v1/models/fit'),
          fc.oneof(
            fc.jsonValue({ maxDepth: 2 }),
            fc.string({ maxLength: 60 }),
            fc.dictionary(
              fc.constantFrom('name', 'role', 'expires', 'grace', 'asOf', 'calibrationEnd', 'holdoutEnd'),
              fc.oneof(value, fc.jsonValue({ maxDepth: 1 })),
              { maxKeys: 3 },
            ),
          ),
          fc.string({ maxLength: 30 }),
          async (pathname, parameters, posted, body, keyId) => {
            const search = new URLSearchParams(parameters as Record<string, string>).toString();
            expectWellFormed(await call('GET', search ? `${pathname}?${search}` : pathname));
            const sent = typeof body === 'string' ? body : JSON.stringify(body);
            expectWellFormed(await call('POST', posted, sent));
            const key = `/v1/keys/${encodeURIComponent(keyId)}`;
            expectWellFormed(await call('POST', `${key}/rotate`, sent));
            expectWellFormed(await call('DELETE', key));
          },
        ),
        150,
      );
      expect(materializer.child.exitCode).toBeNull();
      expect((await fetch(`${url}/health`)).status).toBe(200);
    },
    fuzzTimeout(240_000),
  );
});
