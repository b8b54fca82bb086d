import { systemClock, type Clock } from '../common/clock';
import { connectWithBackoff } from '../common/dependency';
import { DependencyUnavailableError, errorMessage } from '../common/errors';
import type { BatchConsumer, BatchContext, ConsumerOptions, KafkaClient } from '../common/kafka/client';
import type { MessageBatch } from '../common/kafka/messages';
import { ProducerFencedError, type Transaction, type TransactionalProducer } from '../common/kafka/transactions';
import type { Logger } from '../common/logger';
import type { Rejection } from '../common/result-handler';
import { GroupCommit } from './group-commit';
import type { IdentityGraph } from './identity/identity-graph';
import type { StitchedBatch } from './stitched-batch';
import type { StitcherMetrics } from './stitcher.metrics';

/**
 * Where the stitcher stands. The transitions:
 *
 *   idle ─start→ starting ─joined→ stitching ─a failure after the graph changed→ failed
 *   failed ─next turn→ rebuilding ─joined→ stitching        (rebuilding fails → broken)
 *   any failure that is a fencing → fenced                   (another instance owns the graph)
 *   any ─stop→ stopping → stopped                             (fenced and broken stay as they are)
 */
export type StitcherState =
  | 'idle'
  | 'starting'
  | 'stitching'
  | 'failed'
  | 'rebuilding'
  | 'fenced'
  | 'broken'
  | 'stopping'
  | 'stopped';

export interface StitcherSessionOptions {
  readonly kafka: Pick<KafkaClient, 'transactionalProducer' | 'consumer' | 'admin'>;
  /** Rebuilds the graph from its changelog (identity-graph.store.ts). */
  readonly restore: () => Promise<IdentityGraph>;
  /** What the consumer runs for each batch. */
  readonly onBatch: (batch: MessageBatch, context: BatchContext) => Promise<void>;
  /** Writes a batch's rejections into the open transaction (the result handler, its sink on `transaction()`). */
  readonly writeRejections: (rejections: readonly Rejection[]) => Promise<void>;
  readonly consumer: ConsumerOptions;
  readonly transactionalId: string;
  readonly transactionTimeoutMs: number;
  /** Topics written in the transactions: records are partitioned as they are written, so their partitions are read at start. */
  readonly outputTopics: readonly string[];
  readonly logger: Logger;
  readonly metrics: Pick<StitcherMetrics, 'recoveries' | 'transactionSeconds' | 'transactionEvents'>;
  /** Called when the stitcher cannot go on (fenced, or rebuilding failed): the service stops with it. */
  readonly onFatal: (error: unknown) => void;
  /** Test fault injection: pause between send and commit (0 = never). */
  readonly pauseBeforeCommitMs?: number;
  readonly clock?: Clock;
}

/**
 * The stitcher's transactions, fencing and recovery (see createEventStitcher for why the order
 * and the rules are what they are).
 *
 * Start-up, and every rebuild, is fence → rebuild → resume: the transactional producer is
 * initialised (fencing earlier holders of the id), the graph is rebuilt from its changelog, and
 * the consumer joins at the committed offsets. Batches are committed in group transactions
 * (GroupCommit): one transaction holds the batches stitched while the one before was on the
 * wire, their records, dead letters and next offsets. A failure once the graph has changed
 * leaves memory ahead of Kafka: the session drops consumer, producer and graph and starts again,
 * unless it was fenced.
 */
export class StitcherSession {
  private current: StitcherState = 'idle';
  private producer: TransactionalProducer | undefined;
  private consumer: BatchConsumer | undefined;
  private liveGraph: IdentityGraph | undefined;
  private partitions: Map<string, number> | undefined;
  private transaction: Transaction | undefined;
  private transactionStarted = 0;
  /** Each rebuild starts a new generation: a group of the one before can never begin a transaction. */
  private generation = 0;
  private commits: GroupCommit<StitchedBatch>;
  /** Per input `topic|partition`, the last offset stitched (see notYetStitched). */
  private readonly stitchedUpTo = new Map<string, bigint>();
  private readonly abort = new AbortController();
  private readonly logger: Logger;
  private readonly clock: Clock;

  constructor(private readonly options: StitcherSessionOptions) {
    this.logger = options.logger.child({ component: 'stitcher' });
    this.clock = options.clock ?? systemClock;
    this.commits = this.groupCommit();
  }

  get state(): StitcherState {
    return this.current;
  }

  /** The in-memory graph (for explain and tests); undefined until rebuilt. */
  graph(): IdentityGraph | undefined {
    return this.liveGraph;
  }

  /** Whether batches may be stitched: the graph is there and no failure is pending. */
  canStitch(): boolean {
    return this.liveGraph !== undefined && !this.hasFailed();
  }

  /** The graph to stitch on; throws when a failure came while the batch waited its turn. */
  graphToStitch(): IdentityGraph {
    if (!this.liveGraph || this.hasFailed()) throw new Error('an earlier transaction failed');
    return this.liveGraph;
  }

