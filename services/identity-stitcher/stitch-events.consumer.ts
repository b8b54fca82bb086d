import type { PrivacyRequest } from '../../schemas';
import { schema } from '../../schemas';
import type { Clock } from '../common/clock';
import { deadLetterTopic } from '../common/dead-letters';
import type { BatchContext, KafkaClient } from '../common/kafka/client';
import type { IncomingMessage, MessageBatch } from '../common/kafka/messages';
import type { Component } from '../common/lifecycle';
import type { Logger } from '../common/logger';
import type { Registry } from '../common/metrics';
import { pipeline } from '../common/pipeline';
import type { AvroCodec } from '../common/registry';
import type { PrivacyKey } from '../common/privacy/privacy-key';
import { createResultHandler } from '../common/result-handler';
import type { IdentityGraph } from './identity/identity-graph';
import type { IdentityRules } from './identity/identity-rules';
import { IdentifierNormaliser } from './identity/normalise';
import { restoreAndReport } from './identity-graph.store';
import { LinkRequestThreads } from './link-requests/link-request-threads';
import { carryOutPrivacyRequests } from './privacy/privacy-batch';
import type { SubjectMemory } from './privacy/subject-memory';
import { restoreSubjectMemory } from './privacy/subject-memory.store';
import { decodeAvroEventStep, parseJsonEventStep } from './steps/decode-event.step';
import { decodePrivacyRequestStep } from './steps/decode-privacy-request.step';
import { dropErasedSubjectStep } from './steps/drop-erased-subject.step';
import { dropSuppressedSubjectStep } from './steps/drop-suppressed-subject.step';
import { linkRequestStep, type ReadyRecord } from './steps/link-request.step';
import { resolveProfileStep } from './steps/resolve-profile.step';
import { BatchStitcher, type GraphSideWork, type StitcherPaths } from './stitch-batch';
import { outputWriters, type OutputWriters, type StitchedBatch, type StitcherTopics } from './stitched-batch';
import { StitcherSession } from './stitcher-session';
import { countCommitted, type StitcherMetrics } from './stitcher.metrics';

export type { StitcherTopics } from './stitched-batch';

export interface EventStitcherOptions {
  readonly kafka: KafkaClient;
  /** The started registry component's codec (topic schemas bound). */
  readonly codec: () => AvroCodec;
  readonly logger: Logger;
  readonly metrics: StitcherMetrics;
  /** The service's registry, for the per-step counts of the result handler. */
  readonly registry?: Registry;
  readonly topics: StitcherTopics;
  readonly groupId: string;
  readonly transactionalId: string;
  readonly rules: IdentityRules;
  /** Keyed hashes of erased and suppressed people (SubjectMemory). */
  readonly privacyKey: PrivacyKey;
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
  readonly clock?: Clock;
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
 * commit, in stitch order). The batch handler returns once the transaction *before* its own is
 * committed, so kafkajs fetches the next batches meanwhile: at most two fetches are in hand.
 * Offsets are only ever committed inside the transactions; what the handler resolves only moves
 * kafkajs' fetch position. Once the graph has changed, a failed transaction means memory is ahead
 * of Kafka: the session drops consumer, producer and graph and starts again, unless it was
 * fenced — then another instance owns the graph and it stops. `stop` waits for the last
 * transaction.
 *
 * Here the pieces are wired: each record's path (StitcherPaths, steps/), the batch's stitching
 * and outputs (stitch-batch.ts, stitched-batch.ts), the transactions, fencing and recovery
 * (StitcherSession), and the one result handler, writing dead letters into the open transaction.
 */
