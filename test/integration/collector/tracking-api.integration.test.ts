import zlib from 'node:zlib';
import type { DeadLetter, Event } from '../../../schemas';
import { AvroCodec, SchemaRegistryClient } from '../../../services/common/registry';
import type { IncomingMessage } from '../../../services/common/kafka/client';
import { startCollector, type RunningCollector } from '../../support/collector';
import { readMessages, testKafka } from '../../support/kafka';
import { testStack, uniqueName } from '../../support/stack-env';

/**
 * The collector as a process against the real broker and registry: every call type, a gzip
 * batch and a mixed batch go in over HTTP; what comes out of the collector's own events and
 * dead-letter topics is decoded through the registry and compared field by field.
 */
const codec = new AvroCodec(new SchemaRegistryClient({ url: testStack().registryUrl }));
const kafka = testKafka();
let collector: RunningCollector;

beforeAll(async () => {
  collector = await startCollector();
});

afterAll(async () => {
  await collector?.stop();
});

async function post(
  path: string,
  body: unknown,
  headers: Record<string, string> = {},
): Promise<{ status: number; body: unknown; headers: Headers }> {
  const response = await fetch(`${collector.url}${path}`, {
    method: 'POST',
    headers: { 'content-type': 'application/json', authorization: collector.auth, ...headers },
    body: Buffer.isBuffer(body) ? body : JSON.stringify(body),
  });
  const text = await response.text();
  return { status: response.status, body: text ? JSON.parse(text) : undefined, headers: response.headers };
}

async function decodeAll<T>(
  messages: IncomingMessage[],
): Promise<{ key: string | undefined; value: T; headers: IncomingMessage['headers'] }[]> {
  return Promise.all(
    messages.map(async (m) => ({
      key: m.key?.toString(),
      value: (await codec.decode<T>(m.value!)).value,
      headers: m.headers,
    })),
  );
}

