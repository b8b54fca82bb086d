import {
  Kafka,
  CompressionTypes,
  type Consumer,
  type EachBatchPayload,
  type Producer,
  type RetryOptions as KafkaRetryOptions,
  type SASLOptions,
} from 'kafkajs';
import { kafkaLogCreator, type Logger } from '../logger';
import { toIncomingMessages } from './incoming-messages';
import { chunked, toKafkaMessage } from './outgoing-messages';
import { restartsWhenKafkajsGivesUp } from './consumer-restarts';
import { defaultPartitioner } from './partitioner';
import { unavailableOnFailure } from './kafka-errors';
import { assertKafkajsPatched, patchedAdmin } from './kafkajs-patch';
import type { MessageBatch, OutgoingMessage } from './messages';
import { type KafkaAdmin, wrapAdmin } from './admin';
import { readTopicToEnd, type ReadToEndOptions } from './read-to-end';
import { TopicTail, type TopicTailOptions } from './topic-tail';
import { readPartitionRange, type ReadRangeOptions } from './read-range';
import { createTransactionalProducer, type TransactionalProducer } from './transactions';

/**
 * kumiki's thin face over the Kafka client. Services depend on these interfaces, never on
 * kafkajs types, so that the client library can be replaced (kafkajs is unmaintained) by
 * rewriting this folder alone.
 */
export type { KafkaAdmin, TopicLag } from './admin';
export type { IncomingMessage, MessageBatch, OutgoingMessage } from './messages';

export interface KafkaSettings {
  readonly brokers: readonly string[];
  readonly clientId: string;
  readonly logger: Logger;
  /** How long a single connection attempt may take. */
  readonly connectionTimeoutMs?: number;
  /** TLS to the brokers; `ca` (PEM) for a private CA. */
  readonly ssl?: { readonly ca?: string };
  readonly sasl?: {
    readonly mechanism: 'plain' | 'scram-sha-256' | 'scram-sha-512';
    readonly username: string;
    readonly password: string;
  };
}

export interface KafkaClient {
  producer(options?: { transactionalId?: string }): EventProducer;
  consumer(options: ConsumerOptions): BatchConsumer;
  admin(): KafkaAdmin;
  /** A producer for consume-transform-produce transactions (see transactions.ts). */
  transactionalProducer(options: { transactionalId: string; transactionTimeoutMs?: number }): TransactionalProducer;
  /** Reads a topic from the beginning to its current end, each record once (see read-to-end.ts). */
  readToEnd(options: ReadToEndOptions): Promise<number>;
  /** Follows a topic from a starting point, each record once (see topic-tail.ts). */
  tail(options: TopicTailOptions): TopicTail;
  /** Reads one partition between two offsets (see read-range.ts). */
  readRange(options: ReadRangeOptions): Promise<void>;
}

export interface EventProducer {
  connect(): Promise<void>;
  /**
   * Resolves once every message is acknowledged by all in-sync replicas (acks=all). Sends of
   * more than a request's worth (REQUEST_BYTES) go as several requests in turn, so no partition's
   * record batch can pass the broker's limit; when one fails, the ones before it are written
   * (callers resend the whole, and records are deduplicated downstream or idempotent by key).
   */
  send(topic: string, messages: readonly OutgoingMessage[]): Promise<void>;
  disconnect(): Promise<void>;
}

export interface ConsumerOptions {
  readonly groupId: string;
  readonly topics: readonly string[];
  readonly fromBeginning?: boolean;
  /** Consumers of transactional output read only committed records (the default). */
  readonly readUncommitted?: boolean;
  readonly partitionsConsumedConcurrently?: number;
  /** Fetch tuning (linger): the broker answers once `minBytes` are there or `maxWaitTimeInMs` passed. */
  readonly minBytes?: number;
  readonly maxWaitTimeInMs?: number;
  /** Upper bound of one partition's data per fetch, hence of a batch. */
  readonly maxBytesPerPartition?: number;
  /** How long the group waits for a silent member before reassigning its partitions (kafkajs default 30 s). */
  readonly sessionTimeoutMs?: number;
  /**
   * Also hand over batches that held only transaction markers or aborted records (`messages`
   * empty, `lastOffset` where the next read starts), so a consumer committing offsets itself can
   * commit past the marker that arrives after a transaction's records (otherwise its group keeps
   * a lag of one). kafkajs resolves them internally but only commits them in its own auto-commit.
   */
  readonly includeEmptyBatches?: boolean;
  /**
   * Called at every join of the group (the first and each after a rebalance) with the partitions
   * this member now has, before any batch of the new generation is handed over.
   */
  readonly onGroupJoin?: (assignment: Readonly<Record<string, readonly number[]>>) => void;
}

