import type { Component } from '../lifecycle';
import type { Logger } from '../logger';
import { connectWithBackoff } from '../dependency';
import type { EventProducer, KafkaClient } from './client';

/**
 * An idempotent, acks=all producer as a component: connects with backoff at start; on stop,
 * waits for sends already in flight (the callers awaiting them get their acks) and disconnects.
 */
export function createProducerConnection(options: {
  client: KafkaClient;
  logger: Logger;
  transactionalId?: string;
}): Component & { readonly producer: EventProducer } {
  const logger = options.logger.child({ component: 'producer' });
  const inner = options.client.producer(options.transactionalId ? { transactionalId: options.transactionalId } : {});
  const abort = new AbortController();
  const inFlight = new Set<Promise<void>>();
  let connected = false;

  const producer: EventProducer = {
    connect: () => inner.connect(),
    send(topic, messages) {
      const sending = inner.send(topic, messages);
      inFlight.add(sending);
      void sending.finally(() => inFlight.delete(sending)).catch(() => undefined);
      return sending;
    },
    disconnect: () => inner.disconnect(),
  };

  return {
    name: 'producer',
    producer,
    async start() {
      await connectWithBackoff('Kafka producer', () => inner.connect(), logger, abort.signal);
      connected = true;
    },
    async stop() {
      abort.abort();
      await Promise.allSettled([...inFlight]);
      connected = false;
      await inner.disconnect();
    },
    isHealthy: () => true,
    isReady: () => connected,
  };
}
