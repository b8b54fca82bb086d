import { runMain } from '../common/main';
import { Service } from '../common/lifecycle';
import { createServiceBase } from '../common/service-base';
import { createHttpServer, httpTls } from '../common/http-server';
import { createKafkaConnection } from '../common/kafka/kafka-connection';
import { createProducerConnection } from '../common/kafka/producer-connection';
import { topics } from '../common/kafka/topics';
import { deadLetterTopic } from '../common/dead-letters';
import { createResultHandler } from '../common/result-handler';
import { createRegistryConnection, registrySettingsFromConfig } from '../common/registry';
import { BatchingProducer } from './batching-producer';
import { createCollectorMetrics } from './collector.metrics';
import { loadCollectorConfig } from './config';
import { trackingRoutes } from './tracking.routes';

runMain('collector', process.env, loadCollectorConfig, (config) => {
  const { logger, metrics, kafka } = createServiceBase('collector', config);
  const collectorMetrics = createCollectorMetrics(metrics);
  const eventsTopic = config.COLLECTOR_EVENTS_TOPIC;
  const deadLettersTopic = config.COLLECTOR_DLQ_TOPIC;
  const extraTopics = [
    ...(eventsTopic !== topics.eventsRaw.name ? [{ ...topics.eventsRaw, name: eventsTopic }] : []),
    ...(deadLettersTopic !== topics.deadLetters.name ? [{ ...topics.deadLetters, name: deadLettersTopic }] : []),
  ];
  const kafkaConnection = createKafkaConnection({
    client: kafka,
    logger,
    topics: [...Object.values(topics), ...extraTopics],
  });
  // Only the collector's two output topics: Event on the events topic, DeadLetter on the DLQ.
  const schemas = createRegistryConnection({
    settings: registrySettingsFromConfig(config),
    logger,
    topics: [
      { ...topics.eventsRaw, name: eventsTopic },
      { ...topics.deadLetters, name: deadLettersTopic },
    ],
  });
  const producer = createProducerConnection({ client: kafka, logger });
  const batcher = new BatchingProducer(producer.producer, {
    lingerMs: config.COLLECTOR_LINGER_MS,
    maxBatchMessages: config.COLLECTOR_MAX_BATCH_MESSAGES,
    maxBatchBytes: config.COLLECTOR_MAX_BATCH_BYTES,
    maxPendingBytes: config.COLLECTOR_MAX_PENDING_BYTES,
    produceTimeoutMs: config.COLLECTOR_PRODUCE_TIMEOUT_MS,
    retryAfterSeconds: config.COLLECTOR_RETRY_AFTER_SECONDS,
    onFlush: ({ messages, seconds, ok }) => {
      collectorMetrics.produceSeconds.observe({ outcome: ok ? 'acked' : 'failed' }, seconds);
      collectorMetrics.produceBatchSize.observe(messages);
      collectorMetrics.pendingBytes.set(batcher.pending.bytes);
    },
  });
  const results = createResultHandler({
    logger,
    sink: deadLetterTopic({
      service: 'collector',
      producer: batcher,
      encode: (topic, value) => schemas.codec.encode(topic, value),
      topic: deadLettersTopic,
    }),
    registry: metrics,
    deadLetters: collectorMetrics.deadLetters,
  });
  const routes = trackingRoutes({
    sources: config.sources,
    batcher,
    results,
    encodeEvent: (event) => schemas.codec.encode(eventsTopic, event),
    eventsTopic,
    isAvailable: () => kafkaConnection.isReady() && producer.isReady() && schemas.isReady(),
    metrics: collectorMetrics,
    logger,
    maxInFlightRequests: config.COLLECTOR_MAX_INFLIGHT_REQUESTS,
    retryAfterSeconds: config.COLLECTOR_RETRY_AFTER_SECONDS,
  });
  const service = new Service(
    {
      name: 'collector',
      logger,
      graceMs: config.SHUTDOWN_GRACE_MS,
      // Stopping the HTTP server first ends intake and waits for in-flight requests, whose
      // events the batcher sends on its own timer; its onClose flush is a last safety net.
      edge: (probe) => {
        const http = createHttpServer({
          host: config.HTTP_HOST,
          port: config.HTTP_PORT,
          logger,
          metrics,
          probe,
          routes,
          ...httpTls(config),
        });
        http.app.addHook('onClose', async () => batcher.close());
        return http;
      },
    },
    [kafkaConnection, schemas, producer],
  );
  return { service, logger };
});
