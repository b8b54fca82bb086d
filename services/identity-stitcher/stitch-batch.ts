import type { PrivacyRequest } from '../../schemas';
import type { IncomingMessage, MessageBatch } from '../common/kafka/messages';
import type { Outcome, Pipeline, Stopped } from '../common/pipeline';
import type { AvroCodec } from '../common/registry';
import { recordOrigin, rejection } from '../common/result-handler';
import { ok } from '../common/step-result';
import type { LinkRequest, Resolution } from './identity/identity-graph';
import type { LinkRequestThreads } from './link-requests/link-request-threads';
import type { ReadyRecord } from './steps/link-request.step';
import { StitchedBatchOutputs, type OutputWriters, type StitchedBatch, type StitcherTopics } from './stitched-batch';
import type { StitcherSession } from './stitcher-session';
import { countResolution, type StitcherMetrics } from './stitcher.metrics';

/** Each record's path: to its link request (per input topic), then the steps on the graph. */
export interface StitcherPaths {
  readonly raw: Pipeline<IncomingMessage, ReadyRecord>;
  readonly json: Pipeline<IncomingMessage, ReadyRecord>;
  /** Run in offset order on the graph's thread; synchronous. */
  readonly onGraph: Pipeline<ReadyRecord, Resolution>;
  /** A record of kumiki.privacy.requests, before the graph. */
  readonly privacy: Pipeline<IncomingMessage, PrivacyRequest>;
}

/**
 * What the graph's thread does besides the steps: privacy requests carried out in turn with the
 * event batches (privacy/privacy-batch.ts), and the outputs of state the steps changed beside
 * the graph (suppressions grown), added at the end of each batch.
 */
export interface GraphSideWork {
  carryOut(
    messages: readonly IncomingMessage[],
    decoded: readonly Outcome<PrivacyRequest>[],
    outputs: StitchedBatchOutputs,
  ): void;
  afterBatch(outputs: StitchedBatchOutputs): void;
}

export interface BatchStitcherDeps {
  readonly session: Pick<StitcherSession, 'graphToStitch' | 'outputPartitions' | 'fail'>;
  readonly paths: StitcherPaths;
  readonly topics: Pick<StitcherTopics, 'raw' | 'json' | 'privacy'>;
  readonly graphSide: GraphSideWork;
  readonly threads: LinkRequestThreads | undefined;
  readonly codec: () => Pick<AvroCodec, 'schemaIdOf'>;
  readonly writers: () => OutputWriters;
  readonly metrics: Pick<
    StitcherMetrics,
    'graphIdentifiers' | 'graphProfiles' | 'profilesCreated' | 'merges' | 'links' | 'refusals'
  >;
  readonly now: () => number;
}

/**
 * One batch, from its records to its outputs: the steps before the graph, then the graph's,
 * record by record in offset order (per-identity order is the partition's order).
 *
 * Decoding and reading identifiers happen before the graph is touched (a registry outage just
 * retries the batch), mostly on a link-request thread while earlier batches are stitched here,
 * and otherwise in a function that returns before the commit is awaited, so decoded events die
 * young. From the first graph step on, any failure means memory is ahead of Kafka (the session
 * rebuilds).
 */
export class BatchStitcher {
  /** The batches handed over so far, stitched one after the other. */
  private stitching: Promise<void> = Promise.resolve();

  constructor(private readonly deps: BatchStitcherDeps) {}

  async stitch(batch: MessageBatch): Promise<StitchedBatch> {
    if (batch.topic === this.deps.topics.privacy) {
      // Decoded before the graph is touched, like events: a registry outage only retries the batch.
      const decoded = await this.runEach(batch.messages, this.deps.paths.privacy);
      return this.inTurnOfItsOwn(async () =>
        this.changingGraph(batch, 'a privacy request failed after the graph changed', (outputs) =>
          this.deps.graphSide.carryOut(batch.messages, decoded, outputs),
        ),
      );
    }
    const offThread = this.readOffThread(batch);
    return this.inTurnOfItsOwn(async () => this.onGraph(batch, await this.beforeGraph(batch, await offThread)));
  }

