import { spawn, type ChildProcess } from 'node:child_process';
import path from 'node:path';
import { testPrivacyKey } from './privacy-key';
import { testStack } from './stack-env';
import { waitFor } from './wait-for';

const root = path.resolve(__dirname, '..', '..');

export type ServiceName = 'collector' | 'identity-stitcher' | 'profile-materializer';
/** Every service a test may start (ServiceName: the pipeline's three). */
export type SpawnableService = ServiceName | 'activator';

/** A built service (dist/) running as a child process, the way `kumiki up` runs it. */
export interface ServiceProcess {
  readonly child: ChildProcess;
  readonly exit: Promise<{ code: number | null; signal: NodeJS.Signals | null }>;
  /** Everything it printed so far (pino JSON lines, config errors). */
  output(): string;
  /** SIGTERM, then SIGKILL if it has not exited within 20 s. */
  stop(): Promise<void>;
}

/** Every service process this test file started, crashed ones included. */
const spawned: { service: SpawnableService; process: ServiceProcess }[] = [];

/**
 * Runs a test's body; if it fails, prints the tail of what every service process of the file
 * logged first, so that a failure in CI says which service stopped and why.
 */
export async function withServiceLogsOnFailure(body: () => Promise<void>, lines = 60): Promise<void> {
  try {
    await body();
  } catch (error) {
    const logs = spawned.map(({ service, process: { child, output } }) => {
      const all = output().trim().split('\n');
      return `--- ${service} (pid ${child.pid}), last ${Math.min(all.length, lines)} of ${all.length} lines ---\n${all.slice(-lines).join('\n')}`;
    });
    process.stdout.write(`${logs.join('\n')}\n`);
    throw error;
  }
}

/** Starts a service against the test stack's Kafka and registry; `env` is laid over that. */
export function spawnService(service: SpawnableService, env: Record<string, string>): ServiceProcess {
  const child = spawn(process.execPath, [path.join(root, 'dist', 'services', service, 'main.js')], {
    env: {
      PATH: process.env.PATH ?? '',
      KAFKA_BROKERS: testStack().brokers.join(','),
      SCHEMA_REGISTRY_URL: testStack().registryUrl,
      KUMIKI_PRIVACY_KEY: testPrivacyKey,
      ...env,
    },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  const started = serviceProcessOf(child);
  spawned.push({ service, process: started });
  return started;
}

/** A child process with piped output, as a ServiceProcess (its output kept, a bounded stop). */
export function serviceProcessOf(child: ChildProcess): ServiceProcess {
  let output = '';
  child.stdout!.on('data', (chunk: Buffer) => (output += chunk.toString()));
  child.stderr!.on('data', (chunk: Buffer) => (output += chunk.toString()));
  const exit = new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((resolve) =>
    child.on('exit', (code, signal) => resolve({ code, signal })),
  );
  return {
    child,
    exit,
    output: () => output,
    async stop() {
      if (child.exitCode === null && child.signalCode === null) child.kill('SIGTERM');
      const timer = setTimeout(() => child.kill('SIGKILL'), 20_000);
      await exit;
      clearTimeout(timer);
    },
  };
}

/** Waits until `url + endpoint` answers 200; fails at once, with its output, if the process exits. */
export async function waitUntilAnswering(
  service: ServiceProcess,
  url: string,
  endpoint: '/ready' | '/health',
  timeoutMs = 90_000,
): Promise<void> {
  await waitFor(
    async () => {
      if (service.child.exitCode !== null)
        throw new Error(`service exited with ${service.child.exitCode}:\n${service.output()}`);
      const response = await fetch(`${url}${endpoint}`);
      if (response.status !== 200) throw new Error(`${endpoint} answered ${response.status}`);
    },
    { timeoutMs, intervalMs: 200 },
  );
}
