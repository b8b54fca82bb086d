import http from 'node:http';
import zlib from 'node:zlib';
import fc from 'fast-check';
import type { Event } from '../../../schemas';
import { AvroCodec, SchemaRegistryClient } from '../../../services/common/registry';
import { startCollector, type RunningCollector } from '../../support/collector';
import { checkProperty, expectDocumentedError, fuzzTimeout } from '../../support/fuzz';
import { testKafka } from '../../support/kafka';
import { testStack, uniqueName } from '../../support/stack-env';
import { waitFor } from '../../support/wait-for';

/**
 * The collector's door, fuzzed: bodies of every shape at every endpoint (JSON of any type and
 * depth, wrong types in every field, huge strings, invalid UTF-8, raw bytes, gzip and deflate
 * bombs and corrupt streams, slow and abandoned bodies). Whatever comes in, the answer is a 200
 * or a 4xx with a stable code and `{ code, message, field? }` — never a 5xx (Kafka is up, so
 * not even 503) — the process keeps running, and every valid event of a batch that also held
 * bad ones is on the events topic.
 *
 * Cases per property are bounded for `npm test`; FUZZ_RUNS=N multiplies them, FUZZ_SEED replays a run.
 */
const run = uniqueName('fuzz');
let collector: RunningCollector;
const accepted = new Set<string>();

beforeAll(async () => {
  collector = await startCollector();
});

afterAll(async () => {
  await collector?.stop();
});

interface Answer {
  readonly status: number;
  readonly text: string;
}

async function post(path: string, body: Buffer | string, headers: Record<string, string> = {}): Promise<Answer> {
  const response = await fetch(`${collector.url}${path}`, {
    method: 'POST',
    headers: { authorization: collector.auth, 'content-type': 'application/json', ...headers },
    body,
  });
  return { status: response.status, text: await response.text() };
}

/** A 200 with `success`, or an error with its code's own status and the documented body. */
function expectWellFormed(answer: Answer): void {
  if (answer.status === 200) {
    expect(JSON.parse(answer.text)).toMatchObject({ success: true });
    return;
  }
  expectDocumentedError(answer.status, JSON.parse(answer.text) as { code?: string; message?: unknown });
  expect(answer.status).toBeLessThan(500);
}

const endpoints = ['track', 'identify', 'page', 'screen', 'group', 'alias', 'batch', 't', 'i', 'p', 'b', 'import'];
const fieldNames = (
  'type messageId event name userId anonymousId previousId groupId timestamp originalTimestamp sentAt ' +
  'context properties traits channel writeKey batch integrations'
).split(' ');

