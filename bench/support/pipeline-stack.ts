import { randomBytes } from 'node:crypto';
import { once } from 'node:events';
import { closeSync, mkdtempSync, openSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { setTimeout as delay } from 'node:timers/promises';
import { spawn, type ChildProcess } from 'node:child_process';
import { freePort } from './measure';

/** The pipeline benchmark's stack: the three built services as child processes on the run's own topics. */
export const brokers = (process.env.KAFKA_BROKERS ?? '127.0.0.1:9092').split(',');
export const registryUrl = process.env.SCHEMA_REGISTRY_URL ?? 'http://127.0.0.1:8081/apis/ccompat/v7';
/** The repository root, from dist/bench/support/. */
export const root = path.resolve(__dirname, '..', '..', '..');
export const adminToken = 'adm_bench_pipeline_token_000';
export const writeKey = 'wk_bench_pipeline';

export interface Stack {
  readonly collectorPort: number;
  readonly materializerPort: number;
  readonly materializerGroup: string;
  readonly inputTopics: string[];
  readonly processes: Record<string, ChildProcess>;
  /** Where the services log. */
  readonly logs: string;
}

export async function startStack(run: string): Promise<Stack> {
  const topic = (name: string) => `bench-${run}.${name}`;
  const [collectorPort, stitcherPort, materializerPort] = [await freePort(), await freePort(), await freePort()];
  // Service tuning can be tried from the environment (COLLECTOR_*, STITCHER_*, MATERIALIZER_*, SEGMENT_*, NODE_OPTIONS, MALLOC_ARENA_MAX).
  const tuning = Object.fromEntries(
    Object.entries(process.env).filter(
      ([name]) =>
        /^(COLLECTOR|STITCHER|MATERIALIZER|SEGMENT)_/.test(name) ||
        name === 'NODE_OPTIONS' ||
        name === 'MALLOC_ARENA_MAX',
    ),
  ) as Record<string, string>;
  const base = {
    PATH: process.env.PATH ?? '',
    KAFKA_BROKERS: brokers.join(','),
    SCHEMA_REGISTRY_URL: registryUrl,
    LOG_LEVEL: 'warn',
    KUMIKI_PRIVACY_KEY: randomBytes(32).toString('hex'),
    ...tuning,
  };
  // Each service logs (pino, stdout) to its own file, named when it exits before the run is over.
  const logs = mkdtempSync(path.join(os.tmpdir(), `kumiki-bench-pipeline-logs-${run}-`));
  const start = (service: string, env: Record<string, string>): ChildProcess => {
    const log = openSync(path.join(logs, `${service}.log`), 'a');
    const child = spawn(process.execPath, [path.join(root, 'dist', 'services', service, 'main.js')], {
      env: { ...base, ...env },
      stdio: ['ignore', log, log],
    });
    closeSync(log); // the child has its own copy
    child.on('exit', (code, signal) => {
      if (!stopping)
        serviceExit ??= new Error(
          `${service} exited (${signal ?? `code ${code}`}) during the run; its log: ${path.join(logs, `${service}.log`)}`,
        );
    });
    return child;
  };
  const materializerGroup = `bench-${run}-materializer`;
  const processes = {
    'profile-materializer': start('profile-materializer', {
      HTTP_PORT: String(materializerPort),
      KUMIKI_ADMIN_TOKEN: adminToken,
      KUMIKI_HOME: scratchDir('kumiki-bench-pipeline-'),
      MATERIALIZER_STITCHED_TOPIC: topic('stitched'),
      MATERIALIZER_CHANGES_TOPIC: topic('changes'),
      MATERIALIZER_UPDATES_TOPIC: topic('updates'),
      MATERIALIZER_DLQ_TOPIC: topic('dlq'),
      PRIVACY_REQUESTS_TOPIC: topic('privacy'),
      MATERIALIZER_GROUP_ID: materializerGroup,
    }),
    'identity-stitcher': start('identity-stitcher', {
      HTTP_PORT: String(stitcherPort),
      STITCHER_RAW_TOPIC: topic('raw'),
      STITCHER_JSON_TOPIC: topic('json'),
      STITCHER_STITCHED_TOPIC: topic('stitched'),
      STITCHER_CHANGES_TOPIC: topic('changes'),
      STITCHER_GRAPH_TOPIC: topic('graph'),
      STITCHER_DLQ_TOPIC: topic('dlq'),
      STITCHER_PRIVACY_TOPIC: topic('privacy'),
      STITCHER_SUBJECTS_TOPIC: topic('subjects'),
      STITCHER_GROUP_ID: `bench-${run}-stitcher`,
      STITCHER_TRANSACTIONAL_ID: `bench-${run}-stitcher`,
    }),
    collector: start('collector', {
      HTTP_PORT: String(collectorPort),
      KUMIKI_WRITE_KEY: writeKey,
      COLLECTOR_EVENTS_TOPIC: topic('raw'),
      COLLECTOR_DLQ_TOPIC: topic('dlq'),
    }),
  };
  try {
    for (const [service, port] of [
      ['profile-materializer', materializerPort],
      ['identity-stitcher', stitcherPort],
      ['collector', collectorPort],
    ] as const) {
      await until(
        async () => (await fetch(`http://127.0.0.1:${port}/ready`)).status === 200,
        120_000,
        `${service} ready (its log: ${path.join(logs, `${service}.log`)})`,
      );
    }
  } catch (error) {
    await stopServices(processes);
    removeScratch();
    throw error;
  }
  return {
    collectorPort,
    materializerPort,
    materializerGroup,
    inputTopics: [topic('stitched'), topic('changes')],
    processes,
    logs,
  };
}

/** Set once the services are being stopped on purpose. */
let stopping = false;
/** Set when a service exits before that: every wait fails with it instead of timing out. */
let serviceExit: Error | null = null;

/** Whether a service exited before the run was over (its log is kept then). */
export function aServiceFailed(): boolean {
  return serviceExit !== null;
}

/** Temporary directories of this run (embedded ClickHouse stores), removed when it ends. */
const scratch: string[] = [];
export function scratchDir(prefix: string): string {
  const dir = mkdtempSync(path.join(os.tmpdir(), prefix));
  scratch.push(dir);
  return dir;
}
export function removeScratch(): void {
  for (const dir of scratch.splice(0)) rmSync(dir, { recursive: true, force: true });
}

/** SIGTERM to the services still running, then waits (30 s at most) until they have exited. */
export async function stopServices(processes: Record<string, ChildProcess>): Promise<void> {
  stopping = true;
  const running = Object.values(processes).filter((child) => child.exitCode === null && child.signalCode === null);
  const exited = Promise.all(running.map((child) => once(child, 'exit')));
  for (const child of running) child.kill('SIGTERM');
  await Promise.race([exited, delay(30_000)]);
}

export async function until(
  check: () => Promise<boolean>,
  timeoutMs: number,
  what: string,
  intervalMs = 100,
): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    if (serviceExit) throw serviceExit;
    if (await check().catch(() => false)) return;
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((resolve) => setTimeout(resolve, intervalMs));
  }
}

export async function sql<T>(stack: Stack, query: string, params: Record<string, unknown> = {}): Promise<T[]> {
  const response = await fetch(`http://127.0.0.1:${stack.materializerPort}/v1/sql`, {
    method: 'POST',
    headers: { authorization: `Bearer ${adminToken}`, 'content-type': 'application/json' },
    body: JSON.stringify({ query, params }),
  });
  const body = (await response.json()) as { rows?: T[]; message?: string };
  if (!response.ok) throw new Error(`read API: ${body.message ?? response.status}`);
  return body.rows ?? [];
}
