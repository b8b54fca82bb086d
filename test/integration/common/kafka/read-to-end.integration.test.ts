/**
 * A read to the end (how the stitcher rebuilds its graph and how tests read topics back) goes
 * on through a broker outage longer than kafkajs' retries: kafkajs restarts the crashed
 * consumer in a new group generation that starts over, and every record is still handed on
 * exactly once, in order per partition.
 */
import { Kafka, logLevel } from 'kafkajs';
import type { IncomingMessage } from '../../../../services/common/kafka/client';
import { readTopicToEnd } from '../../../../services/common/kafka/read-to-end';
import { startPrivateBroker, type PrivateBroker } from '../../../support/private-broker';
import { uniqueName } from '../../../support/stack-env';

jest.setTimeout(240_000);

let broker: PrivateBroker | undefined;
afterAll(() => broker?.close());

test('a broker outage in the middle of a read to the end loses and repeats no record', async () => {
  broker = await startPrivateBroker();
  // Few, short retries: the outage below outlasts them, so the consumer crashes and kafkajs restarts it.
  const kafka = new Kafka({
    clientId: 'read-to-end-test',
    brokers: [broker.address],
    logLevel: logLevel.NOTHING,
    retry: { retries: 2, initialRetryTime: 100, maxRetryTime: 400 },
  });
  const topic = uniqueName('read-to-end');
  const admin = kafka.admin();
  await admin.connect();
  await admin.createTopics({ topics: [{ topic, numPartitions: 2 }], waitForLeaders: true });
  await admin.disconnect();
  // 2 × 6 MB, so that each partition takes more than one fetch (4 MB per partition).
  const perPartition = 12_000;
  const producer = kafka.producer({ idempotent: true });
  await producer.connect();
  for (let start = 0; start < perPartition; start += 2_000) {
    await producer.send({
      topic,
      acks: -1,
      messages: Array.from({ length: 2_000 }, (_, i) =>
        [0, 1].map((partition) => ({ partition, key: `${partition}`, value: `${start + i}`.padEnd(500, '.') })),
      ).flat(),
    });
  }
  await producer.disconnect();

  const seen: IncomingMessage[] = [];
  let crashes = 0;
  let outage: Promise<void> | undefined;
  const read = await readTopicToEnd(
    kafkaCountingCrashes(kafka, () => (crashes += 1)),
    {
      topic,
      groupIdPrefix: uniqueName('reader'),
      onBatch: async (messages) => {
        seen.push(...messages);
        // After the first batch: the broker goes away for longer than the consumer's retries.
        if (outage) return;
        await broker!.stop();
        outage = new Promise<void>((resolve) => setTimeout(resolve, 3_000)).then(() => broker!.start());
      },
    },
  );
  await outage;

  expect(crashes).toBeGreaterThan(0);
  expect(read).toBe(2 * perPartition);
  for (const partition of [0, 1]) {
    const values = seen
      .filter((m) => m.partition === partition)
      .map((m) => Number(m.value!.toString().replace(/\.+$/, '')));
    expect(values).toEqual(Array.from({ length: perPartition }, (_, i) => i));
  }
});

/** The same client, with every consumer it makes reporting its crashes. */
function kafkaCountingCrashes(kafka: Kafka, onCrash: () => void): Kafka {
  return new Proxy(kafka, {
    get(target, property, receiver) {
      if (property !== 'consumer') return Reflect.get(target, property, receiver);
      return (...args: Parameters<Kafka['consumer']>) => {
        const consumer = target.consumer(...args);
        consumer.on(consumer.events.CRASH, onCrash);
        return consumer;
      };
    },
  });
}
