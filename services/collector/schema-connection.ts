import { schema } from '../../schemas';
import { connectWithBackoff } from '../common/dependency';
import type { Component } from '../common/lifecycle';
import type { Logger } from '../common/logger';
import { valueSubject } from '../common/kafka/topics';
import { AvroCodec, SchemaRegistryClient, type SchemaRegistrySettings } from '../common/registry';

/**
 * Registers the collector's two value schemas (Event on the events topic, DeadLetter on the
 * DLQ topic) at start, waiting with backoff while the registry is down, and binds them in an
 * AvroCodec so that encoding on the request path is synchronous and does no I/O.
 */
export function createSchemaConnection(options: {
  readonly settings: SchemaRegistrySettings;
  readonly eventsTopic: string;
  readonly deadLetterTopic: string;
  readonly logger: Logger;
}): Component & { codec(): AvroCodec } {
  const logger = options.logger.child({ component: 'schema-registry' });
  const registry = new SchemaRegistryClient({ ...options.settings, logger });
  const codec = new AvroCodec(registry);
  const abort = new AbortController();
  let ready = false;
  return {
    name: 'schema-registry',
    codec: () => codec,
    async start() {
      await connectWithBackoff(
        'schema registry',
        async () => {
          await codec.registerAndBind(valueSubject(options.eventsTopic), schema('Event').text);
          await codec.registerAndBind(valueSubject(options.deadLetterTopic), schema('DeadLetter').text);
        },
        logger,
        abort.signal,
      );
      ready = true;
      logger.info({ subjects: [valueSubject(options.eventsTopic), valueSubject(options.deadLetterTopic)] }, 'schemas registered');
    },
    async stop() {
      abort.abort();
    },
    isHealthy: () => true,
    isReady: () => ready,
  };
}
