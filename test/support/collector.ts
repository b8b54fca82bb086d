import { spawn, type ChildProcess } from 'node:child_process';
import path from 'node:path';
import { freePort } from './ports';
import { testStack, uniqueName } from './stack-env';
import { waitFor } from './wait-for';

const root = path.resolve(__dirname, '..', '..');

export interface RunningCollector {
  readonly url: string;
  readonly writeKey: string;
  readonly eventsTopic: string;
  readonly dlqTopic: string;
  readonly child: ChildProcess;
  readonly exit: Promise<{ code: number | null; signal: NodeJS.Signals | null }>;
  output(): string;
  /** `Authorization` header value for the write key. */
  readonly auth: string;
  stop(): Promise<void>;
}

/**
 * Starts the built collector (dist/) as a child process with its own topics, so every test
 * file reads only its own events. Waits for /ready unless `waitReady` is false.
 */
export async function startCollector(options: { env?: Record<string, string>; waitReady?: boolean } = {}): Promise<RunningCollector> {
  const port = await freePort();
  const writeKey = `wk_${uniqueName('test')}`;
  const eventsTopic = uniqueName('test-events');
  const dlqTopic = uniqueName('test-dlq');
  const child = spawn(process.execPath, [path.join(root, 'dist', 'services', 'collector', 'main.js')], {
    env: {
      PATH: process.env.PATH ?? '',
      KAFKA_BROKERS: testStack().brokers.join(','),
      SCHEMA_REGISTRY_URL: testStack().registryUrl,
      HTTP_PORT: String(port),
      KUMIKI_WRITE_KEY: writeKey,
      COLLECTOR_EVENTS_TOPIC: eventsTopic,
      COLLECTOR_DLQ_TOPIC: dlqTopic,
      LOG_LEVEL: 'info',
      ...options.env,
    },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let output = '';
  child.stdout!.on('data', (chunk: Buffer) => (output += chunk.toString()));
  child.stderr!.on('data', (chunk: Buffer) => (output += chunk.toString()));
  const exit = new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((resolve) => child.on('exit', (code, signal) => resolve({ code, signal })));
  const url = `http://127.0.0.1:${port}`;
  const collector: RunningCollector = {
    url,
    writeKey,
    eventsTopic,
    dlqTopic,
    child,
    exit,
    output: () => output,
    auth: `Basic ${Buffer.from(`${writeKey}:`).toString('base64')}`,
    async stop() {
      if (child.exitCode === null && child.signalCode === null) child.kill('SIGTERM');
      const timer = setTimeout(() => child.kill('SIGKILL'), 20_000);
      await exit;
      clearTimeout(timer);
    },
  };
  const endpoint = options.waitReady === false ? '/health' : '/ready';
  await waitFor(
    async () => {
      if (child.exitCode !== null) throw new Error(`collector exited with ${child.exitCode}:\n${output}`);
      const response = await fetch(`${url}${endpoint}`);
      if (response.status !== 200) throw new Error(`${endpoint} answered ${response.status}`);
    },
    { timeoutMs: 60_000, intervalMs: 200 },
  );
  return collector;
}
