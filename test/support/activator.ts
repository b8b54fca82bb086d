import { randomBytes } from 'node:crypto';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import type { AuditRecord } from '../../schemas';
import { type ApiKeyRecord, newKeyId, newSecret, publishKey, type Role, sha256Hex } from '../../services/common/access';
import type { KafkaClient } from '../../services/common/kafka/client';
import { AvroCodec, SchemaRegistryClient } from '../../services/common/registry';
import { topics } from '../../services/common/kafka/topics';
import { freePort } from './ports';
import { spawnService, waitUntilAnswering, type ServiceProcess } from './service-process';
import { testStack, uniqueName } from './stack-env';

/**
 * What activator tests share: real HTTP receivers on this machine, a fresh set of topics, the
 * built activator as a child process, and a producer of the materializer's outputs (profile
 * updates and segment changes, Avro on the test's topics) standing in for upstream.
 */

export interface ReceivedRequest {
  readonly headers: http.IncomingHttpHeaders;
  readonly body: string;
  /** `Date.now()` when the body had arrived. */
  readonly at: number;
}

export interface Answer {
  readonly status: number;
  readonly headers?: Record<string, string>;
  readonly body?: string;
  /** Never answer (the connection stays open until the client gives up). */
  readonly hang?: boolean;
}

export interface Receiver {
  readonly url: string;
  readonly requests: ReceivedRequest[];
  /** Requests answered 2xx, in arrival order. */
  delivered(): ReceivedRequest[];
  close(): Promise<void>;
}

