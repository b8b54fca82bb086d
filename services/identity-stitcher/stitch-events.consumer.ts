import type { Event, IdentityChange, IdentityGraphRecord } from '../../schemas';
import { schema } from '../../schemas';
import { createDeadLetterHandler, type DeadLetterInput } from '../common/dead-letters';
import { connectWithBackoff } from '../common/dependency';
import { DependencyUnavailableError, errorMessage } from '../common/errors';
import { sleep } from '../common/retry';
import type { BatchConsumer, IncomingMessage, KafkaClient, MessageBatch, BatchContext } from '../common/kafka/client';
import { RecordSets } from '../common/kafka/record-sets';
import { ProducerFencedError, type Transaction, type TransactionalProducer } from '../common/kafka/transactions';
import type { Component } from '../common/lifecycle';
import type { Logger } from '../common/logger';
import { encodeFramedInScratch, framedScratch, type AvroCodec, type Decoded } from '../common/registry';
import { ok, type DeadLetterVerdict, type Drop, type Ok, type StepResult } from '../common/step-result';
import type { IdentityGraph, LinkRequest, Resolution } from './identity/identity-graph';
import { restoreIdentityGraph } from './identity-graph.store';
import type { IdentityRules } from './identity/identity-rules';
import { IdentifierNormaliser } from './identity/normalise';
import { decodeAvroEvent, parseJsonEvent, type DecodedEvent } from './steps/decode-event.step';
import { GroupCommit } from './group-commit';
import { StitchedEventWriter } from './stitched-event.writer';
import { LinkRequestThreads } from './link-requests/link-request-threads';
import { linkRequestOf } from './steps/link-request.step';
import { resolveProfile } from './steps/resolve-profile.step';
import type { StitcherMetrics } from './stitcher.metrics';

export interface StitcherTopics {
  readonly raw: string;
  readonly json: string;
  readonly stitched: string;
  readonly changes: string;
  readonly graph: string;
  readonly deadLetters: string;
}

export interface EventStitcherOptions {
  readonly kafka: KafkaClient;
  /** The started registry component's codec (topic schemas bound). */
  readonly codec: () => AvroCodec;
  readonly logger: Logger;
  readonly metrics: StitcherMetrics;
  readonly topics: StitcherTopics;
  readonly groupId: string;
  readonly transactionalId: string;
  readonly rules: IdentityRules;
  readonly fetchMaxWaitMs: number;
  readonly fetchMinBytes: number;
  /** Bound of one partition's fetch, hence of one batch and one transaction. */
  readonly fetchMaxBytesPerPartition: number;
  readonly transactionTimeoutMs: number;
  readonly sessionTimeoutMs: number;
  /** Input partitions fetched and decoded concurrently; stitching and transactions stay in one order. */
  readonly concurrency: number;
  /**
   * Threads that decode Avro events and read their identifiers while this thread stitches
   * (0: all on this thread). Only the graph's work must happen in order, on one thread.
   */
  readonly linkRequestThreads: number;
  /** Test fault injection: pause between send and commit (0 = never). */
  readonly pauseBeforeCommitMs?: number;
  /** Called when the stitcher cannot go on (fenced by another instance, or rebuilding failed): the service stops with it. */
  readonly onFatal: (error: unknown) => void;
  readonly now?: () => number;
}

export interface EventStitcher extends Component {
  /** The in-memory graph (for explain and tests); undefined until restored. */
  graph(): IdentityGraph | undefined;
}

