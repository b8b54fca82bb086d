import type { Destination } from '../../schemas';
import { piiKeyOf } from '../common/access';
import { createApiAccess } from '../common/audit/api-access';
import { errorMessage } from '../common/errors';
import { httpEdge } from '../common/http-server';
import { createKafkaConnection } from '../common/kafka/kafka-connection';
import { createProducerConnection } from '../common/kafka/producer-connection';
import { PrivacyKey } from '../common/privacy/privacy-key';
import { RememberedProfileIdHashes } from './privacy/profile-id-hashes';
import { createPrivacyRequestsConsumer } from '../common/privacy/privacy-requests.consumer';
import { topics, type TopicSpec } from '../common/kafka/topics';
import { Service } from '../common/lifecycle';
import { createRegistryConnection } from '../common/registry/registry-connection';
import { registrySettingsFromConfig } from '../common/registry/schema-registry.client';
import type { ServiceBase } from '../common/service-base';
import { createActivatorMetrics } from './activator.metrics';
import type { ActivatorConfig } from './config';
import { DeadLetterReplay } from './delivery/dead-letter-replay';
import { createDeliveryAudit } from './delivery/delivery-audit';
import { createChangeDelivery } from './delivery/deliver-change';
import { DeliveryLog } from './delivery/delivery-log';
import { DeliveryWorker } from './delivery/delivery-worker';
import { LiveDestination } from './delivery/destination-runtime';
import { DestinationWorkers } from './delivery/destination-workers';
import { sendTestMessage } from './delivery/test-message';
import { DestinationCatalog } from './destinations/destination-catalog';
import { DestinationStore } from './destinations/destination-store';
import { destinationRoutes } from './destinations/destinations.routes';
import { createGrantCheck } from './destinations/grant-check';
import { SecretBox } from './destinations/secret-box';
import { ExportRunner } from './exports/export-runner';
import { ExportScheduler } from './exports/export-scheduler';
import { createDeletionNotices } from './privacy/deletion-notices';
import { ExportRecipients } from './privacy/export-recipients';
import { RecipientLedger } from './privacy/recipient-ledger';
import { WithheldPeople } from './privacy/withheld-people';
import { ProfileTable } from './profiles/profile-table';
import { ReadApiClient } from './read-api.client';

/** The configured topics (renamed copies of the standard specs when a test renames them). */
export function activatorTopics(config: ActivatorConfig): TopicSpec[] {
  return [
    { ...topics.segmentChanges, name: config.ACTIVATOR_CHANGES_TOPIC },
    { ...topics.profileUpdates, name: config.ACTIVATOR_UPDATES_TOPIC },
    { ...topics.destinations, name: config.ACTIVATOR_DESTINATIONS_TOPIC },
    { ...topics.deliveryAttempts, name: config.ACTIVATOR_DELIVERIES_TOPIC },
    { ...topics.destinationDeadLetters, name: config.ACTIVATOR_DLQ_TOPIC },
    { ...topics.privacySubjects, name: config.ACTIVATOR_SUBJECTS_TOPIC },
    { ...topics.privacyRequests, name: config.ACTIVATOR_PRIVACY_TOPIC },
    { ...topics.destinationRecipients, name: config.ACTIVATOR_RECIPIENTS_TOPIC },
    { ...topics.accessKeys, name: config.ACCESS_KEYS_TOPIC },
    { ...topics.audit, name: config.AUDIT_TOPIC },
    { ...topics.securityAlerts, name: config.SECURITY_ALERTS_TOPIC },
  ];
}

/**
 * The activator, composed: Kafka (topics), the schema registry (codec), a producer (dead
 * letters, the delivery log, destination writes), the destination catalog and the profile table
 * (both in memory from their compacted topics), the delivery log, one delivery worker per active
 * webhook destination, scheduled exports, and the destinations API in front. Start order is that
 * list; stop is the reverse, HTTP first, so workers commit what they delivered before the
 * producer and the connections go.
 */