/** An HTTP server that records every request and answers as `answer` says (200 by default). */
export async function startReceiver(
  answer: (request: ReceivedRequest, index: number) => Answer = () => ({ status: 200 }),
): Promise<Receiver> {
  const requests: ReceivedRequest[] = [];
  const answers: number[] = [];
  const hanging = new Set<http.ServerResponse>();
  const server = http.createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (chunk: Buffer) => chunks.push(chunk));
    req.on('end', () => {
      const received: ReceivedRequest = {
        headers: req.headers,
        body: Buffer.concat(chunks).toString('utf8'),
        at: Date.now(),
      };
      const index = requests.push(received) - 1;
      const plan = answer(received, index);
      answers[index] = plan.hang ? 0 : plan.status;
      if (plan.hang) {
        hanging.add(res);
        return;
      }
      res.writeHead(plan.status, plan.headers ?? {});
      res.end(plan.body ?? '');
    });
  });
  server.keepAliveTimeout = 60_000;
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  return {
    url: `http://127.0.0.1:${port}/hooks`,
    requests,
    delivered: () => requests.filter((_, i) => (answers[i] ?? 0) >= 200 && (answers[i] ?? 0) < 300),
    async close() {
      for (const res of hanging) res.destroy();
      server.closeAllConnections();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
}

export interface ActivatorTopics {
  readonly changes: string;
  readonly updates: string;
  readonly destinations: string;
  readonly deliveries: string;
  readonly dlq: string;
  /** Access: the key topic the activator follows, where it audits, where alerts go. */
  readonly keys: string;
  readonly audit: string;
  readonly alerts: string;
  /** Privacy: the stitcher's memory of erased and suppressed people, the requests, the recipient ledger. */
  readonly subjects: string;
  readonly privacy: string;
  readonly recipients: string;
}

/** Fresh topics for one test: the activator's inputs (3 partitions each) and its own. */
export async function createActivatorTopics(kafka: KafkaClient, partitions = 3): Promise<ActivatorTopics> {
  const prefix = uniqueName('act');
  const names: ActivatorTopics = {
    changes: `${prefix}.changes`,
    updates: `${prefix}.updates`,
    destinations: `${prefix}.destinations`,
    deliveries: `${prefix}.deliveries`,
    dlq: `${prefix}.dlq`,
    keys: `${prefix}.keys`,
    audit: `${prefix}.audit`,
    alerts: `${prefix}.alerts`,
    subjects: `${prefix}.subjects`,
    privacy: `${prefix}.privacy`,
    recipients: `${prefix}.recipients`,
  };
  const admin = kafka.admin();
  await admin.connect();
  await admin.ensureTopics([
    { ...topics.segmentChanges, name: names.changes, partitions },
    { ...topics.profileUpdates, name: names.updates, partitions },
    { ...topics.destinations, name: names.destinations },
    { ...topics.deliveryAttempts, name: names.deliveries, partitions },
    { ...topics.destinationDeadLetters, name: names.dlq, partitions },
    { ...topics.accessKeys, name: names.keys },
    { ...topics.audit, name: names.audit, partitions: 1 },
    { ...topics.securityAlerts, name: names.alerts },
    { ...topics.privacySubjects, name: names.subjects },
    { ...topics.privacyRequests, name: names.privacy },
    { ...topics.destinationRecipients, name: names.recipients },
  ]);
  await admin.disconnect();
  return names;
}

export const testAdminToken = 'test-admin-token-0123456789';

export interface RunningActivator {
  readonly url: string;
  readonly process: ServiceProcess;
  /** A call to the destinations API with the admin token, or `token` (null: no Authorization). */
  api<T = Record<string, unknown>>(
    method: string,
    pathname: string,
    body?: unknown,
    token?: string | null,
  ): Promise<{ status: number; body: T }>;
  stop(): Promise<void>;
}

/** The environment of an activator on `names`, with fast retries; `overrides` is laid over it. */
export function activatorEnv(names: ActivatorTopics, overrides: Record<string, string> = {}): Record<string, string> {
  return {
    LOG_LEVEL: process.env.KUMIKI_TEST_LOG_LEVEL ?? 'warn',
    KUMIKI_ADMIN_TOKEN: testAdminToken,
    KUMIKI_SECRETS_KEY: randomBytes(32).toString('base64'),
    ACTIVATOR_CHANGES_TOPIC: names.changes,
    ACTIVATOR_UPDATES_TOPIC: names.updates,
    ACTIVATOR_DESTINATIONS_TOPIC: names.destinations,
    ACTIVATOR_DELIVERIES_TOPIC: names.deliveries,
    ACTIVATOR_DLQ_TOPIC: names.dlq,
    ACCESS_KEYS_TOPIC: names.keys,
    AUDIT_TOPIC: names.audit,
    SECURITY_ALERTS_TOPIC: names.alerts,
    ACTIVATOR_SUBJECTS_TOPIC: names.subjects,
    ACTIVATOR_PRIVACY_TOPIC: names.privacy,
    ACTIVATOR_RECIPIENTS_TOPIC: names.recipients,
    ACTIVATOR_GROUP_PREFIX: uniqueName('act-group'),
    ACTIVATOR_ALLOW_PRIVATE_TARGETS: 'true',
    ACTIVATOR_RETRY_INITIAL_MS: '200',
    ACTIVATOR_RETRY_MAX_MS: '1000',
    ACTIVATOR_TIMEOUT_MS: '2000',
    ACTIVATOR_COMMIT_INTERVAL_MS: '200',
    ...overrides,
  };
}

export async function startActivator(env: Record<string, string>): Promise<RunningActivator> {
  const port = await freePort();
  const url = `http://127.0.0.1:${port}`;
  const process = spawnService('activator', { ...env, HTTP_PORT: String(port) });
  await waitUntilAnswering(process, url, '/ready', 90_000);
  return {
    url,
    process,
    async api<T>(method: string, pathname: string, body?: unknown, token?: string | null) {
      const bearer = token === undefined ? (env.KUMIKI_ADMIN_TOKEN ?? testAdminToken) : token;
      const response = await fetch(`${url}${pathname}`, {
        method,
        headers: {
          ...(bearer === null ? {} : { authorization: `Bearer ${bearer}` }),
          ...(body === undefined ? {} : { 'content-type': 'application/json' }),
        },
        ...(body === undefined ? {} : { body: JSON.stringify(body) }),
      });
      const text = await response.text();
      return { status: response.status, body: (text ? JSON.parse(text) : {}) as T };
    },
    stop: () => process.stop(),
  };
}

export { profileUpdate, segmentChange, UpstreamProducer } from '../../bench/support/upstream';

/** A key of `role` as `kumiki keys create` makes one: its record (hashes only) and its secret. */
export function testKey(role: Role): { record: ApiKeyRecord; secret: string } {
  const id = newKeyId();
  const secret = newSecret(id);
  return {
    secret,
    record: {
      id,
      name: `${role} test key`,
      role,
      secretHashes: [{ sha256: sha256Hex(secret), validUntil: null }],
      createdAt: Date.now(),
      expiresAt: null,
      revokedAt: null,
    },
  };
}

/** A key of `role` on a key topic (the activator's); its id, secret and record come back. */
export async function publishTestKey(
  kafka: KafkaClient,
  topic: string,
  role: Role,
): Promise<{ id: string; secret: string; record: ApiKeyRecord }> {
  const { record, secret } = testKey(role);
  await publishKeyRecord(kafka, topic, record);
  return { id: record.id, secret, record };
}

/** Publishes a key's record as `kumiki keys` would (e.g. the same key, revoked). */
export async function publishKeyRecord(kafka: KafkaClient, topic: string, record: ApiKeyRecord): Promise<void> {
  const producer = kafka.producer();
  await producer.connect();
  try {
    await publishKey(producer, topic, record);
  } finally {
    await producer.disconnect();
  }
}

/** Every AuditRecord on `topic`, decoded, as they arrive (the array fills while the test runs). */
export async function followAudit(
  kafka: KafkaClient,
  topic: string,
): Promise<{ records: AuditRecord[]; stop(): Promise<void> }> {
  const codec = new AvroCodec(new SchemaRegistryClient({ url: testStack().registryUrl }));
  const consumer = kafka.consumer({ groupId: uniqueName('audit-reader'), topics: [topic], fromBeginning: true });
  const records: AuditRecord[] = [];
  await consumer.connect();
  void consumer.run(async (batch, context) => {
    for (const m of batch.messages) {
      records.push((await codec.decode<AuditRecord>(m.value!)).value);
      context.resolveOffset(m.offset);
    }
  });
  return { records, stop: () => consumer.disconnect() };
}
