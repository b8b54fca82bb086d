import type { ChildProcess } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { topics } from '../../services/common/kafka/topics';
import { startCollector, type RunningCollector } from './collector';
import { testKafka } from './kafka';
import { freePort } from './ports';
import { spawnService, waitUntilAnswering, type ServiceProcess } from './service-process';
import {
  createStitcherTopics,
  startStitcher,
  stitcherSetup,
  type RunningStitcher,
  type StitcherSetup,
} from './stitcher';
import { uniqueName } from './stack-env';

/**
 * The whole pipeline for an end-to-end test: collector → raw → identity-stitcher → stitched and
 * identity changes → profile-materializer (embedded ClickHouse in a temporary KUMIKI_HOME) →
 * ClickHouse, profile updates. Every topic and group is new, so a test sees only its own data;
 * the three services are the built ones (dist/), each its own process, as `kumiki up` runs them.
 * One dead-letter topic is shared by the three services, as kumiki.events.dlq is.
 */
export interface RunningPipeline {
  readonly topics: StitcherSetup & { readonly updates: string; readonly segments: string; readonly recipients: string };
  readonly materializerGroupId: string;
  readonly collector: RunningCollector;
  readonly stitcher: RunningStitcher;
  readonly materializer: ServiceProcess & { readonly url: string };
  readonly adminToken: string;
  readonly home: string;
  /** A request to the materializer's read API with the admin token; the parsed JSON answer. */
  api<T = unknown>(method: 'GET' | 'POST' | 'DELETE', pathname: string, body?: unknown): Promise<T>;
  /** POST /v1/sql on the materializer's read API; rows as ClickHouse returns them in JSON. */
  sql<T = Record<string, unknown>>(query: string, params?: Record<string, unknown>): Promise<T[]>;
  /**
   * Stops a service (SIGTERM, or SIGKILL with `kill`) and starts it again, with `env` laid over
   * its settings (a new consumer group, a fault to inject); the materializer keeps its port and
   * data. Resolves once it is ready again, unless `waitReady` is false.
   */
  restart(
    service: 'collector' | 'identity-stitcher' | 'profile-materializer',
    options?: { kill?: boolean; env?: Record<string, string>; waitReady?: boolean },
  ): Promise<void>;
  /** Stops one service (SIGKILL with `kill`) without starting it again; `restart` brings it back. */
  stopService(
    service: 'collector' | 'identity-stitcher' | 'profile-materializer',
    options?: { kill?: boolean },
  ): Promise<void>;
  stop(): Promise<void>;
}

