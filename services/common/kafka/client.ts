import {
  Kafka,
  CompressionTypes,
  ConfigResourceTypes,
  ConfigSource,
  type Admin,
  type Consumer,
  type EachBatchPayload,
  type Producer,
  type RetryOptions as KafkaRetryOptions,
  type SASLOptions,
} from 'kafkajs';
import { kafkaLogCreator, type Logger } from '../logger';
import { withRetry } from '../retry';
import { allTopics, topicConfigEntries, type TopicSpec } from './topics';
import { toIncomingMessages } from './incoming-messages';
import { chunked, toKafkaMessage } from './outgoing-messages';
import { restartsWhenKafkajsGivesUp } from './consumer-restarts';
import { defaultPartitioner } from './partitioner';
import { unavailableOnFailure } from './kafka-errors';
import { readTopicToEnd, type ReadToEndOptions } from './read-to-end';
import { TopicTail, type TopicTailOptions } from './topic-tail';
import { readPartitionRange, type ReadRangeOptions } from './read-range';
import { createTransactionalProducer, type TransactionalProducer } from './transactions';

/**
 * kumiki's thin face over the Kafka client. Services depend on these interfaces, never on
 * kafkajs types, so that the client library can be replaced (kafkajs is unmaintained) by
 * rewriting this folder alone.
 */
export interface OutgoingMessage {
  readonly key: string | Buffer | null;
  readonly value: Buffer | string | null;
  readonly headers?: Readonly<Record<string, string | Buffer>>;
  readonly partition?: number;
}

export interface IncomingMessage {
  readonly topic: string;
  readonly partition: number;
  readonly offset: string;
  readonly key: Buffer | null;
  readonly value: Buffer | null;
  readonly headers: Readonly<Record<string, Buffer | undefined>>;
  readonly timestamp: string;
}

export interface MessageBatch {
  readonly topic: string;
  readonly partition: number;
  readonly messages: readonly IncomingMessage[];
  readonly highWatermark: string;
  /**
   * Offset of the last record fetched for this batch, transaction markers and aborted records
   * included (≥ the last message's). Committing past it skips nothing a read_committed consumer
   * would see, and leaves no lag of one marker behind on transactional topics.
   */
  readonly lastOffset: string;
}

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

export interface TopicLag {
  readonly topic: string;
  readonly partition: number;
  readonly committed: string;
  readonly end: string;
  readonly lag: number;
}

export interface KafkaAdmin {
  connect(): Promise<void>;
  /** Creates the topics that are missing; existing topics are left as they are. */
  ensureTopics(specs?: readonly TopicSpec[]): Promise<string[]>;
  /**
   * Raises `max.message.bytes` of existing topics to their spec where it is lower (topics made
   * before the spec asked for more), keeping every other topic-level setting; returns their names.
   */
  raiseMessageLimits(specs?: readonly TopicSpec[]): Promise<string[]>;
  listTopics(): Promise<string[]>;
  /** Number of partitions of an existing topic. */
  partitionCount(topic: string): Promise<number>;
  describeCluster(): Promise<{ brokers: number; controller: number | null }>;
  groupLag(groupId: string, topics: readonly string[]): Promise<TopicLag[]>;
  /** Partition → the offset after its last record (the high watermark). */
  endOffsets(topic: string): Promise<Map<number, string>>;
  /** Partition → the offset of its first record written at or after `timestampMs` (the end where none is). */
  offsetsAtTime(topic: string, timestampMs: number): Promise<Map<number, string>>;
  /** Partition → the group's committed offset (-1 where none). */
  groupOffsets(groupId: string, topic: string): Promise<Map<number, string>>;
  /** Sets a group's committed offsets; the group must have no running member. */
  setGroupOffsets(groupId: string, topic: string, offsets: ReadonlyMap<number, string>): Promise<void>;
  /** Deletes groups that have no running member; returns the ids that could not be deleted. */
  deleteGroups(groupIds: readonly string[]): Promise<string[]>;
  deleteTopics(names: readonly string[]): Promise<void>;
  disconnect(): Promise<void>;
}

