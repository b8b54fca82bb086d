import type { ChildProcess } from 'node:child_process';
import pino from 'pino';
import type { Event, IdentityChange, IdentityGraphRecord, StitchedEvent } from '../../schemas';
import { schema } from '../../schemas';
import type { IncomingMessage, KafkaClient } from '../../services/common/kafka/client';
import { topics } from '../../services/common/kafka/topics';
import { AvroCodec, SchemaRegistryClient } from '../../services/common/registry';
import { freePort } from './ports';
import { spawnService, waitUntilAnswering } from './service-process';
import { testStack, uniqueName } from './stack-env';

/** A fresh set of the stitcher's topic names and group, so a test sees only its own data. */
export interface StitcherSetup {
  readonly raw: string;
  readonly json: string;
  readonly stitched: string;
  readonly changes: string;
  readonly graph: string;
  readonly dlq: string;
  readonly privacy: string;
  readonly subjects: string;
  readonly groupId: string;
  readonly transactionalId: string;
}

export function stitcherSetup(prefix = 'st'): StitcherSetup {
  const id = uniqueName(prefix);
  return {
    raw: `${id}.raw`,
    json: `${id}.json`,
    stitched: `${id}.stitched`,
    changes: `${id}.changes`,
    graph: `${id}.graph`,
    dlq: `${id}.dlq`,
    privacy: `${id}.privacy`,
    subjects: `${id}.subjects`,
    groupId: `${id}-group`,
    transactionalId: `${id}-txn`,
  };
}

/** Creates the setup's topics with `partitions` input partitions (1 keeps a total order). */
export async function createStitcherTopics(
  client: KafkaClient,
  setup: StitcherSetup,
  partitions: number,
): Promise<void> {
  const admin = client.admin();
  await admin.connect();
  await admin.ensureTopics([
    { ...topics.eventsRaw, name: setup.raw, partitions },
    { ...topics.eventsJson, name: setup.json, partitions },
    { ...topics.eventsStitched, name: setup.stitched, partitions: 3 },
    { ...topics.identityChanges, name: setup.changes, partitions: 3 },
    { ...topics.identityGraph, name: setup.graph, partitions: 3 },
    { ...topics.deadLetters, name: setup.dlq, partitions: 1 },
    { ...topics.privacyRequests, name: setup.privacy, partitions: 3 },
    { ...topics.privacySubjects, name: setup.subjects },
  ]);
  await admin.disconnect();
}

export interface RunningStitcher {
  readonly url: string;
  readonly child: ChildProcess;
  readonly exit: Promise<{ code: number | null; signal: NodeJS.Signals | null }>;
  output(): string;
  stop(): Promise<void>;
}

export async function startStitcher(
  setup: StitcherSetup,
  options: { env?: Record<string, string>; waitReady?: boolean } = {},
): Promise<RunningStitcher> {
  const port = await freePort();
  const service = spawnService('identity-stitcher', {
    HTTP_PORT: String(port),
    STITCHER_RAW_TOPIC: setup.raw,
    STITCHER_JSON_TOPIC: setup.json,
    STITCHER_STITCHED_TOPIC: setup.stitched,
    STITCHER_CHANGES_TOPIC: setup.changes,
    STITCHER_GRAPH_TOPIC: setup.graph,
    STITCHER_DLQ_TOPIC: setup.dlq,
    STITCHER_PRIVACY_TOPIC: setup.privacy,
    STITCHER_SUBJECTS_TOPIC: setup.subjects,
    STITCHER_GROUP_ID: setup.groupId,
    STITCHER_TRANSACTIONAL_ID: setup.transactionalId,
    STITCHER_SESSION_TIMEOUT_MS: '10000',
    LOG_LEVEL: 'info',
    ...options.env,
  });
  const url = `http://127.0.0.1:${port}`;
  const running: RunningStitcher = {
    url,
    child: service.child,
    exit: service.exit,
    output: service.output,
    stop: service.stop,
  };
  if (options.waitReady !== false) await waitUntilAnswering(service, url, '/ready', 90_000);
  return running;
}

/** A codec bound to the setup's topics (registers their schemas). */
export async function stitcherCodec(setup: StitcherSetup): Promise<AvroCodec> {
  const registry = new SchemaRegistryClient({ url: testStack().registryUrl, logger: pino({ level: 'warn' }) });
  const codec = new AvroCodec(registry);
  await codec.registerAndBind(`${setup.raw}-value`, schema('Event').text);
  return codec;
}

/** The group's committed lag on the raw topic; infinite while a partition has no committed offset yet. */
export async function committedLag(client: KafkaClient, setup: StitcherSetup): Promise<number> {
  const admin = client.admin();
  await admin.connect();
  try {
    const lags = await admin.groupLag(setup.groupId, [setup.raw]);
    if (lags.some((lag) => Number(lag.committed) < 0)) return Number.POSITIVE_INFINITY;
    return lags.reduce((sum, lag) => sum + lag.lag, 0);
  } finally {
    await admin.disconnect();
  }
}

/** Reads every record of a topic up to its end (read committed). */
export async function readAll(client: KafkaClient, topic: string): Promise<IncomingMessage[]> {
  const out: IncomingMessage[] = [];
  await client.readToEnd({
    topic,
    groupIdPrefix: uniqueName('reader'),
    onBatch: (messages) => void out.push(...messages),
  });
  return out;
}

export async function decodeAll<T>(codec: AvroCodec, messages: readonly IncomingMessage[]): Promise<T[]> {
  const out: T[] = [];
  for (const message of messages) if (message.value) out.push((await codec.decode<T>(message.value)).value);
  return out;
}

export type { Event, IdentityChange, IdentityGraphRecord, StitchedEvent };
