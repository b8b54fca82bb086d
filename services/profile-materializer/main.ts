import { runMain } from '../common/main';
import { Service } from '../common/lifecycle';
import { createServiceBase } from '../common/service-base';
import { createHttpServer } from '../common/http-server';
import { createKafkaConnection } from '../common/kafka/kafka-connection';
import { createRegistryConnection } from '../common/registry/registry-connection';
import { registrySettingsFromConfig } from '../common/registry/schema-registry.client';
import { createClickHouseConnection } from '../common/clickhouse/clickhouse-connection';
import { loadMaterializerConfig } from './config';

runMain('profile-materializer', process.env, loadMaterializerConfig, (config) => {
  const { logger, metrics, kafka } = createServiceBase('profile-materializer', config);
  const kafkaConnection = createKafkaConnection({ client: kafka, logger });
  const registry = createRegistryConnection({ settings: registrySettingsFromConfig(config), logger });
  const clickhouse = createClickHouseConnection({ config, logger });
  const service = new Service(
    {
      name: 'profile-materializer',
      logger,
      graceMs: config.SHUTDOWN_GRACE_MS,
      edge: (probe) => createHttpServer({ host: config.HTTP_HOST, port: config.HTTP_PORT, logger, metrics, probe }),
    },
    [kafkaConnection, registry, clickhouse],
  );
  return { service, logger };
});
