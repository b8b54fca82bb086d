import type { Consumer, Kafka } from 'kafkajs';
import { errorMessage } from '../errors';
import type { Logger } from '../logger';
import type { IncomingMessage } from './messages';
import { restartsWhenKafkajsGivesUp } from './consumer-restarts';
import { toIncomingMessages } from './incoming-messages';
import { unavailableOnFailure } from './kafka-errors';

export interface TopicTailOptions {
  readonly topic: string;
  /** Prefix of the throwaway consumer group (a random suffix is added; it never commits). */
  readonly groupIdPrefix: string;
  /** Each batch's records, in offset order per partition, each once (handler errors stop the tail). */
  readonly onRecords: (messages: readonly IncomingMessage[]) => void | Promise<void>;
  /** Where each partition starts (partition → offset); the beginning where absent. */
  readonly startOffsets?: () => Promise<ReadonlyMap<number, string>>;
  readonly logger: Logger;
  readonly readUncommitted?: boolean;
  readonly maxBytesPerPartition?: number;
  /** How long an idle fetch waits for records; the tail's delay when caught up (default 100 ms). */
  readonly maxWaitTimeInMs?: number;
}

/**
 * Follows a topic from a starting point for as long as it runs, handing each record on once:
 * how a service keeps a table in memory from a compacted topic (the activator's destinations,
 * the profiles' consent) or the recent part of a log (the delivery log).
 *
 * Where the tail stands is tracked per partition as the next offset to read, moved past
 * transaction markers too (kafkajs reports the last offset of every fetched batch, control
 * records included). `caughtUpTo(ends)` resolves once every partition has passed `ends`:
 * with ends read from the broker after a record was written elsewhere, it is a barrier that
 * says this table now reflects that record. Its throwaway group never commits; after a
 * restart of the consumer (kafkajs' own, or ours after a crash it gives up on) each join seeks
 * back to where the tail stood, and records seen before are dropped.
 */
export class TopicTail {
  private readonly next = new Map<number, bigint>();
  private readonly waiters = new Set<{ ends: ReadonlyMap<number, bigint>; resolve: () => void }>();
  private consumer: Consumer | undefined;
  private failure: unknown;
  private started = false;
  private stopRestarts: () => void = () => undefined;

  constructor(
    private readonly kafka: Kafka,
    private readonly options: TopicTailOptions,
  ) {}

  get topic(): string {
    return this.options.topic;
  }

  /** Connects and starts following; resolves once the consumer runs (not once caught up). */
  async start(): Promise<void> {
    if (this.started) return;
    this.started = true;
    const { topic } = this.options;
    const start = this.options.startOffsets ? await this.options.startOffsets() : new Map<number, string>();
    for (const [partition, offset] of start) this.next.set(partition, BigInt(offset));
    const consumer = this.kafka.consumer({
      groupId: `${this.options.groupIdPrefix}-${Date.now().toString(36)}-${Math.random().toString(36).slice(2, 8)}`,
      readUncommitted: this.options.readUncommitted ?? false,
      allowAutoTopicCreation: false,
      maxBytesPerPartition: this.options.maxBytesPerPartition ?? 4 * 1024 * 1024,
      maxWaitTimeInMs: this.options.maxWaitTimeInMs ?? 100,
      retry: { restartOnFailure: () => restarts.restartOnFailure() },
    });
    this.consumer = consumer;
    const logger = this.options.logger.child({ component: 'topic-tail', topic });
    const restarts = restartsWhenKafkajsGivesUp(consumer, logger);
    this.stopRestarts = () => restarts.stop();
    consumer.on(consumer.events.GROUP_JOIN, () => {
      for (const [partition, offset] of this.next) consumer.seek({ topic, partition, offset: offset.toString() });
    });
    consumer.on(consumer.events.END_BATCH_PROCESS, ({ payload }) => {
      this.passed(payload.partition, BigInt(payload.lastOffset) + 1n);
    });
    await unavailableOnFailure('connect consumer', () => consumer.connect(), { topic });
    await consumer.subscribe({ topic, fromBeginning: true });
    const run = (): Promise<void> =>
      consumer.run({
        autoCommit: false,
        eachBatch: async ({ batch }) => {
          const next = this.next.get(batch.partition) ?? 0n;
          const all = toIncomingMessages(batch);
          const fresh =
            all.length > 0 && BigInt(all[0]!.offset) >= next ? all : all.filter((m) => BigInt(m.offset) >= next);
          if (fresh.length === 0) return;
          try {
            await this.options.onRecords(fresh);
          } catch (error) {
            this.failure = error;
            logger.error({ error: errorMessage(error) }, 'a record could not be applied; the tail stops');
            this.releaseWaiters();
            throw error;
          }
          this.passed(batch.partition, BigInt(fresh[fresh.length - 1]!.offset) + 1n);
        },
      });
    restarts.watch(run);
    await run();
  }

  /** Safe to call twice; waiters still waiting are rejected. */
  async stop(): Promise<void> {
    this.stopRestarts();
    this.failure ??= new Error(`the tail of ${this.options.topic} stopped`);
    this.releaseWaiters();
    await this.consumer?.disconnect().catch(() => undefined);
    this.consumer = undefined;
  }

  /** The next offset the tail will hand on, per partition. */
  positions(): ReadonlyMap<number, bigint> {
    return this.next;
  }

  /** Resolves once every partition of `ends` has been read up to its offset; rejects if the tail failed. */
  caughtUpTo(ends: ReadonlyMap<number, string | bigint>): Promise<void> {
    if (this.failure) return Promise.reject(this.failure);
    const wanted = new Map([...ends].map(([partition, offset]) => [partition, BigInt(offset)]));
    if (this.reached(wanted)) return Promise.resolve();
    return new Promise((resolve, reject) => {
      const waiter = {
        ends: wanted,
        resolve: () => (this.failure ? reject(this.failure) : resolve()),
      };
      this.waiters.add(waiter);
    });
  }

  private passed(partition: number, after: bigint): void {
    if (after <= (this.next.get(partition) ?? 0n)) return;
    this.next.set(partition, after);
    for (const waiter of this.waiters) {
      if (this.reached(waiter.ends)) {
        this.waiters.delete(waiter);
        waiter.resolve();
      }
    }
  }

  private reached(ends: ReadonlyMap<number, bigint>): boolean {
    for (const [partition, end] of ends) if ((this.next.get(partition) ?? 0n) < end) return false;
    return true;
  }

  private releaseWaiters(): void {
    for (const waiter of this.waiters) waiter.resolve();
    this.waiters.clear();
  }
}
