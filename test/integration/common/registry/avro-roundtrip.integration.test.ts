import { schema } from '../../../../schemas';
import type { Event } from '../../../../schemas/types.generated';
import { valueSubject } from '../../../../services/common/kafka/topics';
import { AvroCodec, SchemaRegistryClient } from '../../../../services/common/registry';
import { createTestTopic, readMessages, testKafka } from '../../../support/kafka';
import { testStack, uniqueName } from '../../../support/stack-env';

/**
 * Avro through the real registry and the real broker. Producer and consumer use separate
 * registry clients, as two processes would: the consumer knows nothing but the bytes.
 */
const registry = (): SchemaRegistryClient => new SchemaRegistryClient({ url: testStack().registryUrl });

function sampleEvent(overrides: Partial<Event> = {}): Event {
  return {
    messageId: uniqueName('msg'),
    type: 'track',
    event: 'Order Completed',
    name: null,
    userId: 'user-1',
    anonymousId: 'anon-1',
    previousId: null,
    groupId: null,
    timestamp: 1_760_000_000_123,
    sentAt: 1_760_000_000_100,
    receivedAt: 1_760_000_000_456,
    channel: 'web',
    source: 'integration-test',
    context: '{"ip":"127.0.0.1"}',
    properties: '{"order_id":"o-1","revenue":42.5,"currency":"EUR"}',
    traits: '{}',
    consent: { marketing: true, analytics: false },
    ...overrides,
  };
}

// Consumer-group joins take seconds; don't rely on the config's timeout reaching this project.
jest.setTimeout(60_000);

describe('Avro through Kafka and the schema registry', () => {
  const kafka = testKafka();

  it('round-trips an Event: wire bytes carry the registered id and avsc encoding, and decode to the same value', async () => {
    const topic = await createTestTopic(kafka, 'avro-roundtrip');
    const producerSide = registry();
    const schemaId = await producerSide.register(valueSubject(topic), schema('Event').text);
    const codec = new AvroCodec(producerSide);
    codec.bind(valueSubject(topic), schemaId, schema('Event').type);

    const event = sampleEvent();
    const producer = kafka.producer();
    await producer.connect();
    try {
      await producer.send(topic, [{ key: event.userId, value: codec.encode(topic, event) }]);
    } finally {
      await producer.disconnect();
    }

    const [message] = await readMessages(kafka, topic, 1);
    const bytes = message!.value!;
    expect(bytes[0]).toBe(0);
    expect(bytes.readInt32BE(1)).toBe(schemaId);
    expect(bytes.subarray(5)).toEqual(schema('Event').type.toBuffer(event));

    const consumerSide = new AvroCodec(registry());
    // Nothing to read it with until the writer schema has been fetched once (decode does that).
    expect(consumerSide.decodeKnown(bytes, schema('Event').type)).toBeUndefined();
    await expect(consumerSide.decode(bytes)).resolves.toEqual({ schemaId, value: event });
    await expect(consumerSide.decode(bytes, schema('Event').type)).resolves.toEqual({ schemaId, value: event });
    expect(consumerSide.decodeKnown(bytes, schema('Event').type)).toEqual({ schemaId, value: event });
    // decodeNowOrLater: a promise only until the schema is known, then the value itself.
    const fresh = new AvroCodec(registry());
    const first = fresh.decodeNowOrLater(bytes, schema('Event').type);
    expect(first).toBeInstanceOf(Promise);
    await expect(first).resolves.toEqual({ schemaId, value: event });
    expect(fresh.decodeNowOrLater(bytes, schema('Event').type)).toEqual({ schemaId, value: event });
  });

  it('reads a message from a producer on an older schema with the current reader schema', async () => {
    const topic = await createTestTopic(kafka, 'avro-evolution');
    const subject = valueSubject(topic);
    // Version 1 of Event: before `sentAt` and `consent` existed (both added with defaults).
    const current = schema('Event').json;
    const v1 = {
      ...current,
      fields: current.fields.filter((field) => !['sentAt', 'consent'].includes((field as { name: string }).name)),
    };

    const oldProducer = new AvroCodec(registry());
    const v1Id = await oldProducer.registerAndBind(subject, v1);
    const newProducer = new AvroCodec(registry());
    const v2Id = await newProducer.registerAndBind(subject, schema('Event').text);
    expect(v2Id).not.toBe(v1Id);

    const { sentAt: _sentAt, consent: _consent, ...oldEvent } = sampleEvent({ messageId: 'old' });
    const newEvent = sampleEvent({ messageId: 'new', traits: '{"plan":"pro"}' });
    const producer = kafka.producer();
    await producer.connect();
    try {
      await producer.send(topic, [
        { key: 'user-1', value: oldProducer.encode(topic, oldEvent) },
        { key: 'user-1', value: newProducer.encode(topic, newEvent) },
      ]);
    } finally {
      await producer.disconnect();
    }

    const messages = await readMessages(kafka, topic, 2);
    const reader = new AvroCodec(registry());
    const decoded = await Promise.all(messages.map((m) => reader.decode<Event>(m.value!, schema('Event').type)));
    expect(decoded).toEqual([
      { schemaId: v1Id, value: { ...oldEvent, sentAt: null, consent: {} } },
      { schemaId: v2Id, value: newEvent },
    ]);
    // Once met, an old writer schema is read at once, through the same resolution.
    expect(reader.decodeKnown<Event>(messages[0]!.value!, schema('Event').type)).toEqual(decoded[0]);
    // Without a reader schema the old message keeps the writer's shape.
    const asWritten = await reader.decode<Record<string, unknown>>(messages[0]!.value!);
    expect(asWritten.value).toEqual(oldEvent);
    expect('consent' in asWritten.value).toBe(false);
  });
});
