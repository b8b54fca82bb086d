import pino from 'pino';
import { createKafkaClient, type IncomingMessage, type KafkaClient } from '../../services/common/kafka/client';
import { testStack, uniqueName } from './stack-env';
import { waitFor } from './wait-for';

export function testKafka(): KafkaClient {
  return createKafkaClient({
    brokers: testStack().brokers,
    clientId: uniqueName('test'),
    logger: pino({ level: 'warn' }),
  });
}

/** Creates a fresh topic for one test. */
export async function createTestTopic(client: KafkaClient, prefix: string, partitions = 1): Promise<string> {
  const name = uniqueName(prefix);
  const admin = client.admin();
  await admin.connect();
  await admin.ensureTopics([{ name, partitions, cleanup: 'delete', key: 'test' }]);
  await admin.disconnect();
  return name;
}

/** Reads a topic from the beginning (read committed) until `count` messages arrived, with a bound. */
export async function readMessages(
  client: KafkaClient,
  topic: string,
  count: number,
  timeoutMs = 30_000,
): Promise<IncomingMessage[]> {
  const consumer = client.consumer({ groupId: uniqueName('reader'), topics: [topic], fromBeginning: true });
  const received: IncomingMessage[] = [];
  await consumer.connect();
  void consumer.run(async (batch, context) => {
    received.push(...batch.messages);
    const last = batch.messages.at(-1);
    if (last) context.resolveOffset(last.offset);
  });
  try {
    await waitFor(
      () => {
        if (received.length < count) throw new Error(`read ${received.length} of ${count} messages from ${topic}`);
      },
      { timeoutMs },
    );
    return received;
  } finally {
    await consumer.disconnect();
  }
}
