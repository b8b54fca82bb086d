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
  readonly topics: StitcherSetup & { readonly updates: string; readonly segments: string };
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
  stop(): Promise<void>;
}

export async function startPipeline(options: { env?: Record<string, string> } = {}): Promise<RunningPipeline> {
  const setup = stitcherSetup('e2e');
  const updates = setup.raw.replace(/\.raw$/, '.updates');
  const segments = setup.raw.replace(/\.raw$/, '.segments');
  const kafka = testKafka();
  await createStitcherTopics(kafka, setup, 3);
  const admin = kafka.admin();
  await admin.connect();
  await admin.ensureTopics([
    { ...topics.profileUpdates, name: updates, partitions: 3 },
    { ...topics.segmentChanges, name: segments, partitions: 3 },
  ]);
  await admin.disconnect();

  const home = fs.mkdtempSync(path.join(os.tmpdir(), 'kumiki-e2e-'));
  const adminToken = `adm_${uniqueName('e2e')}`;
  const materializerGroupId = `${setup.groupId}-materializer`;
  const port = await freePort();
  const materializer = Object.assign(
    spawnService('profile-materializer', {
      HTTP_PORT: String(port),
      KUMIKI_HOME: home,
      KUMIKI_ADMIN_TOKEN: adminToken,
      MATERIALIZER_STITCHED_TOPIC: setup.stitched,
      MATERIALIZER_CHANGES_TOPIC: setup.changes,
      MATERIALIZER_UPDATES_TOPIC: updates,
      MATERIALIZER_DLQ_TOPIC: setup.dlq,
      MATERIALIZER_GROUP_ID: materializerGroupId,
      SEGMENT_CHANGES_TOPIC: segments,
      // The stitcher's group and inputs, for its lag on the console's Overview.
      PIPELINE_STITCHER_GROUP_ID: setup.groupId,
      PIPELINE_STITCHER_TOPICS: `${setup.raw},${setup.json}`,
      // The rfm view reads snapshots taken at most this often; tests should not wait 30 s for one.
      RFM_SNAPSHOT_MIN_INTERVAL_MS: '1000',
      LOG_LEVEL: 'info',
      ...options.env,
    }),
    { url: `http://127.0.0.1:${port}` },
  );
  const api = async <T>(method: 'GET' | 'POST' | 'DELETE', pathname: string, body?: unknown): Promise<T> => {
    const response = await fetch(`${materializer.url}${pathname}`, {
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
  const started: { stop(): Promise<void> }[] = [materializer];
  try {
    const [stitcher] = await Promise.all([
      startStitcher(setup),
      waitUntilAnswering(materializer, materializer.url, '/ready', 120_000),
    ]);
    started.push(stitcher);
    const collector = await startCollector({
      env: { COLLECTOR_EVENTS_TOPIC: setup.raw, COLLECTOR_DLQ_TOPIC: setup.dlq },
    });
    started.push(collector);
    return {
      topics: { ...setup, updates, segments },
      materializerGroupId,
      collector,
      stitcher,
      materializer,
      adminToken,
      home,
      api,
      async sql<T>(query: string, params: Record<string, unknown> = {}): Promise<T[]> {
        return (await api<{ rows: T[] }>('POST', '/v1/sql', { query, params })).rows;
      },
      async stop() {
        // Intake first, as `kumiki down` does.
        for (const service of started.reverse()) await service.stop();
        fs.rmSync(home, { recursive: true, force: true });
      },
    };
  } catch (error) {
    for (const service of started.reverse()) await service.stop();
    throw error;
  }
}
