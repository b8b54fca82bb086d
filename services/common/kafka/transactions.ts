import { CompressionTypes, type Kafka, type Producer, type Transaction as KafkaTransaction } from 'kafkajs';
import { DependencyUnavailableError, errorMessage, KumikiError } from '../errors';
import { kafkaFailure } from './kafka-errors';
import { toKafkaMessage, type TopicMessages } from './outgoing-messages';
import { defaultPartitioner } from './partitioner';
import { WRITTEN_RECORDS, type TopicRecordSets } from './record-sets';

/**
 * Kafka transactions for consume-transform-produce (the identity stitcher).
 *
 * `connect()` connects and initialises the producer id of the transactional id at once: the
 * broker bumps the epoch, aborts whatever transaction an earlier holder of the id left open,
 * and from then on rejects that holder (a zombie) with a fencing error. A fenced producer can
 * never commit again; callers must treat `ProducerFencedError` as fatal and stop.
 */
export interface TransactionalProducer {
  connect(): Promise<void>;
  /** Begins a transaction. Only one may be open at a time. */
  begin(): Promise<Transaction>;
  /**
   * Asks the transaction coordinator whether this producer still holds its transactional id,
   * without taking it over: whatever transaction this producer's epoch has open is aborted. Throws
   * `ProducerFencedError` when a newer producer initialised the id since, and a retriable error
   * while the coordinator cannot answer (a failed call may have hidden a fencing: ask again).
   */
  confirmHolder(): Promise<void>;
  disconnect(): Promise<void>;
}

export interface ConsumedOffset {
  readonly topic: string;
  readonly partition: number;
  /** The next offset to consume (last processed + 1), as Kafka commits it. */
  readonly offset: string;
}

/** Where a partition's records of one `send` landed: its first record got `baseOffset`, the next ones follow on. */
export interface SentPartition {
  readonly topic: string;
  readonly partition: number;
  readonly baseOffset: string;
}

export interface Transaction {
  /**
   * Sends records of several topics in one request round. Resolves with the base offset of each
   * partition written to: a partition's records of this call are contiguous, in the given order.
   * (`undefined` is allowed so that test doubles which ignore offsets need not invent them.)
   */
  send(batches: readonly TopicMessages[]): Promise<SentPartition[] | undefined>;
  /** Sends one request's worth of records already written (`RecordSets.requests()`). */
  sendWritten(request: readonly TopicRecordSets[]): Promise<void>;
  /** Adds consumed offsets of `groupId` to the transaction: they commit with the records or not at all. */
  sendOffsets(groupId: string, offsets: readonly ConsumedOffset[]): Promise<void>;
  commit(): Promise<void>;
  abort(): Promise<void>;
}

/** Another producer with the same transactional id took over; this one must stop. Never retried. */
export class ProducerFencedError extends KumikiError {
  readonly isRetriable = false;
}

/** Our kafkajs patch's EndTxn(abort) at the producer's current epoch (patches/kafkajs+2.2.4.patch). */
const ABORT_AT_CURRENT_EPOCH = Symbol.for('kumiki.kafka.abortAtCurrentEpoch');

const FENCED = new Set([
  'INVALID_PRODUCER_EPOCH',
  'PRODUCER_FENCED',
  'TRANSACTION_COORDINATOR_FENCED',
  'INVALID_PRODUCER_ID_MAPPING',
]);

