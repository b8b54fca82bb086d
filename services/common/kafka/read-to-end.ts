import type { Kafka } from 'kafkajs';
import type { IncomingMessage } from './messages';
import { toIncomingMessages } from './incoming-messages';
import { unavailableOnFailure } from './kafka-errors';

export interface ReadToEndOptions {
  readonly topic: string;
  /** Called with each batch of records, in offset order per partition, each record once. */
  readonly onBatch: (messages: readonly IncomingMessage[]) => Promise<void> | void;
  /** Defaults to read_committed: only records of committed transactions. */
  readonly readUncommitted?: boolean;
  readonly groupIdPrefix: string;
  /** Start here (partition → next offset to read) instead of at the beginning. */
  readonly fromOffsets?: ReadonlyMap<number, string>;
}

/**
 * Where a read to the end stands, per partition: the next offset to hand on, and whether the
 * end has been passed. It outlives the consumer's restarts: kafkajs restarts a consumer that
 * crashed on a retriable error (the group coordinator still loading after a broker restart) in
 * a new group generation that starts over, so each join seeks back here and records handed on
 * before are dropped.
 */
export class ReadToEndProgress {
  private readonly next = new Map<number, bigint>();
  private readonly pending: Set<number>;

  constructor(
    private readonly ends: ReadonlyMap<number, bigint>,
    fromOffsets?: ReadonlyMap<number, string>,
  ) {
    this.pending = new Set(ends.keys());
    for (const [partition, offset] of fromOffsets ?? [])
      if (ends.has(partition)) this.next.set(partition, BigInt(offset));
  }

  /** Where each partition resumes, for the seeks after a join. */
  resumeAt(): [partition: number, offset: string][] {
    return [...this.next].map(([partition, offset]) => [partition, offset.toString()]);
  }

  /** The records of a batch not handed on before. */
  unseen(partition: number, messages: readonly IncomingMessage[]): readonly IncomingMessage[] {
    const next = this.next.get(partition);
    // Offsets rise within a batch: most batches are wholly new, and the first record says so.
    if (next === undefined || messages.length === 0 || BigInt(messages[0]!.offset) >= next) return messages;
    return messages.filter((m) => BigInt(m.offset) >= next);
  }

  /** The batch ending at `lastOffset` has been handed on. */
  handedOn(partition: number, lastOffset: string): void {
    const after = BigInt(lastOffset) + 1n;
    if (after > (this.next.get(partition) ?? 0n)) this.next.set(partition, after);
  }

  /**
   * The consumer is past `lastOffset`. Called for batches of control records only (commit
   * markers) too, whose offsets a read_committed consumer otherwise never sees.
   */
  passed(partition: number, lastOffset: string): void {
    const end = this.ends.get(partition);
    if (end !== undefined && BigInt(lastOffset) + 1n >= end) this.pending.delete(partition);
  }

  get done(): boolean {
    return this.pending.size === 0;
  }
}

/**
 * Reads a topic from its beginning up to the end offsets it has when the read starts, then
 * returns the number of records read. Reading committed only, the end is reached when the
 * offsets kafkajs reports (control records included) pass the end offset of every partition.
 * Uses a throwaway consumer group that never commits.
 */
export async function readTopicToEnd(kafka: Kafka, options: ReadToEndOptions): Promise<number> {
  const ends = await endOffsets(kafka, options);
  if (ends.size === 0) return 0;
  const progress = new ReadToEndProgress(ends, options.fromOffsets);

  const consumer = kafka.consumer({
    groupId: `${options.groupIdPrefix}-${Date.now().toString(36)}-${Math.random().toString(36).slice(2, 8)}`,
    readUncommitted: options.readUncommitted ?? false,
    allowAutoTopicCreation: false,
    maxBytesPerPartition: 4 * 1024 * 1024,
  });
  let read = 0;
  let failure: unknown;
  let finish: () => void = () => undefined;
  const done = new Promise<void>((resolve) => (finish = resolve));
  consumer.on(consumer.events.GROUP_JOIN, () => {
    for (const [partition, offset] of progress.resumeAt()) consumer.seek({ topic: options.topic, partition, offset });
  });
  consumer.on(consumer.events.END_BATCH_PROCESS, ({ payload }) => {
    progress.passed(payload.partition, payload.lastOffset);
    if (progress.done) finish();
  });
  consumer.on(consumer.events.CRASH, ({ payload }) => {
    if (payload.restart) return;
    failure ??= payload.error;
    finish();
  });
  try {
    await unavailableOnFailure('connect consumer', () => consumer.connect(), { topic: options.topic });
    await consumer.subscribe({ topic: options.topic, fromBeginning: true });
    await consumer.run({
      autoCommit: false,
      eachBatch: async ({ batch }) => {
        const messages = progress.unseen(batch.partition, toIncomingMessages(batch));
        if (messages.length === 0) return;
        try {
          await options.onBatch(messages);
        } catch (error) {
          failure = error;
          finish();
          throw error;
        }
        progress.handedOn(batch.partition, batch.lastOffset());
        read += messages.length;
      },
    });
    await done;
    if (failure) throw failure;
    return read;
  } finally {
    await consumer.disconnect().catch(() => undefined);
  }
}

/** The partitions that hold records past the starting point, with their end offsets. */
async function endOffsets(kafka: Kafka, options: ReadToEndOptions): Promise<Map<number, bigint>> {
  const admin = kafka.admin();
  await unavailableOnFailure('connect admin', () => admin.connect());
  try {
    const offsets = await unavailableOnFailure('fetch end offsets', () => admin.fetchTopicOffsets(options.topic), {
      topic: options.topic,
    });
    return new Map(
      offsets
        .filter(
          (o) =>
            BigInt(o.high) > BigInt(o.low) && BigInt(o.high) > BigInt(options.fromOffsets?.get(o.partition) ?? '0'),
        )
        .map((o) => [o.partition, BigInt(o.high)]),
    );
  } finally {
    await admin.disconnect().catch(() => undefined);
  }
}