/**
 * Consume → stitch → produce, exactly once.
 *
 * Start-up order is what makes the in-memory graph match the committed offsets:
 * 1. the transactional producer initialises its (fixed) transactional id, which fences any
 *    earlier holder and aborts its open transaction;
 * 2. the graph is rebuilt from `kumiki.identity.graph`, read committed, to its end — no one
 *    else can write it any more, so this is every committed change and nothing else;
 * 3. the consumer joins and resumes from the group's committed offsets, which were committed
 *    in the same transactions as those graph records.
 *
 * Each fetched batch (one partition of one input topic) is committed in one transaction holding
 * its stitched events, identity changes, graph records, dead letters and next offset, together
 * with the other batches stitched while the previous transaction was on the wire (group
 * commit, in stitch order). A transaction begins once the one before it is committed, and each
 * batch's records are written into it as soon as the batch is stitched, straight into Kafka's
 * record format (`RecordSets`), so the broker stores them while the next batch is stitched.
 *
 * The batch handler returns once the transaction *before* its own is committed, not its own, so
 * kafkajs fetches the next batches while this one's transaction is finished: at most two fetches
 * are in hand, the one committing and the one being stitched. Offsets are only ever committed
 * inside the transactions; what the handler resolves only moves kafkajs' fetch position. A rejoin
 * of the group fetches again from the committed offsets, which may be behind what was stitched:
 * records at or below a partition's last stitched offset are skipped (`stitchedUpTo`), since they
 * are in a transaction already — and if that one fails, `recover` starts again from the committed
 * offsets anyway. `stop` waits for the last transaction.
 *
 * Decoding and reading identifiers happen before the graph is touched (a registry outage just
 * retries the batch), mostly on a link-request thread while earlier batches are stitched here,
 * and otherwise in a function that returns before the commit is awaited, so decoded events die
 * young. Once the graph has changed, a failed transaction means memory is ahead of Kafka: the
 * stitcher drops consumer, producer and graph and runs the start-up sequence again (`recover`),
 * unless it was fenced — then another instance owns the graph and it stops.
 */
