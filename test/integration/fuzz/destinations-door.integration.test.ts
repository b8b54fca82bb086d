import { mkdtempSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import fc from 'fast-check';
import { destinationRouteScopes } from '../../../services/activator/destinations/route-scopes';
import {
  activatorEnv,
  createActivatorTopics,
  startActivator,
  startReceiver,
  testAdminToken,
  type Receiver,
  type RunningActivator,
} from '../../support/activator';
import { checkProperty, expectDocumentedError, fuzzTimeout, sendRefusingPoisonedKeys } from '../../support/fuzz';
import { testKafka } from '../../support/kafka';

/**
 * The activator's door, fuzzed against an activator process: destination bodies built field by
 * field from plausible values and junk (URLs of every kind, export directories that climb out of
 * the export root, numbers that are not), patches of a live destination, and every route with
 * ids and bodies of any text. Every answer is a 2xx or a documented 4xx — or 503 while a body
 * names segments, which are checked with the read API, not running here — and never a 5xx
 * otherwise; an export directory is never accepted outside ACTIVATOR_EXPORT_ROOT; the process
 * keeps running.
 */
const kafka = testKafka();
let activator: RunningActivator;
let hook: Receiver;
let exportRoot: string;

beforeAll(async () => {
  exportRoot = mkdtempSync(path.join(os.tmpdir(), 'kumiki-fuzz-exports-'));
  hook = await startReceiver();
  const names = await createActivatorTopics(kafka);
  activator = await startActivator(activatorEnv(names, { ACTIVATOR_EXPORT_ROOT: exportRoot }));
}, 180_000);

afterAll(async () => {
  await activator?.stop();
  await hook?.close();
  if (exportRoot) rmSync(exportRoot, { recursive: true, force: true });
});

type Answer = {
  status: number;
  body: { code?: string; message?: string; id?: string; export?: { directory: string } };
};

/** Sends `body`; one holding prototype-poisoning keys must be refused, and is then sent without them. */
function call(method: string, pathname: string, body?: unknown): Promise<Answer> {
  return sendRefusingPoisonedKeys(body, (sent) => send(method, pathname, sent));
}

async function send(method: string, pathname: string, body: unknown): Promise<Answer> {
  const response = await fetch(`${activator.url}${pathname}`, {
    method,
    headers: {
      authorization: `Bearer ${testAdminToken}`,
      ...(body === undefined ? {} : { 'content-type': 'application/json' }),
    },
    ...(body === undefined ? {} : { body: typeof body === 'string' ? body : JSON.stringify(body) }),
  });
  const text = await response.text();
  const json = (response.headers.get('content-type') ?? '').startsWith('application/json');
  return { status: response.status, body: json && text ? JSON.parse(text) : {} };
}

/** 2xx, or a documented error with its code's status; a 5xx only for segments the read API must check. */
function expectWellFormed(answer: Answer, namesSegments: boolean): void {
  if (answer.status < 300) return;
  const code = expectDocumentedError(answer.status, answer.body);
  if (answer.status >= 500)
    expect({ code, namesSegments }).toEqual({ code: 'KUMIKI_UNAVAILABLE', namesSegments: true });
}

const junk = fc.oneof(fc.jsonValue({ maxDepth: 2 }), fc.string({ maxLength: 30 }));
const url = fc.oneof(
  fc.constantFrom(
    '',
    'ftp://127.0.0.1/x',
    'http://user:pw@127.0.0.1/x',
    'http://[::1]:1/',
    'http://0.0.0.0/',
    'not a url',
  ),
  fc.webPath().map((p) => `http://127.0.0.1:1${p}`),
  fc.string({ maxLength: 40 }),
);
const directory = fc.oneof(
  fc.constantFrom('..', '../..', '/etc', '/', '.', 'a/../../b', '..a', 'ok', 'ok/nested', '\u0000', '~'),
  fc.string({ maxLength: 20 }),
);
const words = (known: readonly string[]) =>
  fc.array(fc.oneof({ weight: 3, arbitrary: fc.constantFrom(...known) }, fc.string({ maxLength: 10 })), {
    maxLength: 4,
  });
/** Plausible values of each field, valid or not; a field may also get junk or go missing. */
const alternatives: Record<string, fc.Arbitrary<unknown>> = {
  name: fc.string({ maxLength: 30 }),
  type: fc.constantFrom('webhook', 'export'),
  url,
  events: words(['segment.entered', 'segment.exited', 'profile.updated']),
  segments: fc.array(fc.string({ maxLength: 12 }), { maxLength: 3 }),
  purposes: words(['marketing', 'analytics', 'advertising']),
  traits: fc.array(fc.string({ maxLength: 12 }), { maxLength: 3 }),
  identifiers: words(['email', 'phone']),
  rateLimit: fc.oneof(fc.double(), fc.integer()),
  export: fc.record(
    {
      format: fc.oneof(fc.constantFrom('csv', 'ndjson'), junk),
      mode: fc.oneof(fc.constantFrom('full', 'delta'), junk),
      directory: fc.oneof(directory, junk),
      intervalMinutes: fc.oneof(fc.integer(), junk),
    },
    { requiredKeys: [] },
  ),
  unknownField: junk,
};
const mutation = fc
  .tuple(fc.constantFrom(...Object.keys(alternatives)), fc.constantFrom('alternative', 'junk', 'missing'))
  .chain(([field, how]) =>
    (how === 'alternative' ? alternatives[field]! : how === 'junk' ? junk : fc.constant(undefined)).map(
      (value) => [field, value] as const,
    ),
  );
/** A valid webhook destination with up to four fields changed. */
const baseBody = (): Record<string, unknown> => ({
  name: 'fuzzed',
  type: 'webhook',
  url: hook.url,
  events: ['segment.entered'],
  purposes: ['marketing'],
});
const destinationBody = fc.array(mutation, { maxLength: 4 }).map((changes) => {
  const body = baseBody();
  for (const [field, value] of changes) {
    if (value === undefined) delete body[field];
    else body[field] = value;
  }
  return body;
});

const namesSegments = (body: unknown): boolean =>
  typeof body === 'object' && body !== null && Array.isArray((body as { segments?: unknown }).segments);

it(
  'answers any destination body with the destination or a stable 4xx, and keeps exports inside their root',
  async () => {
    // The body every case starts from is accepted: what the property checks of accepted ones is reachable.
    const base = await call('POST', '/v1/destinations', baseBody());
    expect(base.status).toBe(201);
    expect((await call('DELETE', `/v1/destinations/${base.body.id}`)).status).toBe(204);
    await checkProperty(
      'destinations: bodies',
      fc.asyncProperty(destinationBody, async (body) => {
        const answer = await call('POST', '/v1/destinations', body);
        expectWellFormed(answer, namesSegments(body));
        if (answer.status !== 201) return;
        const shown = await call('GET', `/v1/destinations/${answer.body.id}`);
        expect(shown.status).toBe(200);
        const dir = shown.body.export?.directory;
        if (dir) expect(path.relative(exportRoot, dir).startsWith('..')).toBe(false);
        expect((await call('DELETE', `/v1/destinations/${answer.body.id}`)).status).toBe(204);
      }),
      40,
    );
  },
  fuzzTimeout(240_000),
);

it(
  'answers patches of a live destination, and every route with any id or body, with a stable answer',
  async () => {
    const live = await call('POST', '/v1/destinations', baseBody());
    expect(live.status).toBe(201);
    const routes = Object.keys(destinationRouteScopes).map((r) => r.split(' ') as [string, string]);
    await checkProperty(
      'destinations: patches, routes, ids',
      fc.asyncProperty(
        destinationBody,
        fc.constantFrom(...routes),
        fc.oneof(fc.constant(live.body.id!), fc.string({ maxLength: 30 })),
        fc.oneof(
          junk,
          fc.record({
            from: fc.oneof(
              fc.date().map((d) => (Number.isNaN(d.getTime()) ? 'x' : d.toISOString())),
              junk,
            ),
          }),
        ),
        async (patch, [method, pattern], id, body) => {
          const { type: _type, ...fields } = patch as Record<string, unknown>;
          expectWellFormed(await call('PATCH', `/v1/destinations/${live.body.id}`, fields), namesSegments(fields));
          if (pattern === '/v1/destinations/:id' && method === 'DELETE') return; // the live one stays
          const pathname = pattern.replace(':id', encodeURIComponent(id));
          const sent = method === 'GET' || method === 'DELETE' ? undefined : body;
          expectWellFormed(await call(method, pathname, sent), namesSegments(sent));
        },
      ),
      50,
    );
    expect(activator.process.child.exitCode).toBeNull();
    expect((await fetch(`${activator.url}/health`)).status).toBe(200);
  },
  fuzzTimeout(240_000),
);