describe('collector over HTTP into Kafka', () => {
  const run = uniqueName('run');
  const id = (name: string) => `${run}-${name}`;
  let events: Map<string, { key: string | undefined; value: Event }>;
  let deadLetters: { key: string | undefined; value: DeadLetter; headers: IncomingMessage['headers'] }[];
  const before = Date.now();
  let after = 0;

  beforeAll(async () => {
    const answers = await Promise.all([
      post('/v1/track', {
        userId: 'user-1',
        event: 'Order Completed',
        properties: { order_id: 'o-1', revenue: 42.5, currency: 'EUR' },
        context: {
          consent: { categoryPreferences: { Advertising: true, Analytics: false } },
          library: { name: 'analytics-node-next' },
        },
        timestamp: '2024-05-01T10:00:00.000Z',
        sentAt: '2024-05-01T10:00:30.000Z',
        messageId: id('track'),
      }),
      post('/v1/identify', {
        anonymousId: 'anon-2',
        userId: 'user-2',
        traits: { email: 'ada@example.com' },
        messageId: id('identify'),
      }),
      post('/v1/page', {
        anonymousId: 'anon-3',
        name: 'Home',
        category: 'Shop',
        properties: { path: '/' },
        messageId: id('page'),
        context: { library: { name: 'analytics.js' } },
      }),
      post('/v1/screen', {
        userId: 'user-4',
        name: 'Cart',
        messageId: id('screen'),
        context: { library: { name: 'analytics-ios' } },
      }),
      post('/v1/group', { userId: 'user-5', groupId: 'acme', traits: { plan: 'pro' }, messageId: id('group') }),
      post('/v1/alias', { userId: 'user-6', previousId: 'anon-6', messageId: id('alias') }),
      post('/v1/t', { anonymousId: 'anon-7', event: 'Short Form', messageId: id('short') }, { authorization: '' }).then(
        () => undefined,
      ),
      post(
        '/v1/batch',
        zlib.gzipSync(
          JSON.stringify({ batch: [{ type: 'track', userId: 'user-8', event: 'Zipped', messageId: id('gzip') }] }),
        ),
        { 'content-encoding': 'gzip' },
      ),
      post('/v1/batch', {
        sentAt: '2024-05-01T10:00:30.000Z',
        batch: [
          {
            type: 'track',
            userId: 'user-9',
            event: 'Good One',
            messageId: id('mixed-good'),
            timestamp: '2024-05-01T10:00:00.000Z',
          },
          { type: 'track', userId: 'user-10', messageId: id('mixed-no-event') },
          { type: 'identify', anonymousId: 'anon-11', timestamp: 'last tuesday', messageId: id('mixed-bad-time') },
        ],
      }),
    ]);
    after = Date.now();
    expect(answers.filter((a) => a !== undefined).map((a) => a!.status)).toEqual([
      200, 200, 200, 200, 200, 200, 200, 200,
    ]);
    expect(answers[8]!.body).toEqual({
      success: true,
      accepted: 1,
      rejected: [
        {
          index: 1,
          messageId: id('mixed-no-event'),
          code: 'KUMIKI_MISSING_FIELD',
          message: 'track needs an event name',
          field: 'batch[1].event',
        },
        {
          index: 2,
          messageId: id('mixed-bad-time'),
          code: 'KUMIKI_INVALID_TIMESTAMP',
          message: 'timestamp must be an ISO-8601 date-time, got "last tuesday"',
          field: 'batch[2].timestamp',
        },
      ],
    });
    // The short form was posted without Basic auth: it is refused, nothing is produced for it.
    const decoded = await decodeAll<Event>(await readMessages(kafka, collector.eventsTopic, 8));
    events = new Map(decoded.map((d) => [d.value.messageId, d]));
    deadLetters = await decodeAll<DeadLetter>(await readMessages(kafka, collector.dlqTopic, 2));
  });

  it('produced exactly the accepted events', () => {
    expect([...events.keys()].sort()).toEqual(
      ['track', 'identify', 'page', 'screen', 'group', 'alias', 'gzip', 'mixed-good'].map(id).sort(),
    );
  });

  it('track: exact fields, clock skew corrected, consent carried, keyed by userId', () => {
    const { key, value } = events.get(id('track'))!;
    expect(key).toBe('user-1');
    expect(value.receivedAt).toBeGreaterThanOrEqual(before);
    expect(value.receivedAt).toBeLessThanOrEqual(after);
    expect(value).toEqual({
      messageId: id('track'),
      type: 'track',
      event: 'Order Completed',
      name: null,
      userId: 'user-1',
      anonymousId: null,
      previousId: null,
      groupId: null,
      timestamp: value.receivedAt - 30_000,
      sentAt: Date.parse('2024-05-01T10:00:30.000Z'),
      receivedAt: value.receivedAt,
      channel: 'server',
      source: 'default',
      context: JSON.stringify({
        consent: { categoryPreferences: { Advertising: true, Analytics: false } },
        library: { name: 'analytics-node-next' },
      }),
      properties: JSON.stringify({ order_id: 'o-1', revenue: 42.5, currency: 'EUR' }),
      traits: '{}',
      consent: { Advertising: true, Analytics: false },
    });
  });

  it('identify, page, screen, group, alias: their own fields', () => {
    expect(events.get(id('identify'))).toMatchObject({
      key: 'user-2',
      value: {
        type: 'identify',
        userId: 'user-2',
        anonymousId: 'anon-2',
        traits: '{"email":"ada@example.com"}',
        event: null,
        sentAt: null,
      },
    });
    const identify = events.get(id('identify'))!.value;
    expect(identify.timestamp).toBe(identify.receivedAt);
    expect(events.get(id('page'))).toMatchObject({
      key: 'anon-3',
      value: { type: 'page', name: 'Home', channel: 'web', properties: '{"path":"/","category":"Shop"}', userId: null },
    });
    expect(events.get(id('screen'))).toMatchObject({
      key: 'user-4',
      value: { type: 'screen', name: 'Cart', channel: 'mobile' },
    });
    expect(events.get(id('group'))).toMatchObject({
      key: 'user-5',
      value: { type: 'group', groupId: 'acme', traits: '{"plan":"pro"}' },
    });
    expect(events.get(id('alias'))).toMatchObject({
      key: 'user-6',
      value: { type: 'alias', userId: 'user-6', previousId: 'anon-6' },
    });
  });

  it('a gzip batch and the valid part of a mixed batch arrive', () => {
    expect(events.get(id('gzip'))).toMatchObject({ key: 'user-8', value: { type: 'track', event: 'Zipped' } });
    const good = events.get(id('mixed-good'))!.value;
    expect(good).toMatchObject({ event: 'Good One', sentAt: Date.parse('2024-05-01T10:00:30.000Z') });
    expect(good.timestamp).toBe(good.receivedAt - 30_000);
  });

  it('rejected events of the batch are in the DLQ with reason, code, stage and original bytes', () => {
    const byId = new Map(deadLetters.map((d) => [d.value.messageId, d]));
    const noEvent = byId.get(id('mixed-no-event'))!;
    expect(noEvent.key).toBe('user-10');
    expect(noEvent.headers['kumiki-dlq-code']?.toString()).toBe('KUMIKI_MISSING_FIELD');
    expect({ ...noEvent.value }).toEqual({
      reason: 'track needs an event name (batch[1].event)',
      code: 'KUMIKI_MISSING_FIELD',
      stage: 'validate-message',
      error: 'track needs an event name (batch[1].event)',
      service: 'collector',
      originalTopic: null,
      originalPartition: null,
      originalOffset: null,
      originalKey: Buffer.from('user-10'),
      originalValue: Buffer.from(JSON.stringify({ type: 'track', userId: 'user-10', messageId: id('mixed-no-event') })),
      attempt: 1,
      failedAt: noEvent.value.failedAt,
      messageId: id('mixed-no-event'),
    });
    expect(noEvent.value.failedAt).toBeGreaterThanOrEqual(before);
    expect(byId.get(id('mixed-bad-time'))!.value).toMatchObject({
      code: 'KUMIKI_INVALID_TIMESTAMP',
      stage: 'validate-message',
      originalKey: Buffer.from('anon-11'),
      originalValue: Buffer.from(
        JSON.stringify({
          type: 'identify',
          anonymousId: 'anon-11',
          timestamp: 'last tuesday',
          messageId: id('mixed-bad-time'),
        }),
      ),
    });
  });
});