export function createEventStitcher(options: EventStitcherOptions): EventStitcher {
  const logger = options.logger.child({ component: 'stitcher' });
  const { metrics, topics } = options;
  const now = options.now ?? Date.now;
  const normaliser = new IdentifierNormaliser(options.rules);
  const abort = new AbortController();
  let producer: TransactionalProducer | undefined;
  let consumer: BatchConsumer | undefined;
  let graph: IdentityGraph | undefined;
  let ready = false;
  let failed = false;
  let current: Transaction | undefined;
  let writers: OutputWriters | undefined;
  let commits = newGroupCommit();
  let transactionStarted = 0n;
  let stitching: Promise<void> = Promise.resolve();
  let recovering = false;
  /** Per input `topic|partition`, the last offset stitched (see "rejoin" above). */
  const stitchedUpTo = new Map<string, bigint>();
  /** Partitions of each output topic, read at start: records are partitioned as they are written. */
  let outputPartitions: Map<string, number> | undefined;
  const threads =
    options.linkRequestThreads > 0 ? new LinkRequestThreads(options.linkRequestThreads, options.rules) : undefined;

  const eventType = schema('Event').type;

  // The one failure handler: dead letters go into the open transaction, with the offsets.
  const deadLetters = createDeadLetterHandler({
    service: 'identity-stitcher',
    topic: topics.deadLetters,
    producer: {
      send: async (topic, messages) => {
        if (!current) throw new Error('dead letter outside a transaction');
        await current.send([{ topic, messages }]);
      },
    },
    encode: (topic, value) => options.codec().encode(topic, value),
    logger,
    counter: metrics.deadLetters,
  });

  async function restore(): Promise<IdentityGraph> {
    const restored = await restoreIdentityGraph({
      kafka: options.kafka,
      codec: options.codec(),
      topic: topics.graph,
      rules: options.rules,
      groupIdPrefix: `${options.groupId}-restore`,
    });
    const { graph: rebuilt, records, seconds } = restored;
    metrics.restoreSeconds.set(seconds);
    metrics.restoredRecords.set(records);
    metrics.graphIdentifiers.set(rebuilt.identifierCount);
    metrics.graphProfiles.set(rebuilt.profileCount);
    logger.info(
      {
        records,
        identifiers: rebuilt.identifierCount,
        profiles: rebuilt.profileCount,
        respelled: rebuilt.respelledCount,
        seconds,
      },
      'identity graph restored',
    );
    return rebuilt;
  }

  /** Synchronous unless a writer schema must be fetched (see decodeAvroEvent). */
  function decode(message: IncomingMessage): StepResult<DecodedEvent> | Promise<StepResult<DecodedEvent>> {
    if (message.topic === topics.json) {
      const parsed = parseJsonEvent(message);
      return parsed.kind === 'ok' ? ok({ event: parsed.value, ownSchemaRecord: undefined }) : parsed;
    }
    const codec = options.codec();
    const ownSchemaId = codec.schemaIdOf(topics.raw);
    return decodeAvroEvent(message, (bytes) => {
      const withBody = ({ schemaId, value }: Decoded<Event>): DecodedEvent => ({
        event: value,
        ownSchemaRecord: schemaId === ownSchemaId ? bytes : undefined,
      });
      const decoding = codec.decodeNowOrLater<Event>(bytes, eventType);
      return decoding instanceof Promise ? decoding.then(withBody) : withBody(decoding);
    });
  }

  async function handleBatch(fetched: MessageBatch, context: BatchContext): Promise<void> {
    if (failed || !graph || fetched.messages.length === 0 || !context.isRunning()) return;
    const partitionKey = `${fetched.topic}|${fetched.partition}`;
    const batch = notYetStitched(fetched, stitchedUpTo.get(partitionKey));
    if (batch.messages.length === 0) return;
    // Announced before the first await, so the open transaction waits for every batch of the fetch.
    const pending = commits.expect();
    let outputs: StitchedBatch;
    try {
      const offThread = readOffThread(batch);
      outputs = await inTurnOfItsOwn(async () => stitch(batch, await prepareBatch(batch, await offThread)));
    } catch (error) {
      pending.withdraw();
      throw error;
    }
    const added = pending.add(outputs);
    const last = batch.messages[batch.messages.length - 1]!.offset;
    stitchedUpTo.set(partitionKey, BigInt(last));
    context.resolveOffset(last);
    // Counted once durable; a failed commit is handled (recover) where it fails.
    added.committed.then(
      () => {
        metrics.events.inc({ topic: batch.topic, outcome: 'stitched' }, outputs.stitchedCount);
        if (outputs.letters.length > 0)
          metrics.events.inc({ topic: batch.topic, outcome: 'dlq' }, outputs.letters.length);
        if (outputs.droppedCount > 0) metrics.events.inc({ topic: batch.topic, outcome: 'drop' }, outputs.droppedCount);
        metrics.consumerLag.set(
          { topic: batch.topic, partition: String(batch.partition) },
          Math.max(0, Number(BigInt(batch.highWatermark) - BigInt(last) - 1n)),
        );
      },
      () => undefined,
    );
    await added.previous;
    await context.heartbeat();
  }

  /**
   * Runs `work` once the batches handed over before it are stitched, in a turn of the event loop
   * of its own: the broker's answers to the records already written are read in between, and
   * the next records go out while this batch is stitched (see GroupCommit).
   */
  function inTurnOfItsOwn<T>(work: () => Promise<T>): Promise<T> {
    const turn = stitching.then(() => new Promise<void>((resolve) => setImmediate(resolve))).then(work);
    stitching = turn.then(
      () => undefined,
      () => undefined,
    );
    return turn;
  }

  /**
   * The link requests of an Avro batch's records, read by a link-request thread from the moment
   * the batch arrives (so while earlier batches are stitched here); undefined when there are no
   * threads or the batch is JSON. A record without a request is prepared here (prepareBatch).
   */
  function readOffThread(batch: MessageBatch): Promise<(LinkRequest | undefined)[]> | undefined {
    if (!threads || batch.topic !== topics.raw) return undefined;
    const ownSchemaId = options.codec().schemaIdOf(topics.raw);
    if (ownSchemaId === undefined) return undefined;
    const reading = threads.read(
      batch.messages.map((message) => message.value),
      ownSchemaId,
    );
    // Awaited in the batch's turn; until then a failure must not count as unhandled.
    reading.catch(() => undefined);
    return reading;
  }

  /**
   * Every record's link request and what its stitched event is written from. Nothing has changed
   * yet: a retriable failure (registry down, a link-request thread gone) is simply thrown and the
   * batch fetched again.
   */
  async function prepareBatch(
    batch: MessageBatch,
    offThread: readonly (LinkRequest | undefined)[] | undefined,
  ): Promise<Prepared[]> {
    const { messages } = batch;
    const prepared = new Array<Prepared>(messages.length);
    for (let i = 0; i < messages.length; i++) {
      const message = messages[i]!;
      const request = offThread?.[i];
      // Read off-thread only from records written with our own Event schema: the body is reused as is.
      if (request) {
        prepared[i] = ok({ request, written: message.value! });
        continue;
      }
      const step = decode(message);
      prepared[i] = withLinkRequest(message, step instanceof Promise ? await step : step);
    }
    return prepared;
  }

  function withLinkRequest(message: IncomingMessage, decoded: StepResult<DecodedEvent>): Prepared {
    if (decoded.kind === 'drop') return decoded;
    if (decoded.kind === 'dlq')
      return { ...decoded, stage: message.topic === topics.json ? 'parse-json-event' : 'decode-avro-event' };
    const { event, ownSchemaRecord } = decoded.value;
    const request = linkRequestOf(event, options.rules, normaliser);
    if (request.kind === 'ok') return ok({ request: request.value, written: ownSchemaRecord ?? event });
    return request.kind === 'drop' ? request : { ...request, stage: 'resolve-profile', messageId: event.messageId };
  }

  /**
   * Stitches a prepared batch, in offset order (per-identity order is the partition's order), and
   * returns its outputs. From here on the graph changes: any failure means memory is ahead of Kafka.
   */
  function stitch(batch: MessageBatch, prepared: Prepared[]): StitchedBatch {
    // A transaction failed while this batch waited its turn: the graph is being rebuilt.
    if (failed || !graph) throw new Error('an earlier transaction failed');
    const live = graph;
    const write = (writers ??= outputWriters(options.codec(), topics));
    const letters: DeadLetterInput[] = [];
    const stitchedAt = now();
    const records = new RecordSets(outputPartitions!, stitchedAt);
    const nextOffset = (BigInt(batch.messages[batch.messages.length - 1]!.offset) + 1n).toString();
    let stitchedCount = 0;
    let droppedCount = 0;
    const deadLetter = (
      message: IncomingMessage,
      stage: string,
      result: { reason: string; code: string; error?: unknown },
      messageId?: string,
    ): void => {
      letters.push({
        reason: result.reason,
        code: result.code,
        stage,
        error: result.error,
        originalTopic: message.topic,
        originalPartition: message.partition,
        originalOffset: message.offset,
        originalKey: message.key,
        originalValue: message.value ?? Buffer.alloc(0),
        messageId: messageId ?? null,
      });
    };
    try {
      batch.messages.forEach((message, i) => {
        const step = prepared[i]!;
        if (step.kind === 'drop') {
          droppedCount += 1;
          return;
        }
        if (step.kind === 'dlq') {
          deadLetter(message, step.stage, step, step.messageId);
          return;
        }
        const { request, written } = step.value;
        const resolved = resolveProfile(request, live);
        if (resolved.kind === 'drop') {
          droppedCount += 1;
          return;
        }
        if (resolved.kind === 'dlq') {
          deadLetter(message, 'resolve-profile', resolved, request.messageId);
          return;
        }
        stitchedCount += 1;
        const resolution = resolved.value;
        count(resolution);
        const head = { profileId: resolution.profileId, identifiers: resolution.linked, stitchedAt };
        write.stitched.append(records, topics.stitched, resolution.profileId, head, written);
        for (const change of resolution.changes)
          write.change(records, change.profileId, { ...change, changedAt: stitchedAt });
        for (const record of resolution.graphRecords)
          write.graphRecord(records, `${record.identifier.type}:${record.identifier.value}`, record);
      });
    } catch (error) {
      fail(error, 'stitching failed after the graph changed', {
        topic: batch.topic,
        partition: batch.partition,
        nextOffset,
      });
      throw error;
    }
    metrics.graphIdentifiers.set(live.identifierCount);
    metrics.graphProfiles.set(live.profileCount);
    // The batch itself is not kept: kafkajs' records die once the handler returns, not at the commit.
    return {
      topic: batch.topic,
      partition: batch.partition,
      size: batch.messages.length,
      records,
      letters,
      stitchedCount,
      droppedCount,
      nextOffset,
    };
  }

  /**
   * One transaction for the batches stitched while the previous one was on the wire: it begins
   * once that one is committed, each batch's outputs and dead letters are written as the batch
   * is stitched, and the commit adds the batches' next offsets.
   */
  function newGroupCommit(): GroupCommit<StitchedBatch> {
    return new GroupCommit<StitchedBatch>({
      begin: async () => {
        if (failed) throw new Error('an earlier transaction failed');
        transactionStarted = process.hrtime.bigint();
        current = await producerOrThrow().begin();
      },
      write: async (output) => {
        for (const request of output.records.requests()) await current!.sendWritten(request);
        await deadLetters.send(output.letters);
      },
      commit: async (outputs, written) => {
        try {
          await written;
          await current!.sendOffsets(
            options.groupId,
            outputs.map(({ topic, partition, nextOffset }) => ({ topic, partition, offset: nextOffset })),
          );
          if (options.pauseBeforeCommitMs) {
            logger.warn(
              { offsets: outputs.map((o) => o.nextOffset), pauseMs: options.pauseBeforeCommitMs },
              'test fault injection: transaction sent, pausing before commit',
            );
            await sleep(options.pauseBeforeCommitMs);
          }
          await current!.commit();
        } catch (error) {
          await current?.abort().catch(() => undefined);
          current = undefined;
          if (!failed)
            fail(
              error,
              error instanceof ProducerFencedError
                ? 'fenced by another stitcher instance'
                : 'transaction failed after the graph changed',
              outputs[0]!,
            );
          throw error;
        }
        current = undefined;
        metrics.transactionSeconds.observe(Number(process.hrtime.bigint() - transactionStarted) / 1e9);
        metrics.transactionEvents.observe(outputs.reduce((sum, o) => sum + o.size, 0));
      },
    });
  }

  /**
   * After the graph changed, a failure leaves memory ahead of Kafka. Fenced: another instance
   * owns the graph now, so this one stops (`onFatal`). Anything else (Kafka gone for longer than
   * the client retries, a bug on one record): drop the consumer, the producer and the graph and
   * start over from Kafka — fence, rebuild, resume from the committed offsets — exactly what a
   * process restart would do, without needing a supervisor.
   */
  function fail(
    error: unknown,
    reason: string,
    at: { readonly topic: string; readonly partition: number; readonly nextOffset: string },
  ): void {
    failed = true;
    ready = false;
    const fenced = error instanceof ProducerFencedError;
    logger.error(
      { error: errorMessage(error), topic: at.topic, partition: at.partition, nextOffset: at.nextOffset },
      fenced ? `stopping: ${reason}` : `${reason}: rebuilding from Kafka`,
    );
    if (fenced) options.onFatal(error);
    // Not from inside the batch handler: the consumer's disconnect waits for it to return.
    else setImmediate(() => void recover());
  }

  async function recover(): Promise<void> {
    if (recovering || abort.signal.aborted) return;
    recovering = true;
    metrics.recoveries.inc();
    try {
      await consumer
        ?.disconnect()
        .catch((error: unknown) => logger.warn({ error: errorMessage(error) }, 'consumer disconnect failed'));
      await producer
        ?.disconnect()
        .catch((error: unknown) => logger.warn({ error: errorMessage(error) }, 'producer disconnect failed'));
      consumer = undefined;
      producer = undefined;
      graph = undefined;
      stitchedUpTo.clear();
      commits = newGroupCommit();
      failed = false;
      await startPipeline();
      logger.info('recovered: graph rebuilt from Kafka, consuming again');
    } catch (error) {
      if (!abort.signal.aborted) options.onFatal(error);
    } finally {
      recovering = false;
    }
  }

  /** Fence, rebuild, resume — in this order (see the comment at the top). */
  async function startPipeline(): Promise<void> {
    const fresh = options.kafka.transactionalProducer({
      transactionalId: options.transactionalId,
      transactionTimeoutMs: options.transactionTimeoutMs,
    });
    producer = fresh;
    await connectWithBackoff('Kafka transactional producer', () => fresh.connect(), logger, abort.signal);
    logger.info(
      { transactionalId: options.transactionalId },
      'transactions initialised (earlier holders of the id are fenced)',
    );
    outputPartitions = await connectWithBackoff(
      'output topics',
      () => partitionsOf([topics.stitched, topics.changes, topics.graph]),
      logger,
      abort.signal,
    );
    graph = await connectWithBackoff('identity graph changelog', () => restore(), logger, abort.signal);
    if (abort.signal.aborted) return;
    const joined = options.kafka.consumer({
      groupId: options.groupId,
      topics: [topics.raw, topics.json],
      fromBeginning: true,
      partitionsConsumedConcurrently: options.concurrency,
      maxWaitTimeInMs: options.fetchMaxWaitMs,
      minBytes: options.fetchMinBytes,
      maxBytesPerPartition: options.fetchMaxBytesPerPartition,
      sessionTimeoutMs: options.sessionTimeoutMs,
    });
    consumer = joined;
    await connectWithBackoff('Kafka consumer', () => joined.connect(), logger, abort.signal);
    await joined.run(handleBatch);
    ready = true;
    logger.info({ topics: [topics.raw, topics.json], groupId: options.groupId }, 'stitching');
  }

  async function partitionsOf(names: readonly string[]): Promise<Map<string, number>> {
    const admin = options.kafka.admin();
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

  function count(resolution: Resolution): void {
    if (resolution.createdProfile) metrics.profilesCreated.inc();
    if (resolution.mergedProfileIds.length > 0) metrics.merges.inc(resolution.mergedProfileIds.length);
    const linked = resolution.changes.find((c) => c.kind === 'link');
    if (linked) metrics.links.inc(linked.identifiers.length);
    for (const refusal of resolution.refusals) metrics.refusals.inc({ reason: `limit:${refusal.limitType}` });
  }

  function producerOrThrow(): TransactionalProducer {
    if (!producer) throw new Error('stitcher used before it started');
    return producer;
  }

  return {
    name: 'stitcher',
    graph: () => graph,
    async start() {
      await startPipeline();
    },
    async stop() {
      abort.abort();
      ready = false;
      await consumer
        ?.disconnect()
        .catch((error: unknown) => logger.warn({ error: errorMessage(error) }, 'consumer disconnect failed'));
      // Handlers return before their own commit: the last transaction may still be under way.
      await commits.flush();
      await producer
        ?.disconnect()
        .catch((error: unknown) => logger.warn({ error: errorMessage(error) }, 'producer disconnect failed'));
      await threads?.stop();
    },
    // Rebuilding after a failed transaction is not unhealthy, only not ready.
    isHealthy: () => !failed || recovering,
    // Not ready while kafkajs restarts a crashed consumer: nothing is stitched meanwhile.
    isReady: () => ready && !failed && (consumer?.isConsuming?.() ?? true),
  };
}

/** A record ready to stitch: its link request, and the record to reuse the body of (our own Event schema) or the event to encode whole. */
interface ReadyRecord {
  readonly request: LinkRequest;
  readonly written: Buffer | Event;
}

/** A record after the steps before the graph; a dead letter says at which step it stopped. */
type Prepared = Ok<ReadyRecord> | Drop | (DeadLetterVerdict & { readonly stage: string; readonly messageId?: string });

/**
 * The records of `batch` after `stitchedUpTo` (all of them in the usual case, where the batch
 * starts past it): after a rejoin the group fetches again from its committed offsets.
 */
function notYetStitched(batch: MessageBatch, stitchedUpTo: bigint | undefined): MessageBatch {
  if (stitchedUpTo === undefined || BigInt(batch.messages[0]!.offset) > stitchedUpTo) return batch;
  return { ...batch, messages: batch.messages.filter((message) => BigInt(message.offset) > stitchedUpTo) };
}

/** One input batch's outputs, waiting for its transaction. */
interface StitchedBatch {
  readonly topic: string;
  readonly partition: number;
  /** Records in the input batch, whatever became of them. */
  readonly size: number;
  readonly records: RecordSets;
  readonly letters: DeadLetterInput[];
  readonly stitchedCount: number;
  readonly droppedCount: number;
  /** Offset to commit for the batch's partition: its last record + 1. */
  readonly nextOffset: string;
}

interface OutputWriters {
  readonly stitched: StitchedEventWriter;
  change(records: RecordSets, key: string, value: IdentityChange): void;
  graphRecord(records: RecordSets, key: string, value: IdentityGraphRecord): void;
}

/**
 * Writers for the three outputs, bound to the ids the registry gave their schemas. They skip
 * the codec's per-field validation: every value is built here from typed objects (events were
 * validated when decoded), and avsc still throws on a value that does not fit — which the
 * stitcher treats as fatal, like any failure after the graph changed.
 */
function outputWriters(codec: AvroCodec, topics: StitcherTopics): OutputWriters {
  const idOf = (topic: string): number => {
    const id = codec.schemaIdOf(topic);
    if (id === undefined) throw new Error(`no schema registered for ${topic}`);
    return id;
  };
  const writer = <T>(
    topic: string,
    name: 'IdentityChange' | 'IdentityGraphRecord',
  ): ((records: RecordSets, key: string, value: T) => void) => {
    const id = idOf(topic);
    const type = schema(name).type;
    return (records, key, value) => {
      const end = encodeFramedInScratch(id, type, value);
      records.append(topic, key, framedScratch(), 0, end);
    };
  };
  return {
    stitched: new StitchedEventWriter(idOf(topics.stitched)),
    change: writer<IdentityChange>(topics.changes, 'IdentityChange'),
    graphRecord: writer<IdentityGraphRecord>(topics.graph, 'IdentityGraphRecord'),
  };
}
