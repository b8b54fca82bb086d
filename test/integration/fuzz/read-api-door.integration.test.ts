import { mkdtempSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import fc from 'fast-check';
import { checkProperty, expectDocumentedError, fuzzTimeout, sendRefusingPoisonedKeys } from '../../support/fuzz';
import { freePort } from '../../support/ports';
import { spawnService, waitUntilAnswering, type ServiceProcess } from '../../support/service-process';
import { uniqueName } from '../../support/stack-env';
import { waitFor } from '../../support/wait-for';
import { noise, rule, sql } from './read-api-inputs';

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

/** Sends `body`; one holding prototype-poisoning keys must be refused, and is then sent without them. */
function call(method: string, pathname: string, body?: unknown, authorization = `Bearer ${token}`): Promise<Answer> {
  return sendRefusingPoisonedKeys(body, (sent) => send(method, pathname, sent, authorization));
}

async function send(method: string, pathname: string, body: unknown, authorization: string): Promise<Answer> {
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
  expectDocumentedError(answer.status, answer.body);
  expect(answer.status).toBeLessThan(500);
}

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
      // The trees are not all refused: the accepted ones are what the property above checks. About
      // one in ten is accepted (29–60 of 300 seen), so the bound leaves room for any seed.
      expect(created.length).toBeGreaterThan(10);
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