export function createEventStitcher(options: EventStitcherOptions): EventStitcher {
  const { metrics, topics, rules } = options;
  const normaliser = new IdentifierNormaliser(rules);
  const threads =
    options.linkRequestThreads > 0 ? new LinkRequestThreads(options.linkRequestThreads, rules) : undefined;
  const results = createResultHandler({
    logger: options.logger,
    sink: deadLetterTopic({
      service: 'identity-stitcher',
      topic: topics.deadLetters,
      producer: { send: async (topic, messages) => void (await session.openTransaction().send([{ topic, messages }])) },
      encode: (topic, value) => options.codec().encode(topic, value),
    }),
    deadLetters: metrics.deadLetters,
    ...(options.registry ? { registry: options.registry } : {}),
  });
  const logger = options.logger.child({ component: 'stitcher' });
  /** Erased and suppressed people, rebuilt with the graph under the same fencing (privacy/subject-memory.ts). */
  let memory: SubjectMemory | undefined;
  const rememberedNow = (): SubjectMemory => {
    if (!memory) throw new Error('an earlier transaction failed');
    return memory;
  };
  const countRemembered = (from: SubjectMemory): void => {
    const sizes = from.sizes();
    metrics.rememberedIdentifiers.set({ kind: 'erased' }, sizes.erasedIdentifiers);
    metrics.rememberedIdentifiers.set({ kind: 'suppressed' }, sizes.suppressedIdentifiers);
  };
  const session: StitcherSession = new StitcherSession({
    kafka: options.kafka,
    restore: async () => {
      memory = undefined;
      const graph = await restoreAndReport({
        kafka: options.kafka,
        codec: options.codec(),
        topic: topics.graph,
        rules,
        groupIdPrefix: `${options.groupId}-restore`,
        metrics,
        logger,
      });
      const restored = await restoreSubjectMemory({
        kafka: options.kafka,
        codec: options.codec(),
        topic: topics.subjects,
        key: options.privacyKey,
        groupIdPrefix: `${options.groupId}-restore-subjects`,
      });
      restored.memory.flagProfiles((visit) => graph.forEachProfile(visit));
      countRemembered(restored.memory);
      logger.info({ records: restored.records, ...restored.memory.sizes() }, 'erased and suppressed people restored');
      memory = restored.memory;
      return graph;
    },
    onBatch: (batch, context) => handleBatch(batch, context),
    writeRejections: (rejections) => results.rejected(rejections),
    consumer: {
      groupId: options.groupId,
      topics: [topics.raw, topics.json, topics.privacy],
      fromBeginning: true,
      partitionsConsumedConcurrently: options.concurrency,
      maxWaitTimeInMs: options.fetchMaxWaitMs,
      minBytes: options.fetchMinBytes,
      maxBytesPerPartition: options.fetchMaxBytesPerPartition,
      sessionTimeoutMs: options.sessionTimeoutMs,
    },
    transactionalId: options.transactionalId,
    transactionTimeoutMs: options.transactionTimeoutMs,
    outputTopics: [topics.stitched, topics.changes, topics.graph],
    logger: options.logger,
    metrics,
    onFatal: options.onFatal,
    ...(options.pauseBeforeCommitMs ? { pauseBeforeCommitMs: options.pauseBeforeCommitMs } : {}),
    ...(options.clock ? { clock: options.clock } : {}),
  });

  // Each record's path. Before the graph (possibly on a link-request thread): decode, then read
  // the link request. Then the steps on the graph's thread, in offset order: the person's
  // erasure and suppression keep the record out of the graph, before resolve-profile changes it.
  const graphNow = () => session.graphToStitch();
  const privacyRequestType = schema('PrivacyRequest').type;
  const decodeRequest = (bytes: Buffer): PrivacyRequest | Promise<PrivacyRequest> => {
    const decoding = options.codec().decodeNowOrLater<PrivacyRequest>(bytes, privacyRequestType);
    return decoding instanceof Promise ? decoding.then((d) => d.value) : decoding.value;
  };
  const paths: StitcherPaths = {
    raw: pipeline<IncomingMessage>()
      .pipe(decodeAvroEventStep(options.codec, topics.raw))
      .pipe(linkRequestStep(rules, normaliser)),
    json: pipeline<IncomingMessage>().pipe(parseJsonEventStep).pipe(linkRequestStep(rules, normaliser)),
    onGraph: pipeline<ReadyRecord>()
      .pipe(dropErasedSubjectStep(graphNow, rememberedNow))
      .pipe(dropSuppressedSubjectStep(graphNow, rememberedNow))
      .pipe(resolveProfileStep(graphNow)),
    privacy: pipeline<IncomingMessage>().pipe(decodePrivacyRequestStep(decodeRequest)),
  };
  const encode = (topic: string, value: unknown) => options.codec().encode(topic, value);
  const graphSide: GraphSideWork = {
    carryOut(messages, decoded, outputs) {
      const remembered = rememberedNow();
      carryOutPrivacyRequests(messages, decoded, outputs, {
        graph: graphNow(),
        memory: remembered,
        rules,
        normaliser,
        now: (options.now ?? Date.now)(),
        topics: { privacy: topics.privacy, subjects: topics.subjects, graph: topics.graph },
        encode,
      });
      countRemembered(remembered);
    },
    afterBatch(outputs) {
      const grown = rememberedNow().takeGrown();
      for (const [key, record] of grown) outputs.message(topics.subjects, key, encode(topics.subjects, record));
      if (grown.length > 0) countRemembered(rememberedNow());
    },
  };
  let writers: OutputWriters | undefined;
  const stitcher = new BatchStitcher({
    session,
    paths,
    topics,
    graphSide,
    threads,
    codec: options.codec,
    writers: () => (writers ??= outputWriters(options.codec(), topics)),
    metrics,
    now: options.now ?? Date.now,
  });

  async function handleBatch(fetched: MessageBatch, context: BatchContext): Promise<void> {
    if (!session.canStitch() || fetched.messages.length === 0 || !context.isRunning()) return;
    const batch = session.notYetStitched(fetched);
    if (batch.messages.length === 0) return;
    // Announced before the first await, so the open transaction waits for every batch of the fetch.
    const pending = session.expect(batch);
    let outputs: StitchedBatch;
    try {
      outputs = await stitcher.stitch(batch);
    } catch (error) {
      pending.withdraw();
      throw error;
    }
    const added = pending.add(outputs);
    const last = batch.messages[batch.messages.length - 1]!.offset;
    context.resolveOffset(last);
    // Counted once durable; a failed commit is handled (rebuild) where it fails.
    added.committed.then(
      () => countCommitted(metrics, results, outputs, batch.highWatermark),
      () => undefined,
    );
    await added.previous;
    await context.heartbeat();
  }

  return {
    name: 'stitcher',
    graph: () => session.graph(),
    start: () => session.start(),
    async stop() {
      await session.stop();
      await threads?.stop();
    },
    isHealthy: () => session.isHealthy(),
    isReady: () => session.isReady(),
  };
}