describe('collector refusals', () => {
  it('answers each bad request with its stable code and the field', async () => {
    expect(
      await post(
        '/v1/track',
        { userId: 'u', event: 'E' },
        { authorization: `Basic ${Buffer.from('wk_not_known:').toString('base64')}` },
      ),
    ).toMatchObject({
      status: 401,
      body: { code: 'KUMIKI_UNAUTHORIZED' },
    });
    expect(
      await post('/v1/track', { userId: 'u', event: 'E', writeKey: collector.writeKey }, { authorization: '' }),
    ).toMatchObject({ status: 200 });
    expect(await post('/v1/track', { userId: 'u' })).toEqual(
      expect.objectContaining({
        status: 400,
        body: { code: 'KUMIKI_MISSING_FIELD', message: 'track needs an event name', field: 'event' },
      }),
    );
    expect(await post('/v1/identify', Buffer.from('{"userId": "u",'))).toMatchObject({
      status: 400,
      body: { code: 'KUMIKI_MALFORMED_JSON' },
    });
    expect(
      await post(
        '/v1/identify',
        Buffer.from([0x7b, 0x22, 0x75, 0x73, 0x65, 0x72, 0x49, 0x64, 0x22, 0x3a, 0x22, 0xff, 0x22, 0x7d]),
      ),
    ).toMatchObject({
      status: 400,
      body: { code: 'KUMIKI_INVALID_ENCODING' },
    });
    expect(
      await post('/v1/track', { userId: 'u', event: 'E', properties: { blob: 'x'.repeat(40_000) } }),
    ).toMatchObject({ status: 413, body: { code: 'KUMIKI_PAYLOAD_TOO_LARGE' } });
    const bigBatch = {
      batch: Array.from({ length: 30 }, () => ({
        type: 'track',
        userId: 'u',
        event: 'E',
        properties: { blob: 'x'.repeat(20_000) },
      })),
    };
    expect(
      await post('/v1/batch', zlib.gzipSync(JSON.stringify(bigBatch)), { 'content-encoding': 'gzip' }),
    ).toMatchObject({ status: 413, body: { code: 'KUMIKI_PAYLOAD_TOO_LARGE' } });
    expect(await post('/v1/nope', {})).toMatchObject({ status: 404, body: { code: 'KUMIKI_NOT_FOUND' } });
  });

  it('answers CORS preflights and sends CORS headers to browsers (text/plain bodies as analytics.js sends them)', async () => {
    const preflight = await fetch(`${collector.url}/v1/t`, {
      method: 'OPTIONS',
      headers: {
        origin: 'https://shop.example',
        'access-control-request-method': 'POST',
        'access-control-request-headers': 'content-type',
      },
    });
    expect(preflight.status).toBe(204);
    expect(preflight.headers.get('access-control-allow-origin')).toBe('https://shop.example');
    expect(preflight.headers.get('access-control-allow-methods')).toBe('POST, OPTIONS');
    const answer = await post(
      '/v1/t',
      { anonymousId: 'a', event: 'Browser', writeKey: collector.writeKey },
      { origin: 'https://shop.example', 'content-type': 'text/plain', authorization: '' },
    );
    expect(answer.status).toBe(200);
    expect(answer.headers.get('access-control-allow-origin')).toBe('https://shop.example');
  });
});
