import type { FastifyInstance } from 'fastify';
import type { Registry } from 'prom-client';
import type { ClickHouse } from '../../common/clickhouse/client-factory';
import type { KafkaClient } from '../../common/kafka/client';
import type { Component } from '../../common/lifecycle';
import type { Logger } from '../../common/logger';
import type { AvroCodec } from '../../common/registry/avro-codec';
import type { MaterializerConfig } from '../config';
import { createTopicHistory } from '../history/topic-history.component';
import { consoleDataRoutes } from './console-data.routes';
import { consoleStaticRoutes } from './console-static';
import { createPipelineLag } from './pipeline-lag';

/**
 * What the profile-materializer adds for the web console: the built console on its listener, the
 * console's read endpoints (`/v1` routes, mounted in the read API's authenticated scope), Kafka lag
 * per stage, and the history of the dead-letter and segment-changes topics. The ingest consumer
 * is not touched: the history has its own consumer group.
 */
export function createConsoleBackend(deps: {
  readonly config: MaterializerConfig;
  readonly kafka: KafkaClient;
  readonly logger: Logger;
  readonly metrics: Registry;
  readonly clickhouse: () => ClickHouse;
  /** ClickHouse as keys without pii:read see it (ReadApiDeps.maskedClickhouse). */
  readonly maskedClickhouse: () => ClickHouse | undefined;
  readonly codec: () => AvroCodec;
  /** Profiles erased by privacy requests: their segment changes stay out of the history. */
  readonly isErasedProfile?: (profileId: string) => boolean;
}): {
  readonly v1Routes: (v1: FastifyInstance) => Promise<void>;
  readonly staticRoutes: (app: FastifyInstance) => Promise<void>;
  readonly components: readonly Component[];
} {
  const { config } = deps;
  const logger = deps.logger.child({ component: 'console' });
  const historyGroupId = `${config.MATERIALIZER_GROUP_ID}.history`;
  const history = createTopicHistory({
    kafka: deps.kafka,
    clickhouse: deps.clickhouse,
    codec: deps.codec,
    logger,
    groupId: historyGroupId,
    topics: { deadLetters: config.MATERIALIZER_DLQ_TOPIC, segmentChanges: config.SEGMENT_CHANGES_TOPIC },
    ...(deps.isErasedProfile ? { isErasedProfile: deps.isErasedProfile } : {}),
  });
  const lag = createPipelineLag({
    kafka: deps.kafka,
    logger,
    stages: [
      {
        stage: 'identity-stitcher',
        groupId: config.PIPELINE_STITCHER_GROUP_ID,
        topics: config.PIPELINE_STITCHER_TOPICS,
      },
      {
        stage: 'profile-materializer',
        groupId: config.MATERIALIZER_GROUP_ID,
        topics: [config.MATERIALIZER_STITCHED_TOPIC, config.MATERIALIZER_CHANGES_TOPIC],
      },
      {
        stage: 'history',
        groupId: historyGroupId,
        topics: [config.MATERIALIZER_DLQ_TOPIC, config.SEGMENT_CHANGES_TOPIC],
      },
    ],
  });
  const lagConnection: Component = {
    name: 'pipeline-lag',
    start: async () => undefined,
    stop: () => lag.close(),
    isHealthy: () => true,
    isReady: () => true,
  };
  return {
    v1Routes: consoleDataRoutes({
      clickhouse: deps.clickhouse,
      maskedClickhouse: deps.maskedClickhouse,
      metrics: deps.metrics,
      lag: () => lag.read(),
      decodeAvro: async (bytes) => (await deps.codec().decode(bytes)).value,
    }),
    staticRoutes: consoleStaticRoutes(config.CONSOLE_DIR),
    components: [history, lagConnection],
  };
}
