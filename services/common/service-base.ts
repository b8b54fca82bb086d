import { createLogger, type Logger } from './logger';
import { createMetricsRegistry, type Registry } from './metrics';
import { ConfigError } from './errors';
import { createKafkaClient, type KafkaClient, type KafkaSettings } from './kafka/client';
import { readCaFile } from './tls-files';

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
  readonly KAFKA_SSL?: boolean;
  readonly KAFKA_SSL_CA_FILE?: string | undefined;
  readonly KAFKA_SASL_MECHANISM?: 'plain' | 'scram-sha-256' | 'scram-sha-512' | undefined;
  readonly KAFKA_SASL_USERNAME?: string | undefined;
  readonly KAFKA_SASL_PASSWORD?: string | undefined;
}

/** TLS and SASL settings of the Kafka client, from the config (files read once, here). */
export function kafkaSecurity(config: BaseConfig): Pick<KafkaSettings, 'ssl' | 'sasl'> {
  if (config.KAFKA_SASL_MECHANISM && !(config.KAFKA_SASL_USERNAME && config.KAFKA_SASL_PASSWORD))
    throw new ConfigError(['KAFKA_SASL_USERNAME and KAFKA_SASL_PASSWORD are required with KAFKA_SASL_MECHANISM']);
  return {
    ...(config.KAFKA_SSL
      ? { ssl: config.KAFKA_SSL_CA_FILE ? { ca: readCaFile('KAFKA_SSL_CA_FILE', config.KAFKA_SSL_CA_FILE) } : {} }
      : {}),
    ...(config.KAFKA_SASL_MECHANISM
      ? {
          sasl: {
            mechanism: config.KAFKA_SASL_MECHANISM,
            username: config.KAFKA_SASL_USERNAME!,
            password: config.KAFKA_SASL_PASSWORD!,
          },
        }
      : {}),
  };
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
      ...kafkaSecurity(config),
    }),
  };
}
