import type { FastifyInstance } from 'fastify';
import { Service, type Component } from '../common/lifecycle';
import type { ServiceBase } from '../common/service-base';
import { httpEdge } from '../common/http-server';
import { keysRoutes, piiKeyOf } from '../common/access';
import { createApiAccess } from '../common/audit/api-access';
import { createAuditSink } from './audit/audit-log.sink';
import { auditRoutes } from './audit/audit.routes';
import { createKafkaConnection } from '../common/kafka/kafka-connection';
import { createProducerConnection } from '../common/kafka/producer-connection';
import { topics, type TopicSpec } from '../common/kafka/topics';
import { deadLetterTopic } from '../common/dead-letters';
import { createResultHandler } from '../common/result-handler';
import { createRegistryConnection } from '../common/registry/registry-connection';
import { registrySettingsFromConfig } from '../common/registry/schema-registry.client';
import { createClickHouseConnection } from '../common/clickhouse/clickhouse-connection';
import type { ClickHouse } from '../common/clickhouse/client-factory';
import { createMaskedClickHouse } from '../common/clickhouse/masked-client';
import { applyMasking } from '../common/clickhouse/masking';
import { schema } from '../../schemas';
import { rfmSettingsFromConfig, type MaterializerConfig } from './config';
import {
  createExclusive,
  createProfileRepublisher,
  prepareChunk,
  refreshProfiles,
  storeChunk,
  type MaterializeDeps,
  type PreparedChunk,
  type RepublishReason,
  type WrittenChunk,
} from './materialize-batch';
import { createMaterializerConsumer, type MaterializerConsumerOptions } from './materializer.consumer';
import { createMaterializerMetrics } from './materializer.metrics';
import { ProfileRepository } from './profile.repository';
import { ReplayWindow } from './replay-window';
import { readApiRoutes } from './read-api.routes';
import { readSnapshotRfm, writeRfmSettings } from './rfm/rfm.repository';
import { createRfmSnapshotter } from './rfm/rfm-snapshot';
import { createSegmentEvaluation } from './segments/evaluation/segment-evaluation.component';
import { segmentEvaluationSettings } from './segments/evaluation/segment-evaluation.config';
import { createConsoleBackend } from './console/console-backend';
import { createPredictions } from './predictions/predictions.component';
import { predictionSettings } from './predictions/predictions.config';
import { readPredictions } from './predictions/predictions.repository';
import { identifierHash } from '../common/audit/keyed-hash';
import { PrivacyKey } from '../common/privacy/privacy-key';
import { requestKey } from '../common/privacy/privacy-request';
import { ErasedPeople } from './privacy/erased-people';
import { PrivacyRequestExecutor } from './privacy/privacy-request.executor';
import { PrivacyRequestRepository } from './privacy/privacy-request.repository';
import { createPrivacyRequestsConsumer } from '../common/privacy/privacy-requests.consumer';
import { carryOutPrivacyRecord } from './privacy/carry-out-privacy-record';
import { recipientsReader } from './privacy/destination-recipients';
import { privacyTopicsOf } from './privacy/privacy.config';
import { createPrivacyMetrics } from './privacy/privacy.metrics';
import { createRetentionApplier } from './retention/retention-ttl';

/** The configured topics (renamed copies of the standard specs when a test renames them). */
export function materializerTopics(config: MaterializerConfig): TopicSpec[] {
  return [
    { ...topics.eventsStitched, name: config.MATERIALIZER_STITCHED_TOPIC },
    { ...topics.identityChanges, name: config.MATERIALIZER_CHANGES_TOPIC },
    { ...topics.profileUpdates, name: config.MATERIALIZER_UPDATES_TOPIC },
    { ...topics.deadLetters, name: config.MATERIALIZER_DLQ_TOPIC },
    { ...topics.accessKeys, name: config.ACCESS_KEYS_TOPIC },
    { ...topics.audit, name: config.AUDIT_TOPIC },
    { ...topics.securityAlerts, name: config.SECURITY_ALERTS_TOPIC },
    { ...topics.privacyRequests, name: config.PRIVACY_REQUESTS_TOPIC },
    { ...topics.destinationRecipients, name: config.PRIVACY_RECIPIENTS_TOPIC },
  ];
}

/** How the consumer batches, fetches and refreshes, from the config (the benchmark uses the same). */
export function consumerSettings(config: MaterializerConfig) {
  return {
    batchSize: config.MATERIALIZER_BATCH_SIZE,
    lingerMs: config.MATERIALIZER_LINGER_MS,
    fetchMinBytes: config.MATERIALIZER_FETCH_MIN_BYTES,
    fetchMaxBytesPerPartition: config.MATERIALIZER_FETCH_MAX_BYTES_PER_PARTITION,
    sessionTimeoutMs: config.MATERIALIZER_SESSION_TIMEOUT_MS,
    refreshIntervalMs: config.MATERIALIZER_REFRESH_INTERVAL_MS,
    refreshMaxProfiles: config.MATERIALIZER_REFRESH_MAX_PROFILES,
    touchedOf: (written: WrittenChunk) => written.touched,
  } satisfies Partial<MaterializerConsumerOptions<PreparedChunk, WrittenChunk>>;
}