export function createActivatorService(config: ActivatorConfig, base: ServiceBase): { service: Service } {
  const { logger, metrics, kafka } = base;
  const activatorMetrics = createActivatorMetrics(metrics);
  const ownTopics = activatorTopics(config);
  const kafkaConnection = createKafkaConnection({ client: kafka, logger, topics: ownTopics });
  const registry = createRegistryConnection({
    settings: registrySettingsFromConfig(config),
    logger,
    topics: ownTopics,
  });
  const producer = createProducerConnection({ client: kafka, logger });
  const codec = () => registry.codec;
  const admin = () => kafkaConnection.admin;
  const secrets = new SecretBox(config.KUMIKI_SECRETS_KEY);
  const readApi = new ReadApiClient(config.KUMIKI_READ_API_URL, config.KUMIKI_ADMIN_TOKEN);
  const access = createApiAccess({
    config,
    service: 'activator',
    groupIdPrefix: config.ACTIVATOR_GROUP_PREFIX,
    kafka,
    producer: () => producer.producer,
    encode: (topic, value) => registry.codec.encode(topic, value),
    logger,
    metrics,
    piiKey: piiKeyOf(config, config.KUMIKI_ADMIN_TOKEN),
  });
  const grants = createGrantCheck(access.keys);
  const audit = createDeliveryAudit({ writer: access.auditing ? access.auditWriter : undefined, grants });

  const catalog = new DestinationCatalog({
    kafka,
    admin,
    producer: () => producer.producer,
    codec,
    topic: config.ACTIVATOR_DESTINATIONS_TOPIC,
    logger,
  });
  const profiles = new ProfileTable({
    kafka,
    admin,
    codec,
    topic: config.ACTIVATOR_UPDATES_TOPIC,
    logger,
    size: activatorMetrics.profiles,
  });
  const deliveryLog = new DeliveryLog({
    kafka,
    admin,
    producer: () => producer.producer,
    codec,
    topic: config.ACTIVATOR_DELIVERIES_TOPIC,
    logger,
    keep: config.ACTIVATOR_LOG_KEEP,
  });
  const store = new DestinationStore({
    catalog,
    admin,
    secrets,
    segmentExists: (id) => readApi.segmentExists(id),
    settings: {
      groupPrefix: config.ACTIVATOR_GROUP_PREFIX,
      changesTopic: config.ACTIVATOR_CHANGES_TOPIC,
      updatesTopic: config.ACTIVATOR_UPDATES_TOPIC,
      purposes: config.KUMIKI_PURPOSES,
      allowPrivateTargets: config.ACTIVATOR_ALLOW_PRIVATE_TARGETS,
      exportRoot: config.ACTIVATOR_EXPORT_ROOT,
      secretOverlapMs: config.ACTIVATOR_SECRET_OVERLAP_MS,
    },
  });
  const privacyKey = PrivacyKey.fromHex(config.KUMIKI_PRIVACY_KEY);
  const profileIdHashes = new RememberedProfileIdHashes(privacyKey);
  const withheld = new WithheldPeople({
    kafka,
    admin,
    codec,
    topic: config.ACTIVATOR_SUBJECTS_TOPIC,
    key: profileIdHashes,
    logger,
  });
  const recipients = new RecipientLedger({
    kafka,
    admin,
    producer: () => producer.producer,
    codec,
    topic: config.ACTIVATOR_RECIPIENTS_TOPIC,
    key: profileIdHashes,
    logger,
  });
  const exportRecipients = new ExportRecipients(readApi, privacyKey);
  const retryPolicy = {
    initialDelayMs: config.ACTIVATOR_RETRY_INITIAL_MS,
    maxDelayMs: config.ACTIVATOR_RETRY_MAX_MS,
    maxAttempts: config.ACTIVATOR_MAX_ATTEMPTS,
    maxRetryAfterMs: config.ACTIVATOR_RETRY_AFTER_MAX_MS,
  };
  const deliver = createChangeDelivery({
    codec,
    profiles,
    producer: () => producer.producer,
    log: deliveryLog,
    logger,
    subjects: withheld,
    recipients,
    audit,
    grants,
    policy: retryPolicy,
    timeoutMs: config.ACTIVATOR_TIMEOUT_MS,
    topics: { changes: config.ACTIVATOR_CHANGES_TOPIC, dlq: config.ACTIVATOR_DLQ_TOPIC },
    registry: metrics,
  });
  const pauseAutomatically = (id: string, reason: string): void => {
    store
      .pause(id, `paused automatically: ${reason}`)
      .catch((error: unknown) =>
        logger.error({ destination: id, error: errorMessage(error) }, 'automatic pause failed'),
      );
  };
  const runtimeSettings = {
    secrets,
    concurrency: config.ACTIVATOR_CONCURRENCY,
    allowPrivateTargets: config.ACTIVATOR_ALLOW_PRIVATE_TARGETS,
    autoPauseAfterMs: config.ACTIVATOR_AUTO_PAUSE_AFTER_MS,
    metrics: activatorMetrics,
  };
  const workers = new DestinationWorkers({
    catalog,
    admin,
    groupPrefix: config.ACTIVATOR_GROUP_PREFIX,
    topicsOf: (destination) => store.topics(destination),
    logger,
    onPaused: (id, paused) => activatorMetrics.paused.set({ destination: id }, paused ? 1 : 0),
    createWorker: (destination, groupId, workerTopics) =>
      new DeliveryWorker(destination, {
        kafka,
        admin,
        secrets,
        deliver,
        logDurable: () => deliveryLog.durable(),
        metrics: activatorMetrics,
        logger,
        groupId,
        topics: workerTopics,
        settings: {
          concurrency: config.ACTIVATOR_CONCURRENCY,
          maxPending: config.ACTIVATOR_MAX_PENDING,
          commitIntervalMs: config.ACTIVATOR_COMMIT_INTERVAL_MS,
          autoPauseAfterMs: config.ACTIVATOR_AUTO_PAUSE_AFTER_MS,
          allowPrivateTargets: config.ACTIVATOR_ALLOW_PRIVATE_TARGETS,
        },
        pause: (reason) => pauseAutomatically(destination.id, reason),
      }),
  });
  const deadLetters = new DeadLetterReplay({ kafka, admin, codec, topic: config.ACTIVATOR_DLQ_TOPIC, deliver });
  const exports = new ExportRunner({
    readApi,
    store,
    secrets,
    metrics: activatorMetrics,
    logger,
    audit,
    subjects: withheld,
    recipients: exportRecipients,
    settings: { allowPrivateTargets: config.ACTIVATOR_ALLOW_PRIVATE_TARGETS, timeoutMs: config.ACTIVATOR_TIMEOUT_MS },
  });
  const exportSchedule = new ExportScheduler({
    catalog,
    run: (destination, slot) => exports.run(destination, slot),
    enabled: config.ACTIVATOR_SCHEDULED_EXPORTS,
    logger,
  });

  const withRuntime = async <T>(
    destination: Destination,
    work: (runtime: LiveDestination) => Promise<T>,
  ): Promise<T> => {
    const runtime = new LiveDestination(destination, { ...runtimeSettings, pause: () => undefined });
    try {
      return await work(runtime);
    } finally {
      runtime.close();
    }
  };
  const deletionNotices = createPrivacyRequestsConsumer({
    kafka,
    codec,
    topic: config.ACTIVATOR_PRIVACY_TOPIC,
    groupId: `${config.ACTIVATOR_GROUP_PREFIX}.privacy`,
    handle: createDeletionNotices({
      withheld,
      recipients,
      exportRecipients,
      catalog,
      withRuntime,
      audit,
      log: deliveryLog,
      policy: retryPolicy,
      timeoutMs: config.ACTIVATOR_TIMEOUT_MS,
      logger,
    }),
    logger,
  });
  const routes = destinationRoutes({
    store,
    log: deliveryLog,
    deadLetters,
    access: access.control,
    sendTest: (destination, webhookId) =>
      withRuntime(destination, (runtime) =>
        sendTestMessage(runtime, destination, webhookId, config.ACTIVATOR_TIMEOUT_MS),
      ),
    replayDeadLetters: (destination, limit) =>
      withRuntime(destination, async (runtime) => {
        const report = await deadLetters.replay(destination, runtime, limit, new AbortController().signal);
        const latest = store.get(destination.id);
        await store.write({ ...latest, deadLetterCursor: Number(report.cursor) });
        return report;
      }),
    runExport: (destination) => exports.run(destination),
    logger,
  });

  const service = new Service(
    {
      name: 'activator',
      logger,
      graceMs: config.SHUTDOWN_GRACE_MS,
      edge: httpEdge(config, { logger, metrics, routes }),
    },
    [
      kafkaConnection,
      registry,
      producer,
      access.keyFollower,
      catalog,
      profiles,
      withheld,
      recipients,
      deliveryLog,
      deletionNotices,
      workers,
      exportSchedule,
    ],
  );
  return { service };
}
