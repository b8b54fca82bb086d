import { runMain } from '../common/main';
import { Service } from '../common/lifecycle';
import { createServiceBase } from '../common/service-base';
import { createHttpServer } from '../common/http-server';
import { createKafkaConnection } from '../common/kafka/kafka-connection';
import { createRegistryConnection } from '../common/registry/registry-connection';
import { registrySettingsFromConfig } from '../common/registry/schema-registry.client';
import { loadStitcherConfig } from './config';

runMain('identity-stitcher', process.env, loadStitcherConfig, (config) => {
  const { logger, metrics, kafka } = createServiceBase('identity-stitcher', config);
  const kafkaConnection = createKafkaConnection({ client: kafka, logger });
  const registry = createRegistryConnection({ settings: registrySettingsFromConfig(config), logger });
  const service = new Service(
    {
      name: 'identity-stitcher',
      logger,
      graceMs: config.SHUTDOWN_GRACE_MS,
      edge: (probe) => createHttpServer({ host: config.HTTP_HOST, port: config.HTTP_PORT, logger, metrics, probe }),
    },
    [kafkaConnection, registry],
  );
  return { service, logger };
});