  /** Partitions of each output topic, read at start. */
  outputPartitions(): ReadonlyMap<string, number> {
    if (!this.partitions) throw new Error('stitcher used before it started');
    return this.partitions;
  }

  /** The open transaction, for the dead letters written into it. */
  openTransaction(): Transaction {
    if (!this.transaction) throw new Error('dead letter outside a transaction');
    return this.transaction;
  }

  /**
   * The records of `batch` after the partition's last stitched offset: after a rejoin the group
   * fetches again from its committed offsets, and what is past them is in a transaction already
   * (if that one fails, the rebuild starts from the committed offsets anyway).
   */
  notYetStitched(batch: MessageBatch): MessageBatch {
    const upTo = this.stitchedUpTo.get(`${batch.topic}|${batch.partition}`);
    if (upTo === undefined || BigInt(batch.messages[0]!.offset) > upTo) return batch;
    return { ...batch, messages: batch.messages.filter((message) => BigInt(message.offset) > upTo) };
  }

  /** Announces a batch of the open group (see GroupCommit.expect); once stitched, it is added. */
  expect(batch: MessageBatch): {
    add(outputs: StitchedBatch): ReturnType<GroupCommit<StitchedBatch>['add']>;
    withdraw(): void;
  } {
    const pending = this.commits.expect();
    return {
      add: (outputs) => {
        const added = pending.add(outputs);
        this.stitchedUpTo.set(`${batch.topic}|${batch.partition}`, BigInt(batch.messages.at(-1)!.offset));
        return added;
      },
      withdraw: () => pending.withdraw(),
    };
  }

  async start(): Promise<void> {
    this.current = 'starting';
    await this.fenceRebuildResume();
  }

  /**
   * A failure once the graph has changed. Fenced: another instance owns the graph now, so this
   * one stops (`onFatal`). Anything else (Kafka gone for longer than the client retries, a bug on
   * one record): the rebuild starts on the next turn — not from inside the batch handler, since
   * the consumer's disconnect waits for it to return.
   */
  fail(error: unknown, reason: string, at: { topic: string; partition: number; nextOffset: string }): void {
    if (this.hasFailed()) return;
    const fenced = error instanceof ProducerFencedError;
    this.current = fenced ? 'fenced' : 'failed';
    this.logger.error(
      { error: errorMessage(error), topic: at.topic, partition: at.partition, nextOffset: at.nextOffset },
      fenced ? `stopping: ${reason}` : `${reason}: rebuilding from Kafka`,
    );
    if (fenced) this.options.onFatal(error);
    else this.clock.nextTurn(() => void this.rebuild());
  }

  async stop(): Promise<void> {
    this.abort.abort();
    const terminal = this.current === 'fenced' || this.current === 'broken';
    if (!terminal) this.current = 'stopping';
    await this.disconnectConsumer();
    // Batch handlers return before their own commit: the last transaction may still be under way.
    await this.commits.flush();
    await this.disconnectProducer();
    if (!terminal) this.current = 'stopped';
  }

  /** Rebuilding after a failed transaction is not unhealthy, only not ready. */
  isHealthy(): boolean {
    return this.current !== 'failed' && this.current !== 'fenced' && this.current !== 'broken';
  }

  /** Not ready while kafkajs restarts a crashed consumer: nothing is stitched meanwhile. */
  isReady(): boolean {
    return this.current === 'stitching' && (this.consumer?.isConsuming?.() ?? true);
  }

  private hasFailed(): boolean {
    return this.current === 'failed' || this.current === 'fenced';
  }

  /**
   * Drops consumer, producer and graph and starts over from Kafka, as a process restart would —
   * once the coordinator has said the transactional id is still ours. A failure that is not a
   * fencing may hide one: an instance paused past its session timeout (a zombie) wakes to a
   * broker that restarted meanwhile, and its commit fails on the coordinator's absence before
   * the coordinator can refuse it. Initialising transactions again would then fence the live
   * instance that replaced it.
   */
  private async rebuild(): Promise<void> {
    if (this.current !== 'failed' || this.abort.signal.aborted) return;
    this.current = 'rebuilding';
    this.liveGraph = undefined;
    this.generation += 1;
    this.commits = this.groupCommit();
    try {
      await this.disconnectConsumer();
      await this.confirmStillHolder();
      this.options.metrics.recoveries.inc();
      await this.disconnectProducer();
      this.stitchedUpTo.clear();
      await this.fenceRebuildResume();
      this.logger.info('recovered: graph rebuilt from Kafka, consuming again');
    } catch (error) {
      if (this.abort.signal.aborted) return;
      const fenced = error instanceof ProducerFencedError;
      this.current = fenced ? 'fenced' : 'broken';
      if (fenced)
        this.logger.error(
          { error: errorMessage(error) },
          'stopping: fenced by another stitcher instance (found before rebuilding)',
        );
      this.options.onFatal(error);
    }
  }