/** Retries inside kafkajs stay short: our own loops decide how long to keep trying. */
const clientRetry: KafkaRetryOptions = { initialRetryTime: 200, maxRetryTime: 5_000, retries: 5 };

export function createKafkaClient(settings: KafkaSettings): KafkaClient {
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
    admin: () => wrapAdmin(kafka.admin()),
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
    retry: { ...clientRetry, retries: 10 },
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

/** kumiki's admin over kafkajs': every failure of a Kafka call is thrown as `kafkaFailure` says. Exported for its tests. */
export function wrapAdmin(admin: Admin): KafkaAdmin {
  // kafkajs' admin keeps one set of target topics and refreshes their metadata lazily: two offset
  // look-ups of different topics at once can find the other's metadata only, and fail on a
  // partition list that is not there. Look-ups by topic go one at a time.
  let queue: Promise<unknown> = Promise.resolve();
  const serial = <T>(task: () => Promise<T>): Promise<T> => {
    const run = queue.then(task, task);
    queue = run.catch(() => undefined);
    return run;
  };
  return {
    connect: () => unavailableOnFailure('connect admin', () => admin.connect()),
    async ensureTopics(specs = allTopics) {
      const existing = new Set(await unavailableOnFailure('list topics', () => admin.listTopics()));
      const missing = specs.filter((spec) => !existing.has(spec.name));
      if (missing.length === 0) return [];
      await unavailableOnFailure('create topics', () =>
        admin.createTopics({
          // Leaders are awaited below with our own bounded retry: kafkajs' wait gives up on a
          // freshly started broker's transient "does not host this topic-partition".
          waitForLeaders: false,
          topics: missing.map((spec) => ({
            topic: spec.name,
            numPartitions: spec.partitions,
            replicationFactor: -1,
            configEntries: topicConfigEntries(spec),
          })),
        }),
      );
      const names = missing.map((spec) => spec.name);
      // A broker that has just started can answer "does not host this topic-partition" for a
      // moment after creation; wait until every new topic's metadata is served.
      await withRetry(
        async () => {
          const { topics: described } = await admin.fetchTopicMetadata({ topics: names });
          const leaderless = described.filter((topic) => topic.partitions.some((partition) => partition.leader < 0));
          if (leaderless.length > 0)
            throw Object.assign(new Error(`no leader yet for ${leaderless.map((t) => t.name).join(', ')}`), {
              retriable: true,
            });
        },
        {
          initialDelayMs: 100,
          maxDelayMs: 1_000,
          deadlineMs: 30_000,
          shouldRetry: (error) =>
            (error as { retriable?: boolean }).retriable === true ||
            /does not host|UNKNOWN_TOPIC|LEADER_NOT_AVAILABLE/i.test(String(error)),
        },
      );
      return names;
    },
    async raiseMessageLimits(specs = allTopics) {
      const wanted = specs.filter((spec) => spec.maxMessageBytes !== undefined);
      if (wanted.length === 0) return [];
      const existing = new Set(await unavailableOnFailure('list topics', () => admin.listTopics()));
      const resources = wanted
        .filter((spec) => existing.has(spec.name))
        .map((spec) => ({ type: ConfigResourceTypes.TOPIC, name: spec.name }));
      if (resources.length === 0) return [];
      const described = await unavailableOnFailure('describe topic configs', () =>
        admin.describeConfigs({ resources, includeSynonyms: false }),
      );
      const raised: string[] = [];
      for (const { resourceName, configEntries } of described.resources) {
        const limit = wanted.find((spec) => spec.name === resourceName)!.maxMessageBytes!;
        const current = configEntries.find((entry) => entry.configName === 'max.message.bytes');
        if (current && Number(current.configValue) >= limit) continue;
        // AlterConfigs replaces a topic's whole set of overrides: carry the others over.
        const overrides = configEntries
          .filter(
            (entry) => entry.configSource === ConfigSource.TOPIC_CONFIG && entry.configName !== 'max.message.bytes',
          )
          .map((entry) => ({ name: entry.configName, value: entry.configValue }));
        await unavailableOnFailure(`raise max.message.bytes of ${resourceName}`, () =>
          admin.alterConfigs({
            validateOnly: false,
            resources: [
              {
                type: ConfigResourceTypes.TOPIC,
                name: resourceName,
                configEntries: [...overrides, { name: 'max.message.bytes', value: String(limit) }],
              },
            ],
          }),
        );
        raised.push(resourceName);
      }
      return raised;
    },
    listTopics: () => unavailableOnFailure('list topics', () => admin.listTopics()),
    async partitionCount(topic) {
      const { topics: described } = await serial(() =>
        unavailableOnFailure(`describe ${topic}`, () => admin.fetchTopicMetadata({ topics: [topic] })),
      );
      return described[0]?.partitions.length ?? 0;
    },
    async describeCluster() {
      const cluster = await unavailableOnFailure('describe cluster', () => admin.describeCluster());
      return { brokers: cluster.brokers.length, controller: cluster.controller };
    },
    async groupLag(groupId, topicNames) {
      const lags: TopicLag[] = [];
      const committed = await admin.fetchOffsets({ groupId, topics: [...topicNames] });
      for (const { topic, partitions } of committed) {
        const ends = await admin.fetchTopicOffsets(topic);
        for (const end of ends) {
          const done = partitions.find((p) => p.partition === end.partition)?.offset ?? '-1';
          const start = Number(done) < 0 ? Number(end.low) : Number(done);
          lags.push({
            topic,
            partition: end.partition,
            committed: done,
            end: end.high,
            lag: Math.max(0, Number(end.high) - start),
          });
        }
      }
      return lags;
    },
    async endOffsets(topic) {
      const offsets = await serial(() =>
        unavailableOnFailure(`fetch end offsets of ${topic}`, () => admin.fetchTopicOffsets(topic)),
      );
      return new Map(offsets.map((o) => [o.partition, o.high]));
    },
    async offsetsAtTime(topic, timestampMs) {
      const offsets = await serial(() =>
        unavailableOnFailure(`fetch offsets of ${topic} by time`, () =>
          admin.fetchTopicOffsetsByTimestamp(topic, timestampMs),
        ),
      );
      return new Map(offsets.map((o) => [o.partition, o.offset]));
    },
    async groupOffsets(groupId, topic) {
      const [committed] = await unavailableOnFailure(`fetch offsets of group ${groupId}`, () =>
        admin.fetchOffsets({ groupId, topics: [topic] }),
      );
      return new Map((committed?.partitions ?? []).map((p) => [p.partition, p.offset]));
    },
    async setGroupOffsets(groupId, topic, offsets) {
      if (offsets.size === 0) return;
      await serial(() =>
        unavailableOnFailure(`set offsets of group ${groupId}`, () =>
          admin.setOffsets({
            groupId,
            topic,
            partitions: [...offsets].map(([partition, offset]) => ({ partition, offset })),
          }),
        ),
      );
    },
    async deleteGroups(groupIds) {
      if (groupIds.length === 0) return [];
      try {
        await admin.deleteGroups([...groupIds]);
        return [];
      } catch (error) {
        // kafkajs reports the groups it could not delete (still running, unknown) in `groups`.
        const failed = (error as { groups?: { groupId: string; errorCode: number }[] }).groups;
        if (!failed) throw error;
        return failed.filter((g) => g.errorCode !== 0).map((g) => g.groupId);
      }
    },
    deleteTopics: (names) => admin.deleteTopics({ topics: [...names] }),
    disconnect: () => admin.disconnect(),
  };
}
