import { spawn, type ChildProcess } from 'node:child_process';
import path from 'node:path';
import { testStack } from './stack-env';
import { waitFor } from './wait-for';

const root = path.resolve(__dirname, '..', '..');

export type ServiceName = 'collector' | 'identity-stitcher' | 'profile-materializer';

/** A built service (dist/) running as a child process, the way `kumiki up` runs it. */
export interface ServiceProcess {
  readonly child: ChildProcess;
  readonly exit: Promise<{ code: number | null; signal: NodeJS.Signals | null }>;
  /** Everything it printed so far (pino JSON lines, config errors). */
  output(): string;
  /** SIGTERM, then SIGKILL if it has not exited within 20 s. */
  stop(): Promise<void>;
}

/** Starts a service against the test stack's Kafka and registry; `env` is laid over that. */
export function spawnService(service: ServiceName, env: Record<string, string>): ServiceProcess {
  const child = spawn(process.execPath, [path.join(root, 'dist', 'services', service, 'main.js')], {
    env: { PATH: process.env.PATH ?? '', KAFKA_BROKERS: testStack().brokers.join(','), SCHEMA_REGISTRY_URL: testStack().registryUrl, ...env },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let output = '';
  child.stdout!.on('data', (chunk: Buffer) => (output += chunk.toString()));
  child.stderr!.on('data', (chunk: Buffer) => (output += chunk.toString()));
  const exit = new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((resolve) => child.on('exit', (code, signal) => resolve({ code, signal })));
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
export async function waitUntilAnswering(service: ServiceProcess, url: string, endpoint: '/ready' | '/health', timeoutMs = 90_000): Promise<void> {
  await waitFor(
    async () => {
      if (service.child.exitCode !== null) throw new Error(`service exited with ${service.child.exitCode}:\n${service.output()}`);
      const response = await fetch(`${url}${endpoint}`);
      if (response.status !== 200) throw new Error(`${endpoint} answered ${response.status}`);
    },
    { timeoutMs, intervalMs: 200 },
  );
}
