import { schema } from '../../../../schemas';
import { DependencyUnavailableError, InvalidInputError } from '../../../../services/common/errors';
import type { IncomingMessage } from '../../../../services/common/kafka/client';
import { encodeFramed } from '../../../../services/common/registry';
import {
  decodeAvroEvent,
  decodeAvroEventStep,
  parseJsonEvent,
  parseJsonEventStep,
} from '../../../../services/identity-stitcher/steps/decode-event.step';
import { identifyEvent } from '../../../support/events';

function message(value: string | Buffer | null, timestamp = '1700000000000'): IncomingMessage {
  return {
    topic: 't',
    partition: 0,
    offset: '5',
    key: null,
    value: typeof value === 'string' ? Buffer.from(value) : value,
    headers: {},
    timestamp,
  };
}

const event = identifyEvent;

describe('parse-json-event step', () => {
  it('accepts the Event shape with inline objects and ISO times, filling defaults', () => {
    const result = parseJsonEvent(
      message(
        JSON.stringify({
          messageId: 'j-1',
          type: 'track',
          event: 'X',
          userId: 42,
          timestamp: '2026-01-01T00:00:00Z',
          context: { device: { id: 'd' } },
        }),
      ),
    );
    expect(result).toEqual({
      kind: 'ok',
      value: expect.objectContaining({
        messageId: 'j-1',
        userId: '42',
        timestamp: Date.UTC(2026, 0, 1),
        receivedAt: 1_700_000_000_000,
        channel: 'server',
        source: 'kafka-json',
        context: '{"device":{"id":"d"}}',
        traits: '{}',
      }),
    });
  });

  it('dead-letters what is not JSON, not an object, or breaks the schema, naming the field', () => {
    expect(parseJsonEvent(message('{"messageId": "x"'))).toMatchObject({
      kind: 'dlq',
      code: 'KUMIKI_UNDECODABLE',
      reason: 'not JSON',
    });
    expect(parseJsonEvent(message('[1,2]'))).toMatchObject({ kind: 'dlq', code: 'KUMIKI_UNDECODABLE' });
    expect(parseJsonEvent(message(JSON.stringify({ messageId: 'x', type: 'buy' })))).toMatchObject({
      kind: 'dlq',
      code: 'KUMIKI_INVALID_EVENT',
      field: 'type',
    });
    expect(
      parseJsonEvent(message(JSON.stringify({ messageId: 'x', type: 'track', timestamp: 'yesterday' }))),
    ).toMatchObject({ kind: 'dlq', field: 'timestamp' });
    expect(parseJsonEvent(message(JSON.stringify({ messageId: 'x', type: 'track', traits: '[1]' })))).toMatchObject({
      kind: 'dlq',
      field: 'traits',
    });
  });

  it('drops empty records', () => {
    expect(parseJsonEvent(message(null))).toEqual({ kind: 'drop', reason: 'empty record' });
  });
});

describe('decode-avro-event step', () => {
  it('decodes at once when the writer schema is known, dead-letters undecodable bytes either way', () => {
    expect(decodeAvroEvent(message('x'), () => ({ event, ownSchemaRecord: undefined }))).toEqual({
      kind: 'ok',
      value: { event, ownSchemaRecord: undefined },
    });
    expect(
      decodeAvroEvent(message('junk'), () => {
        throw new InvalidInputError('bad magic byte');
      }),
    ).toMatchObject({ kind: 'dlq', code: 'KUMIKI_UNDECODABLE', reason: expect.stringContaining('bad magic byte') });
    expect(decodeAvroEvent(message(null), () => ({ event, ownSchemaRecord: undefined }))).toEqual({
      kind: 'drop',
      reason: 'empty record',
    });
  });

  it('dead-letters undecodable bytes and rethrows outages once a writer schema had to be fetched', async () => {
    await expect(decodeAvroEvent(message('x'), async () => ({ event, ownSchemaRecord: undefined }))).resolves.toEqual({
      kind: 'ok',
      value: { event, ownSchemaRecord: undefined },
    });
    await expect(
      decodeAvroEvent(message('junk'), async () => {
        throw new InvalidInputError('bad magic byte');
      }),
    ).resolves.toMatchObject({
      kind: 'dlq',
      code: 'KUMIKI_UNDECODABLE',
      reason: expect.stringContaining('bad magic byte'),
    });
    await expect(
      decodeAvroEvent(message('x'), async () => {
        throw new DependencyUnavailableError('registry down');
      }),
    ).rejects.toThrow('registry down');
  });
});

describe('the decode steps', () => {
  const eventType = schema('Event').type;
  const codec = (ownId: number) => ({
    schemaIdOf: (topic: string) => (topic === 'raw' ? ownId : undefined),
    decodeNowOrLater: <T>(bytes: Buffer) => ({
      schemaId: bytes.readInt32BE(1),
      value: eventType.fromBuffer(bytes.subarray(5)) as T,
    }),
  });

  it('decode-avro-event keeps the record itself when it was written with our own Event schema', () => {
    const own = encodeFramed(7, eventType, event);
    const step = decodeAvroEventStep(() => codec(7), 'raw');
    expect(step.name).toBe('decode-avro-event');
    expect(step.run(message(own))).toEqual({ kind: 'ok', value: { event, ownSchemaRecord: own } });
    const other = encodeFramed(8, eventType, event);
    expect(step.run(message(other))).toEqual({ kind: 'ok', value: { event, ownSchemaRecord: undefined } });
  });

  it('parse-json-event gives the event, with no record to reuse', () => {
    expect(parseJsonEventStep.name).toBe('parse-json-event');
    const json = JSON.stringify({ messageId: 'j-1', type: 'track', event: 'X', userId: 'u', timestamp: 5 });
    expect(parseJsonEventStep.run(message(json))).toMatchObject({
      kind: 'ok',
      value: { event: { messageId: 'j-1', timestamp: 5 }, ownSchemaRecord: undefined },
    });
    expect(parseJsonEventStep.run(message('[1]'))).toMatchObject({ kind: 'dlq', code: 'KUMIKI_UNDECODABLE' });
  });
});
