import * as avro from 'avsc';
import { schema } from '../../../../schemas';
import type { Event } from '../../../../schemas/types.generated';
import { InvalidInputError } from '../../../../services/common/errors';
import { AvroCodec, SchemaRegistryClient, encodeFramed, unframe } from '../../../../services/common/registry';

/**
 * The codec's offline behaviour. The registry client points at a port nothing listens on:
 * everything here must work from memory, which is what keeps the hot path free of HTTP.
 */
const offlineRegistry = (): SchemaRegistryClient =>
  new SchemaRegistryClient({ url: 'http://127.0.0.1:1/apis/ccompat/v7', requestTimeoutMs: 500 });

const event: Event = {
  messageId: 'm-1',
  type: 'identify',
  event: null,
  name: null,
  userId: 'u-1',
  anonymousId: null,
  previousId: null,
  groupId: null,
  timestamp: 1_760_000_000_000,
  sentAt: 1_760_000_000_100,
  receivedAt: 1_760_000_000_200,
  channel: 'store',
  source: 'pos',
  context: '{}',
  properties: '{}',
  traits: '{"email":"a@example.com"}',
  consent: {},
};

function caught(task: () => unknown): unknown {
  try {
    task();
  } catch (error) {
    return error;
  }
  throw new Error('expected an error');
}

describe('wire format', () => {
  it('frames an encoding as magic byte 0, 4-byte big-endian id, Avro body, then any suffix', () => {
    const framed = encodeFramed(258, avro.Type.forSchema('int'), -2, Buffer.from([7, 8, 9]));
    expect([...framed]).toEqual([0, 0, 0, 1, 2, 3, 7, 8, 9]);
    expect(unframe(framed)).toEqual({ schemaId: 258, body: Buffer.from([3, 7, 8, 9]) });
  });

  it('frames values larger than its scratch buffer, and no result shares memory with the next', () => {
    const text = avro.Type.forSchema('string');
    const large = 'x'.repeat(200_000);
    const first = encodeFramed(9, text, large);
    const second = encodeFramed(9, text, 'short');
    expect(text.fromBuffer(unframe(first).body)).toBe(large);
    expect(text.fromBuffer(unframe(second).body)).toBe('short');
    expect(text.fromBuffer(unframe(encodeFramed(9, text, large)).body)).toBe(large);
  });

  it('refuses a bad magic byte with InvalidInputError, and hints at JSON', () => {
    const error = caught(() => unframe(Buffer.from('{"messageId":"m-1"}')));
    expect(error).toBeInstanceOf(InvalidInputError);
    expect((error as InvalidInputError).isRetriable).toBe(false);
    expect((error as Error).message).toBe(
      'not a schema-registry Avro message: magic byte is 123 (0x7b), expected 0 (the value looks like JSON; JSON events go to kumiki.events.json)',
    );
    expect((error as InvalidInputError).context).toEqual({ field: 'value', magicByte: 123 });
    expect(() => unframe(Buffer.from([1, 0, 0, 0, 1, 0]))).toThrow('magic byte is 1 (0x01), expected 0');
  });

  it('refuses a buffer shorter than the header', () => {
    expect(() => unframe(Buffer.from([0, 0, 1]))).toThrow(
      'not a schema-registry Avro message: 3 bytes, shorter than the 5-byte header',
    );
  });
});

describe('AvroCodec (offline)', () => {
  const eventType = schema('Event').type;

  it('decode of a bad magic byte is an InvalidInputError before any registry call', async () => {
    const codec = new AvroCodec(offlineRegistry());
    const bad = Buffer.concat([Buffer.from([9, 0, 0, 0, 1]), eventType.toBuffer(event)]);
    await expect(codec.decode(bad)).rejects.toThrow(
      new InvalidInputError('not a schema-registry Avro message: magic byte is 9 (0x09), expected 0'),
    );
  });

  it('encodes a bound schema with its id and decodes it from memory', async () => {
    const codec = new AvroCodec(offlineRegistry());
    codec.bind('kumiki.events.raw-value', 42, eventType);
    const bytes = codec.encode('kumiki.events.raw', event);
    expect(bytes.subarray(0, 5)).toEqual(Buffer.from([0, 0, 0, 0, 42]));
    expect(bytes.subarray(5)).toEqual(eventType.toBuffer(event));
    expect(codec.encode('kumiki.events.raw-value', event)).toEqual(bytes);
    expect(codec.schemaIdOf('kumiki.events.raw')).toBe(42);
    await expect(codec.decode(bytes)).resolves.toEqual({ schemaId: 42, value: event });
    await expect(codec.decode(bytes, eventType)).resolves.toEqual({ schemaId: 42, value: event });
  });

  it('refuses an invalid value naming every bad field path, without echoing values', () => {
    const codec = new AvroCodec(offlineRegistry());
    codec.bind('kumiki.events.raw-value', 42, eventType);
    const error = caught(() =>
      codec.encode('kumiki.events.raw', {
        ...event,
        type: 'purchase',
        userId: 17,
        timestamp: 1.5,
        consent: { email: 'yes' },
        messageId: undefined,
      }),
    );
    expect(error).toBeInstanceOf(InvalidInputError);
    expect((error as Error).message).toBe(
      'invalid kumiki.v1.Event for kumiki.events.raw-value: ' +
        'messageId (expected string, got nothing); ' +
        'type (expected kumiki.v1.EventType, got a string); ' +
        'userId (expected ["null","string"], got an integer); ' +
        'timestamp (expected long, got a fractional number); ' +
        'consent.email (expected boolean, got a string)',
    );
    expect((error as InvalidInputError).context).toEqual({ subject: 'kumiki.events.raw-value', field: 'messageId' });
  });

  it('refuses to encode for a topic with no bound schema', () => {
    expect(() => new AvroCodec(offlineRegistry()).encode('kumiki.events.raw', event)).toThrow(
      'no Avro schema bound for kumiki.events.raw: register the topic schemas first (AvroCodec.forTopics or bind)',
    );
  });

  it('resolves an older writer schema to the reader schema, filling defaults', async () => {
    const v1 = avro.Type.forSchema({
      type: 'record',
      name: 'Thing',
      namespace: 'test',
      fields: [{ name: 'a', type: 'string' }],
    });
    const v2 = avro.Type.forSchema({
      type: 'record',
      name: 'Thing',
      namespace: 'test',
      fields: [
        { name: 'a', type: 'string' },
        { name: 'b', type: ['null', 'string'], default: null },
        { name: 'n', type: 'int', default: 7 },
      ],
    });
    const codec = new AvroCodec(offlineRegistry());
    codec.bind('things-value', 5, v1);
    const bytes = codec.encode('things', { a: 'x' });
    await expect(codec.decode(bytes, v2)).resolves.toEqual({ schemaId: 5, value: { a: 'x', b: null, n: 7 } });
    // Second read reuses the prepared resolver.
    await expect(codec.decode(bytes, v2)).resolves.toEqual({ schemaId: 5, value: { a: 'x', b: null, n: 7 } });
  });

  it('turns a corrupt body into InvalidInputError', async () => {
    const codec = new AvroCodec(offlineRegistry());
    codec.bind('kumiki.events.raw-value', 42, eventType);
    const truncated = codec.encode('kumiki.events.raw', event).subarray(0, 12);
    await expect(codec.decode(truncated)).rejects.toThrow(/^cannot decode Avro body written with schema id 42: /);
  });
});
