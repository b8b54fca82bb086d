import Fastify, { type FastifyInstance } from 'fastify';
import {
  type AccessDecision,
  createKeyFollower,
  FailedAuthThrottle,
  KeyCache,
  keysRoutes,
} from '../../../../services/common/access';
import type { ClickHouse } from '../../../../services/common/clickhouse/client-factory';
import { topics } from '../../../../services/common/kafka/topics';
import type { EventProducer, KafkaClient } from '../../../../services/common/kafka/client';
import { readApiRoutes } from '../../../../services/profile-materializer/read-api.routes';
import { auditRoutes } from '../../../../services/profile-materializer/audit/audit.routes';
import { PrivacyRequestRepository } from '../../../../services/profile-materializer/privacy/privacy-request.repository';
import { quietLogger } from '../../profile-materializer/materializer-test-env';
import { AvroCodec } from '../../../../services/common/registry/avro-codec';
import { SchemaRegistryClient } from '../../../../services/common/registry/schema-registry.client';
import { loadMaterializerConfig } from '../../../../services/profile-materializer/config';
import { materializerTopics } from '../../../../services/profile-materializer/materializer.service';
import { createTestTopic } from '../../../support/kafka';
import { freePort } from '../../../support/ports';
import { testPrivacyKey } from '../../../support/privacy-key';
import { spawnService, waitUntilAnswering, type ServiceProcess } from '../../../support/service-process';
import { testStack, uniqueName } from '../../../support/stack-env';

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
      // Privacy routes answer before producing anything here: the tests send no valid request.
      privacy: {
        clickhouse: () => options.clickhouse,
        repository: () => new PrivacyRequestRepository(() => options.clickhouse),
        produce: async () => {
          throw new Error('no privacy request is produced in access tests');
        },
        recordPending: async () => undefined,
        auditHash: (type, value) => `${type}:${value}`,
        logger: quietLogger,
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

/**
 * The profile-materializer as `kumiki up` runs it (dist/), on input, output, key, audit and alert
 * topics of its own and a database of its own, with `adminToken`; and a codec for its input topics.
 */
export async function startAccessService(options: {
  readonly kafka: KafkaClient;
  readonly prefix: string;
  readonly home: string;
  readonly database: string;
  readonly adminToken: string;
}): Promise<{
  readonly env: Record<string, string>;
  readonly url: string;
  readonly codec: AvroCodec;
  readonly service: () => ServiceProcess;
  /** (Re)starts the service and waits until it is ready. */
  start(): Promise<void>;
}> {
  const names = ['stitched', 'changes', 'updates', 'dlq', 'keys', 'audit', 'alerts', 'segments'];
  const [stitched, changes, updates, dlq, keys, audit, alerts, segmentChanges] = await Promise.all(
    names.map((name) => createTestTopic(options.kafka, `${options.prefix}-${name}`, 1)),
  );
  const port = await freePort();
  const url = `http://127.0.0.1:${port}`;
  const env: Record<string, string> = {
    LOG_LEVEL: 'warn',
    KUMIKI_HOME: options.home,
    CLICKHOUSE_DATABASE: options.database,
    KUMIKI_ADMIN_TOKEN: options.adminToken,
    KUMIKI_PRIVACY_KEY: testPrivacyKey,
    HTTP_PORT: String(port),
    MATERIALIZER_STITCHED_TOPIC: stitched!,
    MATERIALIZER_CHANGES_TOPIC: changes!,
    MATERIALIZER_UPDATES_TOPIC: updates!,
    MATERIALIZER_DLQ_TOPIC: dlq!,
    MATERIALIZER_GROUP_ID: uniqueName(`${options.prefix}-group`),
    MATERIALIZER_LINGER_MS: '20',
    MATERIALIZER_FETCH_MIN_BYTES: '1',
    ACCESS_KEYS_TOPIC: keys!,
    AUDIT_TOPIC: audit!,
    SECURITY_ALERTS_TOPIC: alerts!,
    SEGMENT_CHANGES_TOPIC: segmentChanges!,
    SEGMENT_SWEEP_INTERVAL_MS: '1000',
  };
  const registry = new SchemaRegistryClient({ url: testStack().registryUrl });
  const codec = new AvroCodec(registry, await registry.registerAll(materializerTopics(loadMaterializerConfig(env))));
  let service: ServiceProcess | undefined;
  return {
    env,
    url,
    codec,
    service: () => {
      if (!service) throw new Error('the service was not started');
      return service;
    },
    async start() {
      service = spawnService('profile-materializer', env);
      await waitUntilAnswering(service, url, '/ready');
    },
  };
}
