import { schema, type SegmentChange } from '../../../../schemas';
import type { ClickHouse } from '../../../common/clickhouse/client-factory';
import { connectWithBackoff } from '../../../common/dependency';
import { DependencyUnavailableError, errorMessage } from '../../../common/errors';
import type { KafkaClient } from '../../../common/kafka/client';
import { topics } from '../../../common/kafka/topics';
import type { Component } from '../../../common/lifecycle';
import type { Logger } from '../../../common/logger';
import type { Registry } from '../../../common/metrics';
import { createRegistryConnection } from '../../../common/registry/registry-connection';
import type { SchemaRegistrySettings } from '../../../common/registry/schema-registry.client';
import { refreshSegmentReads } from '../segment-reads';
import type { DerivedDataChanged, DerivedDataSource } from './derived-data';
import { MembershipRepository } from './membership.repository';
import type { SegmentEvaluationSettings } from './segment-evaluation.config';
import { createSegmentEvaluationMetrics } from './segment-evaluation.metrics';
import { SegmentChangeLog } from './segment-change.log';
import { SegmentEvaluator } from './segment-evaluator';
import type { SegmentEvaluatorDeps, SweepOutcome } from './segment-evaluator.deps';

/**
 * Segment evaluation as a component of the profile-materializer.
 *
 * Start: registers the SegmentChange schema for the changes topic, creates the topic if it is
 * missing, connects the transactional producer (fencing a previous run and settling its open
 * transaction), RECOVERS (applies committed changes that segment_members lacks), analyses again
 * the tables every live segment reads (segment-reads.ts), then starts the sweep timer with a
 * first sweep. Only after recovery does it evaluate anything; profiles handed over earlier wait.
 * Stop: timer, worker (bounded), producer.
 *
 * The materializer hands over touched profiles with `evaluateTouched` after each batch, and each
 * derived-data source registered with `derivedDataSource` the profiles whose rows it changed;
 * both return at once (see SegmentEvaluator).
 */
export interface SegmentEvaluationDeps {
  readonly kafka: KafkaClient;
  readonly clickhouse: () => ClickHouse;
  readonly registry: SchemaRegistrySettings;
  readonly settings: SegmentEvaluationSettings;
  readonly logger: Logger;
  readonly metrics: Registry;
  /** Evaluation clock; Date.now unless a test controls it. */
  readonly now?: () => number;
  /** Publishes a fresh ProfileUpdate of these profiles (their `segments` changed); see SegmentEvaluatorDeps. */
  readonly onMembershipChanged?: SegmentEvaluatorDeps['onMembershipChanged'];
  readonly faults?: SegmentEvaluatorDeps['faults'];
  /** Profiles privacy requests erased (recovery does not write their changes back). */
  readonly isErased?: SegmentEvaluatorDeps['isErased'];
}

export interface SegmentEvaluation extends Component {
  /** Hands over the profiles a materialized batch touched; never waits for the evaluation. */
  evaluateTouched(profileIds: Iterable<string>): void;
  /**
   * Registers a source of derived data (see DerivedDataSource); its writer calls the returned
   * function with the profiles whose rows changed, once they are readable. Never waits.
   */
  derivedDataSource(source: DerivedDataSource): DerivedDataChanged;
  /** A full sweep now (also run on the timer); resolves when done. */
  sweep(): Promise<SweepOutcome>;
  /** Resolves when nothing is pending (tests). */
  idle(): Promise<void>;
  /** Current segments per profile, for ProfileUpdate.segments. */
  currentSegments(profileIds: readonly string[]): Promise<Map<string, string[]>>;
  /** Exits erased profiles from every segment, reason `erased`, after `hide` (SegmentEvaluator.exitErased). */
  exitErased(profileIds: readonly string[], hide: () => Promise<void>): Promise<number>;
}