export function createTransactionalProducer(
  kafka: Kafka,
  options: { transactionalId: string; transactionTimeoutMs?: number },
): TransactionalProducer {
  const producer: Producer = kafka.producer({
    transactionalId: options.transactionalId,
    idempotent: true,
    maxInFlightRequests: 1,
    allowAutoTopicCreation: false,
    createPartitioner: defaultPartitioner,
    transactionTimeout: options.transactionTimeoutMs ?? 60_000,
    // Short first retries: right after a commit the coordinator answers the next transaction's
    // AddPartitionsToTxn with CONCURRENT_TRANSACTIONS until the markers are written (a few ms),
    // and kafkajs retries it like any error; the Java producer waits 20 ms there too.
    retry: { initialRetryTime: 20, maxRetryTime: 5_000, retries: 12 },
  });
  const context = { transactionalId: options.transactionalId };
  return {
    async connect() {
      await translate('connect transactional producer', context, () => producer.connect());
      // kafkajs initialises the transactional producer id lazily, at the first transaction:
      // do it now, so the fencing of any earlier holder happens before we read any state.
      const first = await translate('initialise transactions', context, () => producer.transaction());
      await translate('abort empty transaction', context, () => first.abort());
    },
    async begin() {
      const transaction: KafkaTransaction = await translate('begin transaction', context, () => producer.transaction());
      return {
        send: async (batches) => {
          const topicMessages = batches
            .filter((batch) => batch.messages.length > 0)
            .map((batch) => ({ topic: batch.topic, messages: batch.messages.map(toKafkaMessage) }));
          if (topicMessages.length === 0) return [];
          const sent = await translate('send in transaction', context, () =>
            transaction.sendBatch({ topicMessages, acks: -1, compression: CompressionTypes.None }),
          );
          return sent.map((r) => ({
            topic: r.topicName,
            partition: r.partition,
            baseOffset: String(r.baseOffset ?? r.offset ?? '-1'),
          }));
        },
        sendWritten: async (request) => {
          const topicMessages = request.map(({ topic, sets }) => ({
            topic,
            messages: sets.map(({ partition, records }) => ({
              partition,
              key: null,
              value: null,
              [WRITTEN_RECORDS]: records,
            })),
          }));
          if (topicMessages.length === 0) return;
          await translate('send in transaction', context, () =>
            transaction.sendBatch({ topicMessages, acks: -1, compression: CompressionTypes.None }),
          );
        },
        sendOffsets: (groupId, offsets) =>
          translate('send offsets in transaction', context, () =>
            transaction.sendOffsets({ consumerGroupId: groupId, topics: groupOffsets(offsets) }),
          ),
        commit: () => translate('commit transaction', context, () => transaction.commit()),
        abort: () => translate('abort transaction', context, () => transaction.abort()),
      };
    },
    async confirmHolder() {
      const abortAtCurrentEpoch = (producer as unknown as Record<symbol, () => Promise<void>>)[ABORT_AT_CURRENT_EPOCH]!;
      try {
        await abortAtCurrentEpoch();
      } catch (error) {
        if (isFenced(error)) throw fencedError('keep the transactional id', context, error);
        // Until the coordinator answers, which may take a broker restart: not knowing is not a reason to go on.
        throw new DependencyUnavailableError(
          `Kafka: cannot ask the transaction coordinator whether this producer still holds its id: ${errorMessage(error)}`,
          { dependency: 'kafka', ...context },
          { cause: error },
        );
      }
    },
    disconnect: () => producer.disconnect(),
  };
}

function groupOffsets(
  offsets: readonly ConsumedOffset[],
): { topic: string; partitions: { partition: number; offset: string }[] }[] {
  const byTopic = new Map<string, { partition: number; offset: string }[]>();
  for (const { topic, partition, offset } of offsets) {
    let partitions = byTopic.get(topic);
    if (!partitions) byTopic.set(topic, (partitions = []));
    partitions.push({ partition, offset });
  }
  return [...byTopic].map(([topic, partitions]) => ({ topic, partitions }));
}

/** Runs one Kafka call of the transaction: a fencing error becomes `ProducerFencedError`, any other failure what `kafkaFailure` says. */
async function translate<T>(action: string, context: Record<string, string>, task: () => Promise<T>): Promise<T> {
  try {
    return await task();
  } catch (error) {
    if (isFenced(error)) throw fencedError(action, context, error);
    throw kafkaFailure(action, error, context);
  }
}

function fencedError(action: string, context: Record<string, string>, cause: unknown): ProducerFencedError {
  return new ProducerFencedError(
    `Kafka: cannot ${action}: fenced by a newer producer with the same transactional id`,
    context,
    { cause },
  );
}

function isFenced(error: unknown): boolean {
  for (
    let current: unknown = error;
    current;
    current =
      (current as { cause?: unknown; originalError?: unknown }).originalError ?? (current as { cause?: unknown }).cause
  ) {
    const type = (current as { type?: string }).type;
    if (type && FENCED.has(type)) return true;
  }
  return false;
}
