import pino from 'pino';
import type { Event } from '../../../../schemas';
import { DirectProducer } from '../../../../services/common/events/direct-producer';
import { AvroCodec, SchemaRegistryClient } from '../../../../services/common/registry';
import { createTestTopic, readMessages, testKafka } from '../../../support/kafka';
import { testStack } from '../../../support/stack-env';

const input = {
  messageId: 'crm-export-7',
  type: 'identify' as const,
  userId: 'c-7',
  traits: { email: 'lin@example.com' },
  timestamp: new Date('2024-02-02T02:02:02.000Z'),
  receivedAt: Date.UTC(2024, 1, 2, 3),
  channel: 'server',
  source: 'crm',
};

describe('DirectProducer', () => {
  it('writes Avro in the wire format that decodes through the registry, keyed like the collector', async () => {
    const kafka = testKafka();
    const topic = await createTestTopic(kafka, 'direct-avro');
    const producer = await DirectProducer.connect({
      brokers: testStack().brokers,
      registryUrl: testStack().registryUrl,
      format: 'avro',
      topic,
      logger: pino({ level: 'silent' }),
    });
    await producer.send([input]);
    await producer.close();
    const [message] = await readMessages(kafka, topic, 1);
    expect(message!.key?.toString()).toBe('c-7');
    expect(message!.value![0]).toBe(0);
    const codec = new AvroCodec(new SchemaRegistryClient({ url: testStack().registryUrl }));
    expect({ ...(await codec.decode<Event>(message!.value!)).value }).toEqual({
      messageId: 'crm-export-7',
      type: 'identify',
      event: null,
      name: null,
      userId: 'c-7',
      anonymousId: null,
      previousId: null,
      groupId: null,
      timestamp: Date.UTC(2024, 1, 2, 2, 2, 2),
      sentAt: null,
      receivedAt: Date.UTC(2024, 1, 2, 3),
      channel: 'server',
      source: 'crm',
      context: '{}',
      properties: '{}',
      traits: '{"email":"lin@example.com"}',
      consent: {},
    });
  });

  it('writes the same shape as JSON, and sends nothing when one event of a call is invalid', async () => {
    const kafka = testKafka();
    const topic = await createTestTopic(kafka, 'direct-json');
    const producer = await DirectProducer.connect({
      brokers: testStack().brokers,
      format: 'json',
      topic,
      logger: pino({ level: 'silent' }),
    });
    await expect(producer.send([input, { ...input, messageId: 'bad', userId: null }])).rejects.toThrow(
      'userId: userId or anonymousId is required',
    );
    await producer.send([{ ...input, messageId: 'crm-export-8' }]);
    await producer.close();
    const messages = await readMessages(kafka, topic, 1);
    expect(messages).toHaveLength(1);
    expect(JSON.parse(messages[0]!.value!.toString())).toMatchObject({
      messageId: 'crm-export-8',
      userId: 'c-7',
      traits: '{"email":"lin@example.com"}',
      timestamp: Date.UTC(2024, 1, 2, 2, 2, 2),
    });
  });
});