export function createSegmentEvaluation(deps: SegmentEvaluationDeps): SegmentEvaluation {
  const logger = deps.logger.child({ component: 'segment-evaluation', topic: deps.settings.topic });
  const topic = { ...topics.segmentChanges, name: deps.settings.topic };
  const registry = createRegistryConnection({ settings: deps.registry, logger, topics: [topic] });
  const reader = schema('SegmentChange').type;
  const log = new SegmentChangeLog({
    kafka: deps.kafka,
    topic,
    transactionalId: deps.settings.transactionalId,
    encode: (name, value) => registry.codec.encode(name, value),
    decode: async (buffer) => (await registry.codec.decode<SegmentChange>(buffer, reader)).value,
    logger,
  });
  let repository: MembershipRepository | undefined;
  const repositoryOf = (): MembershipRepository => (repository ??= new MembershipRepository(deps.clickhouse()));
  let evaluator: SegmentEvaluator | undefined;
  /** Hand-overs before recovery finished: profile ids with the tables that changed (none: touched). */
  const early: Array<{ ids: string[]; tables?: readonly string[] }> = [];
  const metrics = createSegmentEvaluationMetrics(deps.metrics, () => evaluator?.oldestPending());
  const sources: DerivedDataSource[] = [];
  let started: () => void = () => undefined;
  const startedOrStopped = new Promise<void>((resolve) => (started = resolve));
  // Pending profiles above which a derived-data source waits (backpressure).
  const backlogLimit = 4 * deps.settings.maxProfilesPerRun;
  const handOver = (ids: string[], tables?: readonly string[]): void => {
    if (!evaluator || !ready) early.push({ ids, ...(tables ? { tables } : {}) });
    else if (tables) evaluator.evaluateChanged(tables, ids);
    else evaluator.evaluateTouched(ids);
  };
  const abort = new AbortController();
  let timer: NodeJS.Timeout | undefined;
  let ready = false;
  let stopped = false;

  const sweepInBackground = (): void => {
    evaluator?.sweep().catch((error: unknown) => {
      if (!stopped) logger.warn({ error: errorMessage(error) }, 'segment sweep failed');
    });
  };

  return {
    name: 'segment-evaluation',
    evaluateTouched(profileIds) {
      handOver([...profileIds]);
    },
    derivedDataSource(source) {
      const registered = { name: source.name, tables: [...source.tables] };
      sources.push(registered);
      return async (profileIds) => {
        if (profileIds.length === 0) return;
        metrics.derivedProfiles.inc({ source: registered.name }, profileIds.length);
        handOver([...profileIds], registered.tables);
        await startedOrStopped;
        await evaluator?.backlogBelow(backlogLimit);
      };
    },
    sweep: () =>
      evaluator && ready ? evaluator.sweep() : Promise.reject(new Error('segment evaluation has not started')),
    idle: () => evaluator?.idle() ?? Promise.resolve(),
    currentSegments: (profileIds) => repositoryOf().currentSegments(profileIds),
    exitErased: (profileIds, hide) =>
      evaluator && ready
        ? evaluator.exitErased(profileIds, hide)
        : Promise.reject(new DependencyUnavailableError('segment evaluation has not started yet')),
    async start() {
      await registry.start();
      await connectWithBackoff('segment change producer', () => log.connect(), logger, abort.signal);
      evaluator = new SegmentEvaluator({
        repository: repositoryOf,
        log,
        logger,
        now: deps.now ?? Date.now,
        metrics,
        maxProfilesPerRun: deps.settings.maxProfilesPerRun,
        sweepPageSize: deps.settings.sweepPageSize,
        ...(deps.onMembershipChanged ? { onMembershipChanged: deps.onMembershipChanged } : {}),
        ...(deps.faults ? { faults: deps.faults } : {}),
        ...(deps.isErased ? { isErased: deps.isErased } : {}),
      });
      const recovering = evaluator;
      const recovered = await connectWithBackoff(
        'segment membership recovery',
        () => recovering.recover(),
        logger,
        abort.signal,
      );
      logger.info({ recovered }, 'segment membership recovered from the changes topic');
      const analysed = await connectWithBackoff(
        'segment reads analysis',
        () => refreshSegmentReads(deps.clickhouse(), logger, deps.now ? { now: deps.now } : {}),
        logger,
        abort.signal,
      );
      logger.info({ analysed, derivedDataSources: sources }, 'tables read by segments analysed');
      ready = true;
      for (const { ids, tables } of early.splice(0)) handOver(ids, tables);
      started();
      if (deps.settings.sweepIntervalMs > 0) {
        sweepInBackground();
        timer = setInterval(sweepInBackground, deps.settings.sweepIntervalMs);
        timer.unref();
      }
    },
    async stop() {
      if (stopped) return;
      stopped = true;
      abort.abort();
      if (timer) clearInterval(timer);
      logger.info('stopping segment evaluation');
      await evaluator?.stop();
      started();
      await log.disconnect();
      await registry.stop();
    },
    // Not ready until recovered; unhealthy once evaluation stopped (fenced, or committed changes unappliable).
    isHealthy: () => evaluator?.isHealthy() ?? true,
    isReady: () => ready,
  };
}
