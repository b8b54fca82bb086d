/**
 * kumiki's admin keeps its topic metadata for a few seconds (kafkajs' admin fetched all of it
 * again before every call): end offsets must still move with every write, and partitions added
 * to a topic must show up once the metadata ages out. Reads of several topics at once share one
 * request and still answer each topic with its own offsets.
 */
import { Kafka, logLevel } from 'kafkajs';
import pino from 'pino';
import { createKafkaClient } from '../../../../services/common/kafka/client';
import { testStack, uniqueName } from '../../../support/stack-env';
import { waitFor } from '../../../support/wait-for';

jest.setTimeout(60_000);

test('end offsets follow writes and added partitions through the cached metadata', async () => {
  const { brokers } = testStack();
  const topic = uniqueName('end-offsets');
  const raw = new Kafka({ clientId: 'end-offsets-test', brokers, logLevel: logLevel.NOTHING });
  const rawAdmin = raw.admin();
  await rawAdmin.connect();
  const otherTopic = uniqueName('end-offsets-other');
  await rawAdmin.createTopics({
    topics: [
      { topic, numPartitions: 3 },
      { topic: otherTopic, numPartitions: 1 },
    ],
    waitForLeaders: true,
  });
  const producer = raw.producer();
  await producer.connect();
  const write = (partition: number, count: number) =>
    producer.send({ topic, messages: Array.from({ length: count }, (_, i) => ({ partition, value: `${i}` })) });

  const admin = createKafkaClient({ brokers, clientId: 'end-offsets-test', logger: pino({ level: 'silent' }) }).admin();
  await admin.connect();
  try {
    await write(0, 3);
    await write(1, 5);
    await producer.send({ topic: otherTopic, messages: [{ value: 'o' }] });
    expect(Object.fromEntries(await admin.endOffsets(topic))).toEqual({ 0: '3', 1: '5', 2: '0' });

    await write(2, 2);
    expect(Object.fromEntries(await admin.endOffsets(topic))).toEqual({ 0: '3', 1: '5', 2: '2' });

    // Asked together: one read for both topics, and a topic that does not exist fails alone.
    const [both, other, missing] = await Promise.all([
      admin.endOffsets(topic),
      admin.endOffsets(otherTopic),
      admin.endOffsets(uniqueName('no-such-topic')).catch((e: unknown) => e),
    ]);
    expect(Object.fromEntries(both)).toEqual({ 0: '3', 1: '5', 2: '2' });
    expect(Object.fromEntries(other)).toEqual({ 0: '1' });
    expect(String(missing)).toMatch(/does not host this topic-partition|UNKNOWN_TOPIC|not found/i);

    await rawAdmin.createPartitions({ topicPartitions: [{ topic, count: 4 }] });
    // A producer of its own: the first one's metadata does not know partition 3 yet.
    const later = raw.producer();
    await later.connect();
    await later.send({ topic, messages: [{ partition: 3, value: 'x' }] });
    await later.disconnect();
    const ends = await waitFor(
      async () => {
        const now = await admin.endOffsets(topic);
        if (Number(now.get(3) ?? 0) < 1)
          throw new Error(`partition 3's record not seen yet: ${JSON.stringify(Object.fromEntries(now))}`);
        return now;
      },
      { timeoutMs: 20_000, intervalMs: 250 },
    );
    expect(Object.fromEntries([...ends].filter(([p]) => p < 3))).toEqual({ 0: '3', 1: '5', 2: '2' });
  } finally {
    await admin.disconnect();
    await producer.disconnect();
    await rawAdmin.deleteTopics({ topics: [topic, otherTopic] }).catch(() => undefined);
    await rawAdmin.disconnect();
  }
});