export interface BatchContext {
  /** Marks messages up to and including `offset` as processed. */
  resolveOffset(offset: string): void;
  /** Commits resolved offsets now; call only after side effects are durable. */
  commit(): Promise<void>;
  heartbeat(): Promise<void>;
  isRunning(): boolean;
}

export interface BatchConsumer {
  connect(): Promise<void>;
  /** Offsets are never auto-committed: the handler commits once its output is durable. */
  run(handler: (batch: MessageBatch, context: BatchContext) => Promise<void>): Promise<void>;
  /** Commits these next offsets (last processed + 1) outside a batch handler, e.g. from a timer. Optional for test doubles. */
  commitOffsets?(offsets: readonly { topic: string; partition: number; offset: string }[]): Promise<void>;
  /** In its group and fetching (false from a crash until it has joined again); optional for test doubles. */
  isConsuming?(): boolean;
  disconnect(): Promise<void>;
}

/** Retries inside kafkajs stay short: our own loops decide how long to keep trying. */
/**
 * How long an admin client trusts its topic metadata. Partition counts are always read afresh
 * (partitionCount); this bounds how soon offset look-ups see partitions added to a topic, and a
 * failed look-up refreshes at once.
 */
const adminMetadataMaxAgeMs = 5_000;
const clientRetry: KafkaRetryOptions = { initialRetryTime: 200, maxRetryTime: 5_000, retries: 5 };

export function createKafkaClient(settings: KafkaSettings): KafkaClient {
  assertKafkajsPatched();
  const kafka = new Kafka({
    clientId: settings.clientId,
    brokers: [...settings.brokers],
    connectionTimeout: settings.connectionTimeoutMs ?? 3_000,
    ...(settings.ssl ? { ssl: settings.ssl.ca ? { ca: [settings.ssl.ca], rejectUnauthorized: true } : true } : {}),
    ...(settings.sasl ? { sasl: { ...settings.sasl } as SASLOptions } : {}),
    requestTimeout: 30_000,
    retry: clientRetry,
    logCreator: kafkaLogCreator(settings.logger.child({ component: 'kafkajs' })),
  });
  return {
    producer: (options) => wrapProducer(kafka, options?.transactionalId),
    consumer: (options) =>
      wrapConsumer(kafka, options, settings.logger.child({ component: 'kafka-consumer', groupId: options.groupId })),
    admin: () => wrapAdmin(patchedAdmin(kafka, adminMetadataMaxAgeMs)),
    transactionalProducer: (options) => createTransactionalProducer(kafka, options),
    readToEnd: (options) => readTopicToEnd(kafka, options),
    tail: (options) => new TopicTail(kafka, options),
    readRange: (options) => readPartitionRange(kafka, options),
  };
}

function wrapProducer(kafka: Kafka, transactionalId: string | undefined): EventProducer {
  const producer: Producer = kafka.producer({
    idempotent: true,
    maxInFlightRequests: 5,
    allowAutoTopicCreation: false,
    // Murmur2 like the Java client, so direct producers and kumiki agree on a key's partition.
    createPartitioner: defaultPartitioner,
    // Bounded, so a caller learns of an outage (the collector answers 503) instead of waiting
    // forever; a send that failed after retries is retried by its caller and deduplicated
    // downstream by messageId.
    retry: clientRetry,
    ...(transactionalId ? { transactionalId } : {}),
  });
  return {
    connect: () => unavailableOnFailure('connect producer', () => producer.connect()),
    async send(topic, messages) {
      for (const [part] of chunked([{ topic, messages }])) {
        await unavailableOnFailure(`produce to ${topic}`, () =>
          producer.send({
            topic,
            acks: -1,
            compression: CompressionTypes.None,
            messages: part!.messages.map(toKafkaMessage),
          }),
        );
      }
    },
    disconnect: () => producer.disconnect(),
  };
}

