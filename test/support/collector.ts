import type { ChildProcess } from 'node:child_process';
import { freePort } from './ports';
import { spawnService, waitUntilAnswering } from './service-process';
import { uniqueName } from './stack-env';

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
export async function startCollector(
  options: { env?: Record<string, string>; waitReady?: boolean } = {},
): Promise<RunningCollector> {
  const port = await freePort();
  const writeKey = `wk_${uniqueName('test')}`;
  const eventsTopic = uniqueName('test-events');
  const dlqTopic = uniqueName('test-dlq');
  const service = spawnService('collector', {
    HTTP_PORT: String(port),
    KUMIKI_WRITE_KEY: writeKey,
    COLLECTOR_EVENTS_TOPIC: eventsTopic,
    COLLECTOR_DLQ_TOPIC: dlqTopic,
    LOG_LEVEL: 'info',
    ...options.env,
  });
  const url = `http://127.0.0.1:${port}`;
  const collector: RunningCollector = {
    url,
    writeKey,
    eventsTopic,
    dlqTopic,
    child: service.child,
    exit: service.exit,
    output: service.output,
    auth: `Basic ${Buffer.from(`${writeKey}:`).toString('base64')}`,
    stop: service.stop,
  };
  await waitUntilAnswering(service, url, options.waitReady === false ? '/health' : '/ready', 60_000);
  return collector;
}