/** JSON values of any type, with the field names the collector reads, nested a few levels. */
const anyJson = fc.jsonValue({ maxDepth: 4 });
const segmentish = fc.dictionary(fc.constantFrom(...fieldNames), anyJson, { maxKeys: 8 });
const anyBody: fc.Arbitrary<{ body: Buffer | string; headers: Record<string, string> }> = fc.oneof(
  anyJson.map((value) => ({ body: JSON.stringify(value), headers: {} })),
  segmentish.map((value) => ({ body: JSON.stringify(value), headers: {} })),
  fc.array(segmentish, { maxLength: 20 }).map((batch) => ({ body: JSON.stringify({ batch }), headers: {} })),
  fc.string({ unit: 'binary', maxLength: 300 }).map((text) => ({ body: text, headers: {} })),
  fc.uint8Array({ maxLength: 2_000 }).map((bytes) => ({ body: Buffer.from(bytes), headers: {} })),
  // Invalid UTF-8 inside an otherwise valid event.
  fc.uint8Array({ minLength: 1, maxLength: 8 }).map((bytes) => ({
    body: Buffer.concat([
      Buffer.from('{"userId":"u-1","event":"E","properties":{"x":"'),
      Buffer.from(bytes.map((b) => b | 0x80)),
      Buffer.from('"}}'),
    ]),
    headers: {},
  })),
  // Deep nesting, as the whole body and inside properties.
  fc
    .integer({ min: 1, max: 60_000 })
    .map((depth) => ({ body: `${'['.repeat(depth)}${']'.repeat(depth)}`, headers: {} })),
  fc.integer({ min: 1, max: 60_000 }).map((depth) => ({
    body: `{"userId":"u-1","event":"E","properties":${'{"a":'.repeat(depth)}1${'}'.repeat(depth)}}`,
    headers: {},
  })),
  fc.integer({ min: 1, max: 30_000 }).map((depth) => ({
    body: `{"batch":[{"type":"track","userId":"u-1","event":"E","properties":${'{"a":'.repeat(depth)}1${'}'.repeat(depth)}}]}`,
    headers: {},
  })),
  // Huge strings, under and over the limits.
  fc.constantFrom(1_000, 33_000, 400_000, 600_000, 2_000_000).map((size) => ({
    body: JSON.stringify({ batch: [{ type: 'track', userId: 'u-1', event: 'x'.repeat(size) }] }),
    headers: {},
  })),
  // Compressed: valid, corrupt, or a claim of compression over plain bytes.
  anyJson.map((value) => ({ body: zlib.gzipSync(JSON.stringify(value)), headers: { 'content-encoding': 'gzip' } })),
  fc
    .uint8Array({ maxLength: 500 })
    .map((bytes) => ({ body: Buffer.from(bytes), headers: { 'content-encoding': 'gzip' } })),
  fc
    .uint8Array({ maxLength: 500 })
    .map((bytes) => ({ body: Buffer.from(bytes), headers: { 'content-encoding': 'deflate' } })),
  fc.constantFrom('br', 'zstd', 'gzip, gzip', '', 'x'.repeat(300)).map((encoding) => ({
    body: '{"userId":"u","event":"E"}',
    headers: { 'content-encoding': encoding },
  })),
);