  /** Throws ProducerFencedError when another instance initialised the transactional id since this one did. */
  private async confirmStillHolder(): Promise<void> {
    const producer = this.producer;
    if (!producer) return;
    await connectWithBackoff(
      'Kafka transaction coordinator',
      () => producer.confirmHolder(),
      this.logger,
      this.abort.signal,
    );
  }

  /** Fence, rebuild, resume — in this order (see the class comment). */
  private async fenceRebuildResume(): Promise<void> {
    const { options, logger } = this;
    const signal = this.abort.signal;
    const producer = options.kafka.transactionalProducer({
      transactionalId: options.transactionalId,
      transactionTimeoutMs: options.transactionTimeoutMs,
    });
    this.producer = producer;
    await connectWithBackoff('Kafka transactional producer', () => producer.connect(), logger, signal);
    logger.info(
      { transactionalId: options.transactionalId },
      'transactions initialised (earlier holders of the id are fenced)',
    );
    this.partitions = await connectWithBackoff(
      'output topics',
      () => this.partitionsOf(options.outputTopics),
      logger,
      signal,
    );
    this.liveGraph = await connectWithBackoff('identity graph changelog', options.restore, logger, signal);
    if (signal.aborted) return;
    const consumer = options.kafka.consumer(options.consumer);
    this.consumer = consumer;
    await connectWithBackoff('Kafka consumer', () => consumer.connect(), logger, signal);
    await consumer.run(options.onBatch);
    if (this.current === 'starting' || this.current === 'rebuilding') this.current = 'stitching';
    logger.info({ topics: options.consumer.topics, groupId: options.consumer.groupId }, 'stitching');
  }

  /**
   * One transaction for the batches stitched while the previous one was on the wire: it begins
   * once that one is committed, each batch's records and dead letters are written as the batch
   * is stitched, and the commit adds the batches' next offsets.
   */
  private groupCommit(): GroupCommit<StitchedBatch> {
    const generation = this.generation;
    return new GroupCommit<StitchedBatch>({
      begin: async () => {
        if (this.hasFailed() || generation !== this.generation) throw new Error('an earlier transaction failed');
        if (!this.producer) throw new Error('stitcher used before it started');
        this.transactionStarted = this.clock.now();
        this.transaction = await this.producer.begin();
      },
      write: async (output) => {
        for (const request of output.records.requests()) await this.transaction!.sendWritten(request);
        if (output.messages.length > 0) await this.transaction!.send(output.messages);
        await this.options.writeRejections(output.rejections);
      },
      commit: (outputs, written) => this.commit(outputs, written, generation),
    });
  }

  private async commit(outputs: readonly StitchedBatch[], written: Promise<void>, generation: number): Promise<void> {
    const { options } = this;
    try {
      await written;
      await this.transaction!.sendOffsets(
        options.consumer.groupId,
        outputs.map(({ topic, partition, nextOffset }) => ({ topic, partition, offset: nextOffset })),
      );
      if (options.pauseBeforeCommitMs) {
        this.logger.warn(
          { offsets: outputs.map((o) => o.nextOffset), pauseMs: options.pauseBeforeCommitMs },
          'test fault injection: transaction sent, pausing before commit',
        );
        await this.clock.sleep(options.pauseBeforeCommitMs);
      }
      await this.transaction!.commit();
    } catch (error) {
      await this.transaction?.abort().catch(() => undefined);
      this.transaction = undefined;
      const reason =
        error instanceof ProducerFencedError
          ? 'fenced by another stitcher instance'
          : 'transaction failed after the graph changed';
      // A group of a generation before a rebuild fails with it: that failure was handled already.
      if (generation === this.generation) this.fail(error, reason, outputs[0]!);
      throw error;
    }
    this.transaction = undefined;
    options.metrics.transactionSeconds.observe((this.clock.now() - this.transactionStarted) / 1000);
    options.metrics.transactionEvents.observe(outputs.reduce((sum, o) => sum + o.size, 0));
  }

  private async partitionsOf(names: readonly string[]): Promise<Map<string, number>> {
    const admin = this.options.kafka.admin();
    await admin.connect();
    try {
      const counts = new Map<string, number>();
      for (const name of names) {
        const count = await admin.partitionCount(name);
        if (count < 1)
          throw new DependencyUnavailableError(`Kafka: topic ${name} has no partitions yet`, {
            dependency: 'kafka',
            topic: name,
          });
        counts.set(name, count);
      }
      return counts;
    } finally {
      await admin.disconnect().catch(() => undefined);
    }
  }

  private async disconnectConsumer(): Promise<void> {
    const consumer = this.consumer;
    this.consumer = undefined;
    await consumer
      ?.disconnect()
      .catch((error: unknown) => this.logger.warn({ error: errorMessage(error) }, 'consumer disconnect failed'));
  }

  private async disconnectProducer(): Promise<void> {
    const producer = this.producer;
    this.producer = undefined;
    await producer
      ?.disconnect()
      .catch((error: unknown) => this.logger.warn({ error: errorMessage(error) }, 'producer disconnect failed'));
  }
}
