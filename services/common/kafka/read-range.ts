import type { Kafka } from 'kafkajs';
import type { IncomingMessage } from './messages';
import { toIncomingMessages } from './incoming-messages';
import { unavailableOnFailure } from './kafka-errors';

export interface ReadRangeOptions {
  readonly topic: string;
  readonly partition: number;
  /** First offset to read. */
  readonly from: string;
  /** Read up to (not including) this offset, usually the end offset when the read starts. */
  readonly to: string;
  readonly groupIdPrefix: string;
  /** Each batch's records in the range, in order; return false to stop early. */
  readonly onBatch: (messages: readonly IncomingMessage[]) => Promise<boolean | undefined> | boolean | undefined;
}

/**
 * Reads one partition from `from` up to `to` (read committed) with a throwaway group that never
 * commits: the other partitions of the topic are paused at once. For reading a bounded slice on
 * demand, such as a destination's dead letters, which share a partition by their key.
 */
export async function readPartitionRange(kafka: Kafka, options: ReadRangeOptions): Promise<void> {
  const from = BigInt(options.from);
  const to = BigInt(options.to);
  if (from >= to) return;
  const { topic, partition } = options;
  const consumer = kafka.consumer({
    groupId: `${options.groupIdPrefix}-${Date.now().toString(36)}-${Math.random().toString(36).slice(2, 8)}`,
    allowAutoTopicCreation: false,
    maxWaitTimeInMs: 100,
  });
  let finish: () => void = () => undefined;
  let failure: unknown;
  const done = new Promise<void>((resolve) => (finish = resolve));
  let next = from;
  consumer.on(consumer.events.GROUP_JOIN, ({ payload }) => {
    const others = (payload.memberAssignment[topic] ?? []).filter((p) => p !== partition);
    if (others.length > 0) consumer.pause([{ topic, partitions: others }]);
    consumer.seek({ topic, partition, offset: next.toString() });
  });
  consumer.on(consumer.events.END_BATCH_PROCESS, ({ payload }) => {
    if (payload.partition === partition && BigInt(payload.lastOffset) + 1n >= to) finish();
  });
  consumer.on(consumer.events.CRASH, ({ payload }) => {
    if (payload.restart) return;
    failure ??= payload.error;
    finish();
  });
  try {
    await unavailableOnFailure('connect consumer', () => consumer.connect(), { topic });
    await consumer.subscribe({ topic, fromBeginning: true });
    await consumer.run({
      autoCommit: false,
      eachBatch: async ({ batch }) => {
        if (batch.partition !== partition) return;
        const messages = toIncomingMessages(batch).filter((m) => {
          const offset = BigInt(m.offset);
          return offset >= next && offset < to;
        });
        if (messages.length === 0) return;
        next = BigInt(messages[messages.length - 1]!.offset) + 1n;
        try {
          if ((await options.onBatch(messages)) === false) finish();
        } catch (error) {
          failure = error;
          finish();
        }
      },
    });
    await done;
    if (failure) throw failure;
  } finally {
    await consumer.disconnect().catch(() => undefined);
  }
}