describe('the collector under fuzzed input', () => {
  it(
    'answers every body at every endpoint with 200 or a stable 4xx',
    async () => {
      await checkProperty(
        'collector: any body',
        fc.asyncProperty(
          fc.constantFrom(...endpoints, 'nope', 'track/extra'),
          anyBody,
          fc.constantFrom('write key', 'wrong key', 'no key', 'garbage'),
          async (endpoint, { body, headers }, auth) => {
            const authorization =
              auth === 'write key'
                ? collector.auth
                : auth === 'wrong key'
                  ? `Basic ${Buffer.from('wk_not_a_known_key:').toString('base64')}`
                  : auth === 'garbage'
                    ? 'Basic ###'
                    : undefined;
            const answer = await post(`/v1/${endpoint}`, body, {
              ...headers,
              ...(authorization === undefined ? {} : { authorization }),
            });
            if (authorization === undefined) {
              // Only a writeKey in the body may open the door then.
              expect([200, 400, 401, 404, 413]).toContain(answer.status);
            }
            expectWellFormed(answer);
          },
        ),
        300,
      );
    },
    fuzzTimeout(240_000),
  );

  it(
    'keeps every valid event of a batch that also holds invalid ones',
    async () => {
      let sequence = 0;
      const validEvent = fc
        .record({
          type: fc.constantFrom('track', 'identify', 'page', 'screen', 'group', 'alias'),
          userId: fc.oneof(fc.string({ minLength: 1, maxLength: 40 }), fc.integer()),
          // Small enough to stay under the 32 KB an event may take.
          properties: fc.dictionary(fc.string({ maxLength: 20 }), fc.jsonValue({ maxDepth: 2 }), { maxKeys: 5 }),
          traits: fc.dictionary(fc.string({ maxLength: 20 }), fc.jsonValue({ maxDepth: 2 }), { maxKeys: 5 }),
          timestamp: fc.date({ min: new Date('2000-01-01'), max: new Date('2100-01-01'), noInvalidDate: true }),
        })
        .map((fields) => ({
          ...fields,
          userId: typeof fields.userId === 'string' && fields.userId.trim() === '' ? 'u' : fields.userId,
          timestamp: fields.timestamp.toISOString(),
          event: 'Fuzzed',
          groupId: 'g-1',
          previousId: 'p-1',
        }));
      // One field of a valid event made wrong, in a way the collector's rules refuse.
      const breakings: Array<[string, fc.Arbitrary<unknown>]> = [
        [
          'type',
          fc.oneof(
            fc.string().filter((s) => !['track', 'identify', 'page', 'screen', 'group', 'alias', ''].includes(s)),
            fc.integer(),
            fc.boolean(),
          ),
        ],
        [
          'userId',
          fc.oneof(
            fc.boolean(),
            fc.array(fc.integer(), { maxLength: 2 }),
            fc.dictionary(fc.string(), fc.integer(), { minKeys: 1, maxKeys: 2 }),
          ),
        ],
        ['properties', fc.oneof(fc.string(), fc.integer(), fc.boolean(), fc.array(anyJson, { maxLength: 3 }))],
        // Finite numbers only: JSON writes NaN and Infinity as null, which counts as absent.
        [
          'traits',
          fc.oneof(
            fc.string(),
            fc.double({ noNaN: true, noDefaultInfinity: true }),
            fc.boolean(),
            fc.array(anyJson, { maxLength: 3 }),
          ),
        ],
        ['context', fc.oneof(fc.string(), fc.integer(), fc.array(anyJson, { maxLength: 3 }))],
        [
          'timestamp',
          fc.oneof(
            fc.string({ minLength: 1 }).filter((s) => !/^\d{4}-\d\d-\d\d/.test(s)),
            fc.integer(),
            fc.boolean(),
          ),
        ],
        ['event', fc.oneof(fc.integer(), fc.boolean(), fc.dictionary(fc.string(), fc.integer(), { maxKeys: 2 }))],
        [
          'context.consent',
          fc.oneof(fc.string({ minLength: 1 }), fc.integer(), fc.constant({ categoryPreferences: { ads: 'yes' } })),
        ],
      ];
      const invalidEvent = fc.tuple(validEvent, fc.constantFrom(...breakings.keys())).chain(([event, which]) =>
        breakings[which]![1].map((wrong) => {
          const [field] = breakings[which]!;
          if (field === 'context.consent') return { ...event, context: { consent: wrong } };
          if (field === 'event') return { ...event, type: 'track', event: wrong };
          return { ...event, [field]: wrong };
        }),
      );
      await checkProperty(
        'collector: mixed batches',
        fc.asyncProperty(
          fc.array(
            fc.oneof(
              validEvent.map((e) => ({ valid: true, e })),
              invalidEvent.map((e) => ({ valid: false, e })),
            ),
            {
              minLength: 1,
              maxLength: 30,
            },
          ),
          async (elements) => {
            const batch = elements.map(({ e }) => ({ ...e, messageId: `${run}-${++sequence}` }));
            const answer = await post('/v1/batch', JSON.stringify({ batch }));
            expectWellFormed(answer);
            expect(answer.status).toBe(200);
            const body = JSON.parse(answer.text) as {
              accepted: number;
              rejected: { index: number; code: string; field?: string }[];
            };
            const rejected = new Set(body.rejected.map((r) => r.index));
            expect(elements.flatMap(({ valid }, i) => (valid ? [] : [i]))).toEqual([...rejected].sort((a, b) => a - b));
            for (const r of body.rejected) {
              expect(['KUMIKI_INVALID_EVENT', 'KUMIKI_MISSING_FIELD', 'KUMIKI_INVALID_TIMESTAMP']).toContain(r.code);
              expect(r.field).toMatch(new RegExp(`^batch\\[${r.index}\\]`));
            }
            expect(body.accepted).toBe(elements.length - rejected.size);
            batch.forEach((event, i) => {
              if (!rejected.has(i)) accepted.add(event.messageId);
            });
          },
        ),
        200,
      );
      // Every accepted event is on the events topic: none was lost with its batch's bad ones.
      const codec = new AvroCodec(new SchemaRegistryClient({ url: testStack().registryUrl }));
      const seen = new Set<string>();
      const consumer = testKafka().consumer({
        groupId: uniqueName('fuzz-reader'),
        topics: [collector.eventsTopic],
        fromBeginning: true,
      });
      await consumer.connect();
      void consumer.run(async (fetched, context) => {
        for (const message of fetched.messages) seen.add((await codec.decode<Event>(message.value!)).value.messageId);
        const last = fetched.messages.at(-1);
        if (last) context.resolveOffset(last.offset);
      });
      try {
        await waitFor(
          () => {
            const missing = [...accepted].filter((id) => !seen.has(id));
            if (missing.length > 0)
              throw new Error(`${missing.length} accepted events not on the topic, e.g. ${missing[0]}`);
          },
          { timeoutMs: 120_000, intervalMs: 500 },
        );
      } finally {
        await consumer.disconnect();
      }
    },
    fuzzTimeout(240_000),
  );

  it(
    'refuses compression bombs and corrupt streams with 413 or 400',
    async () => {
      await checkProperty(
        'collector: compression',
        fc.asyncProperty(
          fc.constantFrom('gzip', 'deflate'),
          fc.constantFrom(600_000, 5_000_000, 50_000_000),
          fc.boolean(),
          async (encoding, size, truncate) => {
            const plain = Buffer.concat([
              Buffer.from('{"batch":[{"type":"track","userId":"u","event":"'),
              Buffer.alloc(size, 0x61),
              Buffer.from('"}]}'),
            ]);
            let body = encoding === 'gzip' ? zlib.gzipSync(plain) : zlib.deflateSync(plain);
            if (truncate) body = body.subarray(0, Math.floor(body.length / 2));
            const answer = await post('/v1/batch', body, { 'content-encoding': encoding });
            expectWellFormed(answer);
            // Cut short, a stream may end before it passes the limit: then it is corrupt.
            const code = JSON.parse(answer.text).code;
            if (truncate) expect(['KUMIKI_PAYLOAD_TOO_LARGE', 'KUMIKI_INVALID_ENCODING']).toContain(code);
            else expect(code).toBe('KUMIKI_PAYLOAD_TOO_LARGE');
          },
        ),
        12,
      );
    },
    fuzzTimeout(240_000),
  );

  it(
    'answers slow and abandoned bodies without holding up anyone else',
    async () => {
      await checkProperty(
        'collector: slow bodies',
        fc.asyncProperty(fc.integer({ min: 2, max: 12 }), fc.boolean(), async (pieces, abandon) => {
          const messageId = `${run}-slow-${pieces}-${abandon}-${Math.random()}`;
          const body = Buffer.from(JSON.stringify({ userId: 'u-slow', event: 'Slow', messageId }));
          const slow = slowPost('/v1/track', body, pieces, abandon);
          // Meanwhile an ordinary request is answered.
          const quick = await post('/v1/track', JSON.stringify({ userId: 'u-quick', event: 'Quick' }));
          expect(quick.status).toBe(200);
          const answer = await slow;
          if (abandon) expect(answer).toBeUndefined();
          else {
            expect(answer).toEqual({ status: 200, text: '{"success":true}' });
            accepted.add(messageId);
          }
        }),
        8,
      );
      expect(collector.child.exitCode).toBeNull();
      expect((await fetch(`${collector.url}/health`)).status).toBe(200);
    },
    fuzzTimeout(240_000),
  );
});

