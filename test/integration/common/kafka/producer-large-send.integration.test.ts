/**
 * One send of more records than a record batch can hold: kafkajs puts all of a call's records
 * for a partition in one batch, so the producer must split them below the broker's limit.
 */
import { createTestTopic, readMessages, testKafka } from '../../../support/kafka';

const kafka = testKafka();

test('a send of 3 MB to one partition arrives whole, in order', async () => {
  const topic = await createTestTopic(kafka, 'large-send', 1);
  const producer = kafka.producer();
  await producer.connect();
  const body = 'x'.repeat(2_000);
  const messages = Array.from({ length: 1_500 }, (_, i) => ({ key: 'same', value: Buffer.from(`${i}:${body}`) }));
  try {
    await producer.send(topic, messages);
  } finally {
    await producer.disconnect();
  }
  const received = await readMessages(kafka, topic, messages.length);
  expect(received.map((m) => m.value?.toString().split(':')[0])).toEqual(messages.map((_, i) => String(i)));
});
