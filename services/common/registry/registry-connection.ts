import type { Component } from '../lifecycle';
import type { Logger } from '../logger';
import { connectWithBackoff } from '../dependency';
import type { TopicSpec } from '../kafka/topics';
import { AvroCodec } from './avro-codec';
import { SchemaRegistryClient, type SchemaRegistrySettings } from './schema-registry.client';

/**
 * The schema registry as a service component: at start, registers every topic schema
 * (idempotent; waits with backoff while the registry is down) and binds the codec, so
 * encoding and decoding on hot paths need no HTTP. `codec` is usable once started.
 * `topics` defaults to every kumiki topic; tests pass renamed copies to stay isolated.
 */
export function createRegistryConnection(options: {
  settings: SchemaRegistrySettings;
  logger: Logger;
  topics?: readonly TopicSpec[];
}): Component & { readonly codec: AvroCodec; readonly registry: SchemaRegistryClient } {
  const logger = options.logger.child({ component: 'schema-registry' });
  const registry = new SchemaRegistryClient({ ...options.settings, logger });
  const abort = new AbortController();
  let codec: AvroCodec | undefined;
  return {
    name: 'schema-registry',
    registry,
    get codec(): AvroCodec {
      if (!codec) throw new Error('schema registry component used before it started');
      return codec;
    },
    async start() {
      codec = await connectWithBackoff(
        'schema registry',
        async () => new AvroCodec(registry, await registry.registerAll(options.topics)),
        logger,
        abort.signal,
      );
    },
    async stop() {
      abort.abort();
    },
    isHealthy: () => true,
    // Registered schemas are cached, so a registry outage after start does not stop the data path.
    isReady: () => codec !== undefined,
  };
}