/** Sends `body` in `pieces` with pauses between them; `abandon` cuts the connection half-way. */
function slowPost(path: string, body: Buffer, pieces: number, abandon: boolean): Promise<Answer | undefined> {
  return new Promise((resolve, reject) => {
    const url = new URL(`${collector.url}${path}`);
    const request = http.request(
      {
        host: url.hostname,
        port: url.port,
        path: url.pathname,
        method: 'POST',
        headers: { authorization: collector.auth, 'content-type': 'application/json', 'content-length': body.length },
      },
      (response) => {
        let text = '';
        response.on('data', (chunk: Buffer) => (text += chunk.toString()));
        response.on('end', () => resolve({ status: response.statusCode ?? 0, text }));
      },
    );
    request.on('error', (error) => (abandon ? resolve(undefined) : reject(error)));
    const size = Math.ceil(body.length / pieces);
    let piece = 0;
    const next = (): void => {
      if (abandon && piece === Math.floor(pieces / 2)) {
        request.destroy();
        resolve(undefined);
        return;
      }
      const chunk = body.subarray(piece * size, (piece + 1) * size);
      piece += 1;
      if (chunk.length === 0 || piece > pieces) {
        request.end();
        return;
      }
      request.write(chunk);
      setTimeout(next, 150);
    };
    next();
  });
}
