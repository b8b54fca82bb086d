import type { Component } from '../lifecycle';
import type { Logger } from '../logger';
import { connectWithBackoff } from '../dependency';
import { errorMessage } from '../errors';
import type { KafkaAdmin, KafkaClient } from './client';
import { allTopics, type TopicSpec } from './topics';

export interface KafkaConnectionOptions {
  readonly client: KafkaClient;
  readonly logger: Logger;
  /** Topics to create if missing, once connected. */
  readonly topics?: readonly TopicSpec[];
  readonly pingIntervalMs?: number;
  readonly pingTimeoutMs?: number;
}

/**
 * The service's view of whether Kafka is there. It connects an admin client (waiting with
 * backoff while the broker is down), makes sure the topics exist, then pings the cluster
 * periodically so /ready and `kumiki status` show an outage and the recovery, each logged once.
 */
export function createKafkaConnection(options: KafkaConnectionOptions): Component & { readonly admin: KafkaAdmin } {
  const logger = options.logger.child({ component: 'kafka-connection' });
  const admin = options.client.admin();
  const abort = new AbortController();
  let reachable = false;
  let timer: NodeJS.Timeout | undefined;

  const markReachable = (now: boolean, error?: unknown): void => {
    if (now === reachable) return;
    reachable = now;
    if (now) logger.info('Kafka reachable');
    else logger.warn({ error: errorMessage(error) }, 'Kafka unreachable');
  };

  // The client retries internally for many seconds; an unanswered ping within this bound
  // already means the broker is not serving us, which is what /ready should say.
  const pingTimeoutMs = options.pingTimeoutMs ?? 3_000;
  const ping = async (): Promise<void> => {
    let timer: NodeJS.Timeout | undefined;
    try {
      await Promise.race([
        admin.describeCluster(),
        new Promise((_, reject) => {
          timer = setTimeout(() => reject(new Error(`no answer within ${pingTimeoutMs} ms`)), pingTimeoutMs);
        }),
      ]);
      markReachable(true);
    } catch (error) {
      markReachable(false, error);
    } finally {
      clearTimeout(timer);
    }
  };

  return {
    name: 'kafka',
    admin,
    async start() {
      await connectWithBackoff(
        'Kafka',
        async () => {
          await admin.connect();
          const created = await admin.ensureTopics(options.topics ?? allTopics);
          if (created.length > 0) logger.info({ created }, 'created topics');
          const raised = await admin.raiseMessageLimits(options.topics ?? allTopics);
          if (raised.length > 0) logger.info({ topics: raised }, 'raised max.message.bytes to what the topics need');
        },
        logger,
        abort.signal,
      );
      markReachable(true);
      const schedule = (): void => {
        timer = setTimeout(
          () => void ping().finally(() => !abort.signal.aborted && schedule()),
          options.pingIntervalMs ?? 3_000,
        );
      };
      schedule();
    },
    async stop() {
      abort.abort();
      clearTimeout(timer);
      await admin.disconnect().catch(() => undefined);
    },
    isHealthy: () => true,
    isReady: () => reachable,
  };
}
