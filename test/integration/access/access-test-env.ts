import Fastify, { type FastifyInstance } from 'fastify';
import {
  type AccessDecision,
  createKeyFollower,
  FailedAuthThrottle,
  KeyCache,
  keysRoutes,
} from '../../../services/common/access';
import type { ClickHouse } from '../../../services/common/clickhouse/client-factory';
import { topics } from '../../../services/common/kafka/topics';
import type { EventProducer, KafkaClient } from '../../../services/common/kafka/client';
import { readApiRoutes } from '../../../services/profile-materializer/read-api.routes';
import { auditRoutes } from '../../../services/profile-materializer/audit/audit.routes';
import { quietLogger } from '../profile-materializer/materializer-test-env';
import { uniqueName } from '../../support/stack-env';

export const adminToken = 'adm_access_test_token_0123456789';

/** A read API in this process with key management on a key topic of the test's own. */
export interface AccessTestApi {
  readonly url: string;
  readonly keysTopic: string;
  readonly keys: KeyCache;
  readonly decisions: AccessDecision[];
  call(
    method: string,
    path: string,
    token: string | undefined,
    body?: unknown,
  ): Promise<{ status: number; body: Record<string, unknown>; headers: Headers }>;
  close(): Promise<void>;
}

export async function startAccessTestApi(options: {
  kafka: KafkaClient;
  clickhouse: ClickHouse;
  maskedClickhouse?: () => ClickHouse | undefined;
  throttle?: FailedAuthThrottle;
  onDecision?: (decision: AccessDecision) => Promise<void>;
  extraRoutes?: (v1: FastifyInstance) => Promise<void>;
}): Promise<AccessTestApi> {
  const keysTopic = uniqueName('keys');
  const admin = options.kafka.admin();
  await admin.connect();
  await admin.ensureTopics([{ ...topics.accessKeys, name: keysTopic }]);
  await admin.disconnect();
  const producer: EventProducer = options.kafka.producer();
  await producer.connect();
  const keys = new KeyCache();
  const decisions: AccessDecision[] = [];
  const app = Fastify();
  await app.register(
    readApiRoutes({
      clickhouse: () => options.clickhouse,
      ...(options.maskedClickhouse ? { maskedClickhouse: options.maskedClickhouse } : {}),
      logger: quietLogger,
      limits: { maxExecutionSeconds: 5, maxResultRows: 1000, maxMemoryBytes: 500_000_000 },
      keys: keysRoutes({ producer: () => producer, topic: keysTopic, cache: keys, rotationGraceMs: 3_600_000 }),
      access: {
        keys,
        adminToken,
        throttle: options.throttle ?? new FailedAuthThrottle({ maxFailures: 1000, windowMs: 60_000, blockMs: 60_000 }),
        onDecision: async (decision) => {
          decisions.push(decision);
          await options.onDecision?.(decision);
        },
      },
      plugins: [
        options.extraRoutes ?? auditRoutes({ clickhouse: () => options.clickhouse, piiKey: Buffer.alloc(32, 7) }),
      ],
    }),
  );
  const url = await app.listen({ host: '127.0.0.1', port: 0 });
  return {
    url,
    keysTopic,
    keys,
    decisions,
    async call(method, path, token, body) {
      const response = await fetch(`${url}${path}`, {
        method,
        headers: {
          ...(token === undefined ? {} : { authorization: `Bearer ${token}` }),
          ...(body === undefined ? {} : { 'content-type': 'application/json' }),
        },
        ...(body === undefined ? {} : { body: JSON.stringify(body) }),
      });
      const text = await response.text();
      return {
        status: response.status,
        body: text ? (JSON.parse(text) as Record<string, unknown>) : {},
        headers: response.headers,
      };
    },
    async close() {
      await app.close();
      await producer.disconnect();
    },
  };
}

/** A second service's view of the keys: its own follower of the same topic. */
export async function followKeys(
  kafka: KafkaClient,
  topic: string,
): Promise<{ keys: KeyCache; stop(): Promise<void> }> {
  const keys = new KeyCache();
  const follower = createKeyFollower({
    kafka,
    topic,
    cache: keys,
    logger: quietLogger,
    groupIdPrefix: uniqueName('follower'),
  });
  await follower.start();
  return { keys, stop: () => follower.stop() };
}
