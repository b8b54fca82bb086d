import net from 'node:net';
import { createKafkaClient } from '../../common/kafka/client';
import { createLogger } from '../../common/logger';
import { errorMessage } from '../../common/errors';
import { sleep } from '../../common/retry';

/** Cheap, bounded checks of whether something answers; none of them throws. */

/** True when something accepts TCP connections on host:port. */
export function isPortOpen(port: number, host = '127.0.0.1', timeoutMs = 1_000): Promise<boolean> {
  return new Promise((resolve) => {
    const socket = net.connect({ port, host });
    const finish = (open: boolean): void => {
      socket.destroy();
      resolve(open);
    };
    socket.setTimeout(timeoutMs, () => finish(false));
    socket.once('connect', () => finish(true));
    socket.once('error', () => finish(false));
  });
}

/** HTTP status of a GET, or undefined when nothing answers in time. */
export async function httpStatus(url: string, timeoutMs = 2_000): Promise<number | undefined> {
  try {
    const response = await fetch(url, { signal: AbortSignal.timeout(timeoutMs) });
    await response.arrayBuffer();
    return response.status;
  } catch {
    return undefined;
  }
}

export async function httpJson(url: string, timeoutMs = 2_000): Promise<unknown> {
  try {
    const response = await fetch(url, { signal: AbortSignal.timeout(timeoutMs) });
    return response.ok ? await response.json() : undefined;
  } catch {
    return undefined;
  }
}

export type KafkaProbe = { reachable: true; brokers: number } | { reachable: false; reason: string };

/**
 * Asks the cluster to describe itself. kafkajs retries internally for far longer than a
 * status check should wait, so the answer is raced against `timeoutMs`.
 */
export async function probeKafka(brokers: readonly string[], timeoutMs = 3_000): Promise<KafkaProbe> {
  const logger = createLogger({ service: 'kumiki-cli', level: 'silent', pretty: false });
  const admin = createKafkaClient({
    brokers,
    clientId: 'kumiki-cli-probe',
    logger,
    connectionTimeoutMs: Math.min(timeoutMs, 2_000),
  }).admin();
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<KafkaProbe>((resolve) => {
    timer = setTimeout(() => resolve({ reachable: false, reason: `no answer within ${timeoutMs} ms` }), timeoutMs);
  });
  const attempt = (async (): Promise<KafkaProbe> => {
    await admin.connect();
    const cluster = await admin.describeCluster();
    return { reachable: true, brokers: cluster.brokers };
  })().catch((error: unknown): KafkaProbe => ({ reachable: false, reason: errorMessage(error) }));
  try {
    return await Promise.race([attempt, timeout]);
  } finally {
    clearTimeout(timer);
    await admin.disconnect().catch(() => undefined);
  }
}

/**
 * Polls `check` until it says true, the deadline passes, `failed` reports a reason (the
 * child died) or the start is aborted. Returns why it stopped waiting.
 */
export async function waitUntil(
  check: () => Promise<boolean>,
  options: { timeoutMs: number; intervalMs?: number; failed?: () => string | undefined; signal?: AbortSignal },
): Promise<'ready' | 'timeout' | 'aborted' | { failed: string }> {
  const deadline = Date.now() + options.timeoutMs;
  for (;;) {
    if (options.signal?.aborted) return 'aborted';
    const failure = options.failed?.();
    if (failure) return { failed: failure };
    if (await check()) return 'ready';
    if (Date.now() >= deadline) return 'timeout';
    await sleep(options.intervalMs ?? 250, options.signal);
  }
}