export async function startPipeline(options: { env?: Record<string, string> } = {}): Promise<RunningPipeline> {
  const setup = stitcherSetup('e2e');
  const updates = setup.raw.replace(/\.raw$/, '.updates');
  const segments = setup.raw.replace(/\.raw$/, '.segments');
  const recipients = setup.raw.replace(/\.raw$/, '.recipients');
  const kafka = testKafka();
  await createStitcherTopics(kafka, setup, 3);
  const admin = kafka.admin();
  await admin.connect();
  await admin.ensureTopics([
    { ...topics.profileUpdates, name: updates, partitions: 3 },
    { ...topics.segmentChanges, name: segments, partitions: 3 },
    { ...topics.destinationRecipients, name: recipients },
  ]);
  await admin.disconnect();

  const home = fs.mkdtempSync(path.join(os.tmpdir(), 'kumiki-e2e-'));
  const adminToken = `adm_${uniqueName('e2e')}`;
  const materializerGroupId = `${setup.groupId}-materializer`;
  const port = await freePort();
  const url = `http://127.0.0.1:${port}`;
  const materializerEnv = {
    HTTP_PORT: String(port),
    KUMIKI_HOME: home,
    KUMIKI_ADMIN_TOKEN: adminToken,
    MATERIALIZER_STITCHED_TOPIC: setup.stitched,
    MATERIALIZER_CHANGES_TOPIC: setup.changes,
    MATERIALIZER_UPDATES_TOPIC: updates,
    MATERIALIZER_DLQ_TOPIC: setup.dlq,
    MATERIALIZER_GROUP_ID: materializerGroupId,
    SEGMENT_CHANGES_TOPIC: segments,
    PRIVACY_REQUESTS_TOPIC: setup.privacy,
    PRIVACY_RAW_TOPIC: setup.raw,
    PRIVACY_JSON_TOPIC: setup.json,
    PRIVACY_GRAPH_TOPIC: setup.graph,
    PRIVACY_RECIPIENTS_TOPIC: recipients,
    // The stitcher's group and inputs, for its lag on the console's Overview.
    PIPELINE_STITCHER_GROUP_ID: setup.groupId,
    PIPELINE_STITCHER_TOPICS: `${setup.raw},${setup.json}`,
    // The rfm view reads snapshots taken at most this often; tests should not wait 30 s for one.
    RFM_SNAPSHOT_MIN_INTERVAL_MS: '1000',
    LOG_LEVEL: 'info',
    ...options.env,
  };
  const spawnMaterializer = (env: Record<string, string> = {}) =>
    Object.assign(spawnService('profile-materializer', { ...materializerEnv, ...env }), { url });
  let materializer = spawnMaterializer();
  const api = async <T>(method: 'GET' | 'POST' | 'DELETE', pathname: string, body?: unknown): Promise<T> => {
    const response = await fetch(`${url}${pathname}`, {
      method,
      headers: {
        authorization: `Bearer ${adminToken}`,
        ...(body === undefined ? {} : { 'content-type': 'application/json' }),
      },
      ...(body === undefined ? {} : { body: JSON.stringify(body) }),
    });
    const text = await response.text();
    if (!response.ok) throw new Error(`${method} ${pathname} answered ${response.status}: ${text}`);
    return (text ? JSON.parse(text) : undefined) as T;
  };
  const started: { stop(): Promise<void> }[] = [];
  let stitcher: RunningStitcher | undefined;
  let collector: RunningCollector | undefined;
  try {
    [stitcher] = await Promise.all([startStitcher(setup), waitUntilAnswering(materializer, url, '/ready', 120_000)]);
    collector = await startCollector({
      env: { COLLECTOR_EVENTS_TOPIC: setup.raw, COLLECTOR_DLQ_TOPIC: setup.dlq },
    });
    started.push(collector);
  } catch (error) {
    for (const service of [collector, stitcher, materializer]) await service?.stop();
    throw error;
  }
  const stopped = async (
    process: { child: ChildProcess; exit: Promise<unknown>; stop(): Promise<void> },
    kill: boolean,
  ) => {
    if (kill) {
      process.child.kill('SIGKILL');
      await process.exit;
    } else await process.stop();
  };
  const running = {
    topics: { ...setup, updates, segments, recipients },
    materializerGroupId,
    get collector() {
      return collector!;
    },
    get stitcher() {
      return stitcher!;
    },
    get materializer() {
      return materializer;
    },
    adminToken,
    home,
    api,
    async sql<T>(query: string, params: Record<string, unknown> = {}): Promise<T[]> {
      return (await api<{ rows: T[] }>('POST', '/v1/sql', { query, params })).rows;
    },
    async restart(service, restartOptions = {}) {
      const waitReady = restartOptions.waitReady !== false;
      if (service === 'collector') {
        await stopped(collector!, restartOptions.kill ?? false);
        collector = await startCollector({
          env: { COLLECTOR_EVENTS_TOPIC: setup.raw, COLLECTOR_DLQ_TOPIC: setup.dlq, ...restartOptions.env },
          waitReady,
        });
      } else if (service === 'identity-stitcher') {
        await stopped(stitcher!, restartOptions.kill ?? false);
        stitcher = await startStitcher(setup, { env: restartOptions.env ?? {}, waitReady });
      } else {
        await stopped(materializer, restartOptions.kill ?? false);
        materializer = spawnMaterializer(restartOptions.env);
        if (waitReady) await waitUntilAnswering(materializer, url, '/ready', 120_000);
      }
    },
    async stopService(service, stopOptions = {}) {
      const target = service === 'collector' ? collector! : service === 'identity-stitcher' ? stitcher! : materializer;
      await stopped(target, stopOptions.kill ?? false);
    },
    async stop() {
      // Intake first, as `kumiki down` does.
      for (const service of [collector!, stitcher!, materializer]) await service.stop();
      fs.rmSync(home, { recursive: true, force: true });
    },
  } satisfies RunningPipeline;
  return running;
}
