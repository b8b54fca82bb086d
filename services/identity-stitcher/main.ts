import { runMain } from '../common/main';
import { Service } from '../common/lifecycle';
import { createServiceBase } from '../common/service-base';
import { httpEdge } from '../common/http-server';
import { createKafkaConnection } from '../common/kafka/kafka-connection';
import { topics, type TopicSpec } from '../common/kafka/topics';
import { createRegistryConnection, registrySettingsFromConfig } from '../common/registry';
import { loadStitcherConfig, stitcherSettings, type StitcherConfig } from './config';
import { createEventStitcher, type StitcherTopics } from './stitch-events.consumer';
import { createStitcherMetrics } from './stitcher.metrics';
import { identityRoutes } from './identity.routes';
import { PrivacyKey } from '../common/privacy/privacy-key';

runMain('identity-stitcher', process.env, loadStitcherConfig, (config) => {
  const { logger, metrics, kafka } = createServiceBase('identity-stitcher', config);
  const stitcherTopics = topicsOf(config);
  const specs = topicSpecs(stitcherTopics);
  const kafkaConnection = createKafkaConnection({ client: kafka, logger, topics: specs });
  const registry = createRegistryConnection({ settings: registrySettingsFromConfig(config), logger, topics: specs });
  let service: Service | undefined;
  const stitcher = createEventStitcher({
    kafka,
    codec: () => registry.codec,
    logger,
    metrics: createStitcherMetrics(metrics),
    registry: metrics,
    topics: stitcherTopics,
    groupId: config.STITCHER_GROUP_ID,
    transactionalId: config.STITCHER_TRANSACTIONAL_ID,
    rules: config.identityRules,
    privacyKey: PrivacyKey.fromHex(config.KUMIKI_PRIVACY_KEY),
    ...stitcherSettings(config),
    pauseBeforeCommitMs: config.STITCHER_TEST_PAUSE_BEFORE_COMMIT_MS,
    onFatal: (error) =>
      void service?.stop({ error }).then((code) => {
        logger.flush();
        // exitCode as well: the loop may empty before the (unref'd) timer fires.
        process.exitCode = code;
        setTimeout(() => process.exit(code), 50).unref();
      }),
  });
  service = new Service(
    {
      name: 'identity-stitcher',
      logger,
      graceMs: config.SHUTDOWN_GRACE_MS,
      edge: httpEdge(config, { logger, metrics, routes: identityRoutes(() => stitcher.graph()) }),
    },
    [kafkaConnection, registry, stitcher],
  );
  return { service, logger };
});

function topicsOf(config: StitcherConfig): StitcherTopics {
  return {
    raw: config.STITCHER_RAW_TOPIC,
    json: config.STITCHER_JSON_TOPIC,
    stitched: config.STITCHER_STITCHED_TOPIC,
    changes: config.STITCHER_CHANGES_TOPIC,
    graph: config.STITCHER_GRAPH_TOPIC,
    deadLetters: config.STITCHER_DLQ_TOPIC,
    privacy: config.STITCHER_PRIVACY_TOPIC,
    subjects: config.STITCHER_SUBJECTS_TOPIC,
  };
}

/** kumiki's topic specs under the configured names (tests rename them to stay isolated). */
function topicSpecs(names: StitcherTopics): TopicSpec[] {
  return [
    { ...topics.eventsRaw, name: names.raw },
    { ...topics.eventsJson, name: names.json },
    { ...topics.eventsStitched, name: names.stitched },
    { ...topics.identityChanges, name: names.changes },
    { ...topics.identityGraph, name: names.graph },
    { ...topics.deadLetters, name: names.deadLetters },
    { ...topics.privacyRequests, name: names.privacy },
    { ...topics.privacySubjects, name: names.subjects },
  ];
}