/**
 * The profile-materializer, composed: Kafka (topics), schema registry (codec), ClickHouse
 * (migrations), the RFM settings, the producer of profile updates, the RFM snapshots (rfm view),
 * segment evaluation, predictions (predictions/), the consumer, and the HTTP read API in front. Start order is that list;
 * stop is the reverse, HTTP first (so the snapshots and segment evaluation, which publish
 * profile updates too, stop before the producer does).
 *
 * Segments are evaluated for the profiles each batch touched and, for the segments that read
 * derived data (the RFM snapshot), for the profiles whose derived rows changed.
 *
 * ProfileUpdates come from three paths, all through publishProfileUpdates (one at a time):
 * the consumer's refresh of the profiles a batch touched; RFM snapshots, for profiles whose RFM
 * row changed (other people's purchases moved the quintiles, recency crossed a boundary); and
 * segment evaluation, for profiles whose membership changed (the sweep, and incremental runs,
 * which follow the refresh that published the batch's updates). The latter two run in the
 * background: a failure is logged and its profiles go with the next republish.
 */
export function createMaterializerService(
  config: MaterializerConfig,
  base: ServiceBase,
): { service: Service; consumer: ReturnType<typeof createMaterializerConsumer> } {
  const { logger, metrics, kafka } = base;
  const materializerMetrics = createMaterializerMetrics(metrics);
  const ownTopics = materializerTopics(config);
  const kafkaConnection = createKafkaConnection({ client: kafka, logger, topics: ownTopics });
  const registry = createRegistryConnection({
    settings: registrySettingsFromConfig(config),
    logger,
    topics: ownTopics,
  });
  const clickhouse = createClickHouseConnection({ config, logger });
  const rfmSettings = rfmSettingsFromConfig(config);
  const rfmSettingsWriter: Component = {
    name: 'rfm-settings',
    start: () => writeRfmSettings(clickhouse.clickhouse, rfmSettings),
    stop: async () => undefined,
    isHealthy: () => true,
    isReady: () => true,
  };
  const piiKey = piiKeyOf(config, config.KUMIKI_ADMIN_TOKEN);
  let masked: ClickHouse | undefined;
  const masking: Component = {
    name: 'masking',
    async start() {
      await applyMasking(clickhouse.clickhouse, { piiKey, personalKeys: config.PII_PERSONAL_KEYS });
      masked = await createMaskedClickHouse(config, clickhouse.clickhouse, logger);
    },
    stop: async () => void (await masked?.close()),
    isHealthy: () => true,
    isReady: () => true,
  };
  const producer = createProducerConnection({ client: kafka, logger });
  // Shared by every path that publishes ProfileUpdates (see publishProfileUpdates).
  const exclusive = createExclusive();
  const republisher = createProfileRepublisher();
  const republish = (ids: readonly string[], reason: RepublishReason): Promise<number> =>
    republisher(ids, materializeDeps(), reason);
  const privacyKey = PrivacyKey.fromHex(config.KUMIKI_PRIVACY_KEY);
  const erased = new ErasedPeople(privacyKey);
  const privacyRequests = new PrivacyRequestRepository(() => clickhouse.clickhouse);
  // Before segment evaluation and the consumer: both drop what erased people's replays bring back.
  const erasedPeopleLoader: Component = {
    name: 'erased-people',
    start: async () => erased.load(await privacyRequests.erased()),
    stop: async () => undefined,
    isHealthy: () => true,
    isReady: () => true,
  };
  const segments = createSegmentEvaluation({
    kafka,
    clickhouse: () => clickhouse.clickhouse,
    registry: registrySettingsFromConfig(config),
    settings: segmentEvaluationSettings(config),
    logger,
    metrics,
    onMembershipChanged: async (ids) => void (await republish(ids, 'segments')),
    isErased: (profileId) => erased.isErased(profileId),
  });
  // Derived data segments read (docs/segments.md): `rfm` is the snapshot, and rules on RFM read
  // rfm_as_of, whose scores move with other people's purchases, which the snapshot finds.
  const rfmChanged = segments.derivedDataSource({ name: 'rfm', tables: ['rfm', 'rfm_as_of'] });
  const rfmSnapshots = createRfmSnapshotter({
    clickhouse: () => clickhouse.clickhouse,
    logger,
    intervalMs: config.RFM_SNAPSHOT_INTERVAL_MS,
    minIntervalMs: config.RFM_SNAPSHOT_MIN_INTERVAL_MS,
    onProfilesChanged: async (ids) => {
      const room = rfmChanged(ids);
      await republish(ids, 'rfm');
      await room;
    },
  });
  const settings = predictionSettings(config);
  const predictionsChanged = segments.derivedDataSource({ name: 'predictions', tables: ['predictions'] });
  const predictions = createPredictions({
    clickhouse: () => clickhouse.clickhouse,
    logger,
    settings,
    // What derives from predictions: their ProfileUpdates and the segments that read them.
    onPredictionsChanged: async (ids) => {
      const room = predictionsChanged(ids);
      await republish(ids, 'predictions');
      await room;
    },
  });
  const results = createResultHandler({
    logger,
    sink: deadLetterTopic({
      service: 'profile-materializer',
      producer: producer.producer,
      encode: (topic, value) => registry.codec.encode(topic, value),
      topic: config.MATERIALIZER_DLQ_TOPIC,
    }),
    registry: metrics,
  });
  let deps: MaterializeDeps | undefined;
  // Built on first use: the codec and ClickHouse exist only once their components started.
  const materializeDeps = (): MaterializeDeps =>
    (deps ??= {
      repository: new ProfileRepository(clickhouse.clickhouse),
      decode: (buffer, reader) => registry.codec.decodeNowOrLater(buffer, reader),
      encode: (topic, value) => registry.codec.encode(topic, value),
      readers: { stitched: schema('StitchedEvent').type, change: schema('IdentityChange').type },
      // The latest RFM snapshot's rows, not rfm_as_of(now): ranking every purchaser again on each
      // refresh cost a time that grew with the events table (1.7 s a refresh at 10M events).
      readRfm: (ids) => readSnapshotRfm(clickhouse.clickhouse, ids),
      readPredictions: (ids) => readPredictions(clickhouse.clickhouse, ids),
      producer: producer.producer,
      results,
      topics: {
        stitched: config.MATERIALIZER_STITCHED_TOPIC,
        changes: config.MATERIALIZER_CHANGES_TOPIC,
        updates: config.MATERIALIZER_UPDATES_TOPIC,
      },
      logger,
      metrics: materializerMetrics,
      replays: new ReplayWindow(),
      rfmInputsChanged: () => rfmSnapshots.request(),
      exclusive,
      erased,
      profilingPurposes: config.PROFILING_PURPOSES,
    });
  const consumer = createMaterializerConsumer<PreparedChunk, WrittenChunk>({
    kafka,
    logger,
    groupId: config.MATERIALIZER_GROUP_ID,
    topics: [config.MATERIALIZER_STITCHED_TOPIC, config.MATERIALIZER_CHANGES_TOPIC],
    ...consumerSettings(config),
    metrics: materializerMetrics,
    ...(config.MATERIALIZER_FAULT_KILL_BEFORE_COMMIT > 0
      ? {
          beforeCommit: (batch: number) => {
            if (batch === config.MATERIALIZER_FAULT_KILL_BEFORE_COMMIT) {
              logger.warn({ batch }, 'fault injection: SIGKILL before commit');
              process.kill(process.pid, 'SIGKILL');
            }
          },
        }
      : {}),
    prepare: (messages) => prepareChunk(messages, materializeDeps()),
    store: (prepared) => storeChunk(prepared, materializeDeps()),
    // Segments are evaluated after the refresh (it writes the snapshots rules read); evaluateTouched returns at once,
    // and profiles whose membership the run changes are published again (onMembershipChanged above).
    publish: (written) =>
      refreshProfiles(written, materializeDeps()).then((updates) => {
        segments.evaluateTouched(written.flatMap((w) => [...w.touched]));
        return updates;
      }),
  });
  const privacyMetrics = createPrivacyMetrics(metrics);
  const destinationRecipients = recipientsReader({
    kafka,
    codec: () => registry.codec,
    topic: config.PRIVACY_RECIPIENTS_TOPIC,
    key: privacyKey,
    groupIdPrefix: `${config.MATERIALIZER_GROUP_ID}-recipients`,
    clickhouse: () => clickhouse.clickhouse,
  });
  let executor: PrivacyRequestExecutor | undefined;
  // Built on first use, like materializeDeps: ClickHouse and the codec exist once started.
  const privacyExecutor = (): PrivacyRequestExecutor =>
    (executor ??= new PrivacyRequestExecutor({
      clickhouse: () => clickhouse.clickhouse,
      recipients: destinationRecipients,
      repository: privacyRequests,
      key: privacyKey,
      erased,
      kafka,
      producer: producer.producer,
      encode: (topic, value) => registry.codec.encode(topic, value),
      topics: privacyTopicsOf(config, segmentEvaluationSettings(config).topic),
      materializerGroupId: config.MATERIALIZER_GROUP_ID,
      exitSegments: (ids, hide) => segments.exitErased(ids, hide),
      hideProfiles: (ids) => materializeDeps().repository.hideProfiles(ids),
      forgetIdentities: (identifiers) => materializeDeps().repository.forgetIdentities(identifiers),
      exclusive,
      settleWriters: async () => void (await Promise.all([rfmSnapshots.settled(), predictions.settled()])),
      logger,
      metrics: privacyMetrics,
      ...(config.PRIVACY_FAULT_KILL_AFTER_STEP ? { killAfterStep: config.PRIVACY_FAULT_KILL_AFTER_STEP } : {}),
    }));
  const privacyConsumer = createPrivacyRequestsConsumer({
    kafka,
    codec: () => registry.codec,
    topic: config.PRIVACY_REQUESTS_TOPIC,
    groupId: config.PRIVACY_GROUP_ID ?? `${config.MATERIALIZER_GROUP_ID}.privacy`,
    handle: (record, context) => carryOutPrivacyRecord(privacyExecutor(), record, context, logger),
    logger,
  });
  const consoleBackend = createConsoleBackend({
    config,
    kafka,
    logger,
    metrics,
    clickhouse: () => clickhouse.clickhouse,
    maskedClickhouse: () => masked,
    codec: () => registry.codec,
    isErasedProfile: (profileId) => erased.isErased(profileId),
  });
  const access = createApiAccess({
    config,
    service: 'profile-materializer',
    groupIdPrefix: config.MATERIALIZER_GROUP_ID,
    kafka,
    producer: () => producer.producer,
    encode: (topic, value) => registry.codec.encode(topic, value),
    logger,
    metrics,
    piiKey,
  });
  const auditSink = createAuditSink({
    kafka,
    clickhouse: () => clickhouse.clickhouse,
    decode: async (buffer) => (await registry.codec.decode(buffer)).value,
    auditTopic: config.AUDIT_TOPIC,
    alertsTopic: config.SECURITY_ALERTS_TOPIC,
    groupId: `${config.MATERIALIZER_GROUP_ID}-audit`,
    logger,
  });
  const readApi = readApiRoutes({
    clickhouse: () => clickhouse.clickhouse,
    maskedClickhouse: () => masked,
    keys: keysRoutes({
      producer: () => producer.producer,
      topic: config.ACCESS_KEYS_TOPIC,
      cache: access.keys,
      rotationGraceMs: config.KEY_ROTATION_GRACE_MS,
    }),
    access: access.control,
    logger,
    privacy: {
      clickhouse: () => clickhouse.clickhouse,
      repository: () => privacyRequests,
      produce: (record) =>
        producer.producer.send(config.PRIVACY_REQUESTS_TOPIC, [
          { key: requestKey(record), value: registry.codec.encode(config.PRIVACY_REQUESTS_TOPIC, record) },
        ]),
      recordPending: (record) => privacyExecutor().recordPending(record),
      auditHash: (type, value) => identifierHash(piiKey, type, value),
      recipients: destinationRecipients,
      logger,
    },
    limits: {
      maxExecutionSeconds: config.SQL_MAX_EXECUTION_SECONDS,
      maxResultRows: config.SQL_MAX_RESULT_ROWS,
      maxMemoryBytes: config.SQL_MAX_MEMORY_BYTES,
    },
    plugins: [auditRoutes({ clickhouse: () => clickhouse.clickhouse, piiKey }), consoleBackend.v1Routes],
    predictions: { predictions, excludedItems: settings.excludedItems },
  });
  const routes = async (app: FastifyInstance): Promise<void> => {
    await readApi(app);
    await consoleBackend.staticRoutes(app);
  };
  const service = new Service(
    {
      name: 'profile-materializer',
      logger,
      graceMs: config.SHUTDOWN_GRACE_MS,
      edge: httpEdge(config, { logger, metrics, routes }),
    },
    [
      kafkaConnection,
      registry,
      clickhouse,
      rfmSettingsWriter,
      masking,
      createRetentionApplier({
        clickhouse: () => clickhouse.clickhouse,
        settings: { eventsDays: config.EVENTS_RETENTION_DAYS, profilesDays: config.PROFILE_RETENTION_DAYS },
        logger,
      }),
      erasedPeopleLoader,
      producer,
      access.keyFollower,
      auditSink,
      rfmSnapshots,
      segments,
      predictions,
      consumer,
      privacyConsumer,
      ...consoleBackend.components,
    ],
  );
  return { service, consumer };
}