  /**
   * Runs `work` once the batches handed over before it are stitched, in a turn of the event loop
   * of its own: the broker's answers to the records already written are read in between, and
   * the next records go out while this batch is stitched (see GroupCommit).
   */
  private inTurnOfItsOwn<T>(work: () => Promise<T>): Promise<T> {
    const turn = this.stitching.then(() => new Promise<void>((resolve) => setImmediate(resolve))).then(work);
    this.stitching = turn.then(
      () => undefined,
      () => undefined,
    );
    return turn;
  }

  /**
   * The link requests of an Avro batch's records, read by a link-request thread from the moment
   * the batch arrives (so while earlier batches are stitched here); undefined when there are no
   * threads or the batch is JSON. A record without a request takes its path here (beforeGraph).
   */
  private readOffThread(batch: MessageBatch): Promise<(LinkRequest | undefined)[]> | undefined {
    const { threads, topics } = this.deps;
    if (!threads || batch.topic !== topics.raw) return undefined;
    const ownSchemaId = this.deps.codec().schemaIdOf(topics.raw);
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
   * Every record's path up to the graph. Nothing has changed yet: a retriable failure (registry
   * down, a link-request thread gone) is simply thrown and the batch fetched again.
   */
  private async beforeGraph(
    batch: MessageBatch,
    offThread: readonly (LinkRequest | undefined)[] | undefined,
  ): Promise<Outcome<ReadyRecord>[]> {
    const { messages } = batch;
    const { paths, topics } = this.deps;
    const prepared = new Array<Outcome<ReadyRecord>>(messages.length);
    for (let i = 0; i < messages.length; i++) {
      const message = messages[i]!;
      const request = offThread?.[i];
      // Read off-thread only from records written with our own Event schema: the body is reused as is.
      if (request) {
        prepared[i] = ok({ request, written: message.value! });
        continue;
      }
      const outcome = (message.topic === topics.json ? paths.json : paths.raw).run(message);
      prepared[i] = outcome instanceof Promise ? await outcome : outcome;
    }
    return prepared;
  }

  private async runEach<T>(
    messages: readonly IncomingMessage[],
    path: Pipeline<IncomingMessage, T>,
  ): Promise<Outcome<T>[]> {
    const outcomes: Outcome<T>[] = [];
    for (const message of messages) {
      const outcome = path.run(message);
      outcomes.push(outcome instanceof Promise ? await outcome : outcome);
    }
    return outcomes;
  }

  /** The graph's steps for each prepared record, in offset order, and the batch's outputs. */
  private onGraph(batch: MessageBatch, prepared: readonly Outcome<ReadyRecord>[]): StitchedBatch {
    const { paths, metrics } = this.deps;
    return this.changingGraph(batch, 'stitching failed after the graph changed', (outputs) => {
      const ended = (outcome: Stopped, message: IncomingMessage): void => {
        if (outcome.kind === 'drop') outputs.dropped(outcome.step);
        else outputs.rejected(rejection(outcome, recordOrigin(message)));
      };
      const { messages } = batch;
      for (let i = 0; i < messages.length; i++) {
        const record = prepared[i]!;
        if (record.kind !== 'ok') {
          ended(record, messages[i]!);
          continue;
        }
        const outcome = paths.onGraph.runNow(record.value);
        if (outcome.kind !== 'ok') {
          ended(outcome, messages[i]!);
          continue;
        }
        countResolution(metrics, outcome.value);
        outputs.stitched(outcome.value, record.value.written);
      }
    });
  }

  /**
   * Runs `work` on the graph for one batch and returns the batch's outputs. From here on the graph
   * may change: any failure means memory is ahead of Kafka, and the session rebuilds.
   */
  private changingGraph(
    batch: MessageBatch,
    failure: string,
    work: (outputs: StitchedBatchOutputs) => void,
  ): StitchedBatch {
    const { session, metrics } = this.deps;
    // A transaction failed while this batch waited its turn: the graph is being rebuilt.
    const graph = session.graphToStitch();
    const outputs = new StitchedBatchOutputs(this.deps.writers(), session.outputPartitions(), this.deps.now());
    try {
      work(outputs);
      this.deps.graphSide.afterBatch(outputs);
    } catch (error) {
      const nextOffset = (BigInt(batch.messages[batch.messages.length - 1]!.offset) + 1n).toString();
      session.fail(error, failure, { topic: batch.topic, partition: batch.partition, nextOffset });
      throw error;
    }
    metrics.graphIdentifiers.set(graph.identifierCount);
    metrics.graphProfiles.set(graph.profileCount);
    return outputs.finish(batch);
  }
}
