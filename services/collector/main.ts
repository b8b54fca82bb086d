import { runMain } from '../common/main';
import { Service } from '../common/lifecycle';
import { createServiceBase } from '../common/service-base';
import { createHttpServer } from '../common/http-server';
import { createKafkaConnection } from '../common/kafka/kafka-connection';
import { createProducerConnection } from '../common/kafka/producer-connection';
import { loadCollectorConfig } from './config';

runMain('collector', process.env, loadCollectorConfig, (config) => {
  const { logger, metrics, kafka } = createServiceBase('collector', config);
  const kafkaConnection = createKafkaConnection({ client: kafka, logger });
  const producer = createProducerConnection({ client: kafka, logger });
  const service = new Service(
    {
      name: 'collector',
      logger,
      graceMs: config.SHUTDOWN_GRACE_MS,
      edge: (probe) => createHttpServer({ host: config.HTTP_HOST, port: config.HTTP_PORT, logger, metrics, probe }),
    },
    [kafkaConnection, producer],
  );
  return { service, logger };
});
