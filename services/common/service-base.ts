import { createLogger, type Logger } from './logger';
import { createMetricsRegistry, type Registry } from './metrics';
import { createKafkaClient, type KafkaClient } from './kafka/client';

/** What every service's composition root builds first, from its already-validated config. */
export interface ServiceBase {
  readonly logger: Logger;
  readonly metrics: Registry;
  readonly kafka: KafkaClient;
}

export interface BaseConfig {
  readonly KAFKA_BROKERS: readonly string[];
  readonly KAFKA_CLIENT_ID_PREFIX: string;
  readonly LOG_LEVEL: string;
  readonly LOG_PRETTY: boolean;
}

export function createServiceBase(service: string, config: BaseConfig): ServiceBase {
  const logger = createLogger({ service, level: config.LOG_LEVEL, pretty: config.LOG_PRETTY });
  return {
    logger,
    metrics: createMetricsRegistry(service),
    kafka: createKafkaClient({
      brokers: config.KAFKA_BROKERS,
      clientId: `${config.KAFKA_CLIENT_ID_PREFIX}-${service}`,
      logger,
    }),
  };
}