function wrapConsumer(kafka: Kafka, options: ConsumerOptions, logger: Logger): BatchConsumer {
  const consumer: Consumer = kafka.consumer({
    groupId: options.groupId,
    readUncommitted: options.readUncommitted ?? false,
    allowAutoTopicCreation: false,
    retry: { ...clientRetry, retries: 10, restartOnFailure: () => restarts.restartOnFailure() },
    ...(options.minBytes !== undefined ? { minBytes: options.minBytes } : {}),
    ...(options.maxWaitTimeInMs !== undefined ? { maxWaitTimeInMs: options.maxWaitTimeInMs } : {}),
    ...(options.maxBytesPerPartition !== undefined ? { maxBytesPerPartition: options.maxBytesPerPartition } : {}),
    ...(options.sessionTimeoutMs !== undefined ? { sessionTimeout: options.sessionTimeoutMs } : {}),
  });
  const restarts = restartsWhenKafkajsGivesUp(consumer, logger);
  if (options.onGroupJoin) {
    const onGroupJoin = options.onGroupJoin;
    consumer.on(consumer.events.GROUP_JOIN, ({ payload }) => onGroupJoin(payload.memberAssignment));
  }
  return {
    async connect() {
      await unavailableOnFailure('connect consumer', () => consumer.connect());
      for (const topic of options.topics) {
        await consumer.subscribe({ topic, fromBeginning: options.fromBeginning ?? true });
      }
    },
    run: (handler) => {
      if (options.includeEmptyBatches) {
        // Emitted in kafkajs' batch loop, in order with the partition's other batches.
        consumer.on(consumer.events.END_BATCH_PROCESS, ({ payload }) => {
          if (payload.batchSize !== 0) return;
          void handler(
            {
              topic: payload.topic,
              partition: payload.partition,
              highWatermark: payload.highWatermark,
              lastOffset: payload.lastOffset,
              messages: [],
            },
            {
              resolveOffset: () => undefined,
              commit: () =>
                consumer.commitOffsets([
                  {
                    topic: payload.topic,
                    partition: payload.partition,
                    offset: (BigInt(payload.lastOffset) + 1n).toString(),
                  },
                ]),
              heartbeat: async () => undefined,
              isRunning: () => true,
            },
          ).catch(() => undefined);
        });
      }
      const start = (): Promise<void> =>
        consumer.run({
          autoCommit: false,
          eachBatchAutoResolve: false,
          partitionsConsumedConcurrently: options.partitionsConsumedConcurrently ?? 1,
          eachBatch: async (payload: EachBatchPayload) => {
            const { batch } = payload;
            await handler(
              {
                topic: batch.topic,
                partition: batch.partition,
                highWatermark: batch.highWatermark,
                lastOffset: batch.lastOffset(),
                messages: toIncomingMessages(batch),
              },
              {
                resolveOffset: payload.resolveOffset,
                // With autoCommit off, kafkajs' commitOffsetsIfNecessary() without offsets never commits:
                // hand it the resolved offsets explicitly.
                commit: () => payload.commitOffsetsIfNecessary(payload.uncommittedOffsets()),
                heartbeat: payload.heartbeat,
                isRunning: () => payload.isRunning() && !payload.isStale(),
              },
            );
          },
        });
      restarts.watch(start);
      return start();
    },
    commitOffsets: (offsets) => consumer.commitOffsets(offsets.map((o) => ({ ...o }))),
    isConsuming: () => restarts.consuming(),
    disconnect: async () => {
      restarts.stop();
      await consumer.disconnect();
    },
  };
}
