import { schema, type SegmentChange } from '../../../../schemas';
import type { ClickHouse } from '../../../common/clickhouse/client-factory';
import { connectWithBackoff } from '../../../common/dependency';
import { errorMessage } from '../../../common/errors';
import type { KafkaClient } from '../../../common/kafka/client';
import { topics } from '../../../common/kafka/topics';
import type { Component } from '../../../common/lifecycle';
import type { Logger } from '../../../common/logger';
import type { Registry } from '../../../common/metrics';
import { createRegistryConnection } from '../../../common/registry/registry-connection';
import type { SchemaRegistrySettings } from '../../../common/registry/schema-registry.client';
import { MembershipRepository } from './membership.repository';
import type { SegmentEvaluationSettings } from './segment-evaluation.config';
import { createSegmentEvaluationMetrics } from './segment-evaluation.metrics';
import { SegmentChangeLog } from './segment-change.log';
import { SegmentEvaluator, type SegmentEvaluatorDeps, type SweepOutcome } from './segment-evaluator';

/**
 * Segment evaluation as a component of the profile-materializer.
 *
 * Start: registers the SegmentChange schema for the changes topic, creates the topic if it is
 * missing, connects the transactional producer (fencing a previous run and settling its open
 * transaction), RECOVERS (applies committed changes that segment_members lacks), then starts
 * the sweep timer with a first sweep. Only after recovery does it evaluate anything; touched
 * profiles handed over earlier wait. Stop: timer, worker (bounded), producer.
 *
 * The materializer hands over touched profiles with `evaluateTouched` after each batch; it
 * returns at once (see SegmentEvaluator).
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
}

export interface SegmentEvaluation extends Component {
  /** Hands over the profiles a materialized batch touched; never waits for the evaluation. */
  evaluateTouched(profileIds: Iterable<string>): void;
  /** A full sweep now (also run on the timer); resolves when done. */
  sweep(): Promise<SweepOutcome>;
  /** Resolves when nothing is pending (tests). */
  idle(): Promise<void>;
  /** Current segments per profile, for ProfileUpdate.segments. */
  currentSegments(profileIds: readonly string[]): Promise<Map<string, string[]>>;
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
  const early: string[][] = [];
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
      if (evaluator && ready) evaluator.evaluateTouched(profileIds);
      else early.push([...profileIds]);
    },
    sweep: () =>
      evaluator && ready ? evaluator.sweep() : Promise.reject(new Error('segment evaluation has not started')),
    idle: () => evaluator?.idle() ?? Promise.resolve(),
    currentSegments: (profileIds) => repositoryOf().currentSegments(profileIds),
    async start() {
      await registry.start();
      await connectWithBackoff('segment change producer', () => log.connect(), logger, abort.signal);
      evaluator = new SegmentEvaluator({
        repository: repositoryOf,
        log,
        logger,
        now: deps.now ?? Date.now,
        metrics: createSegmentEvaluationMetrics(deps.metrics, () => evaluator?.oldestPending()),
        maxProfilesPerRun: deps.settings.maxProfilesPerRun,
        sweepPageSize: deps.settings.sweepPageSize,
        ...(deps.onMembershipChanged ? { onMembershipChanged: deps.onMembershipChanged } : {}),
        ...(deps.faults ? { faults: deps.faults } : {}),
      });
      const recovering = evaluator;
      const recovered = await connectWithBackoff(
        'segment membership recovery',
        () => recovering.recover(),
        logger,
        abort.signal,
      );
      logger.info({ recovered }, 'segment membership recovered from the changes topic');
      ready = true;
      for (const ids of early.splice(0)) evaluator.evaluateTouched(ids);
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
      await log.disconnect();
      await registry.stop();
    },
    // Not ready until recovered; unhealthy once evaluation stopped (fenced, or committed changes unappliable).
    isHealthy: () => evaluator?.isHealthy() ?? true,
    isReady: () => ready,
  };
}
