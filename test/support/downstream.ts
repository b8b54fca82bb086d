import { SchemaRegistry } from '@kafkajs/confluent-schema-registry';
import { Kafka, logLevel, type Consumer } from 'kafkajs';
import { testStack, uniqueName } from './stack-env';

export interface DownstreamRecord {
  topic: string;
  key: string;
  value: Record<string, unknown>;
}

/** A downstream system: plain kafkajs + @kafkajs/confluent-schema-registry, nothing of kumiki's. */
export async function downstreamConsumer(
  topicNames: string[],
): Promise<{ records: DownstreamRecord[]; stop(): Promise<void> }> {
  const registry = new SchemaRegistry({ host: testStack().registryUrl });
  const kafka = new Kafka({
    brokers: testStack().brokers,
    clientId: uniqueName('downstream'),
    logLevel: logLevel.NOTHING,
  });
  const consumer: Consumer = kafka.consumer({ groupId: uniqueName('downstream'), readUncommitted: false });
  const records: DownstreamRecord[] = [];
  await consumer.connect();
  await consumer.subscribe({ topics: topicNames, fromBeginning: true });
  await consumer.run({
    eachMessage: async ({ topic, message }) => {
      if (!message.value) return;
      records.push({
        topic,
        key: message.key?.toString() ?? '',
        value: (await registry.decode(message.value)) as Record<string, unknown>,
      });
    },
  });
  return { records, stop: () => consumer.disconnect() };
}
