import { spawnSync } from 'node:child_process';
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { loadCliConfig } from '../../services/cli/config';
import { liveComponents, readStack } from '../../services/cli/local/run-state';

/** Small measuring tools the benchmarks share. */

export function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = net.createServer();
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const { port } = server.address() as net.AddressInfo;
      server.close(() => resolve(port));
    });
  });
}

/** Resident memory of a process now (`VmRSS`) or at its peak (`VmHWM`), in bytes; 0 once it is gone. */
export function rssOf(pid: number, which: 'VmRSS' | 'VmHWM' = 'VmRSS'): number {
  try {
    const match = new RegExp(`${which}:\\s+(\\d+) kB`).exec(readFileSync(`/proc/${pid}/status`, 'utf8'));
    return match ? Number(match[1]) * 1024 : 0;
  } catch {
    return 0;
  }
}

/**
 * CPU time a process has used so far (user + system, all its threads), in seconds; NaN where
 * /proc is not there or the process is gone. /proc counts in USER_HZ ticks, 100 per second on
 * Linux.
 */
export function cpuSecondsOf(pid: number): number {
  try {
    // Fields after the command name, which is in parentheses and may hold spaces: utime and stime are the 12th and 13th.
    const fields = readFileSync(`/proc/${pid}/stat`, 'utf8').split(') ').at(-1)!.split(' ');
    return (Number(fields[11]) + Number(fields[12])) / 100;
  } catch {
    return Number.NaN;
  }
}

/** The pid of the Kafka broker recorded under KUMIKI_HOME (`kumiki up`, or the one the tests and benches start), if it runs. */
export async function localBrokerPid(env: NodeJS.ProcessEnv = process.env): Promise<number | undefined> {
  const stack = await readStack(loadCliConfig(env).paths.run);
  return liveComponents(stack).find((component) => component.name === 'kafka')?.pid ?? undefined;
}

/** CPU seconds used so far by this process and by `brokerPid` (NaN when unknown): take one at each end of a phase. */
export function cpuNow(brokerPid: number | undefined): { self: number; broker: number } {
  const { user, system } = process.cpuUsage();
  return { self: (user + system) / 1e6, broker: brokerPid === undefined ? Number.NaN : cpuSecondsOf(brokerPid) };
}

/** The p-th percentile of ascending values (nearest rank). */
export function percentile(sorted: readonly number[], p: number): number {
  return sorted[Math.min(sorted.length - 1, Math.floor((p / 100) * sorted.length))] ?? Number.NaN;
}

/**
 * Kafka's own `kafka-producer-perf-test` (org.apache.kafka.tools.ProducerPerformance, from the
 * jars `kumiki up` downloaded) with acks=all and idempotence: the reference a producer of
 * ours is compared with. Undefined when the jars are not there.
 */
export function kafkaPerfTest(
  brokers: readonly string[],
  topic: string,
  recordSize: number,
  records: number,
): { recordsPerSecond: number; p50: number; p99: number } | undefined {
  const cache = process.env.KUMIKI_CACHE ?? path.join(os.homedir(), '.cache', 'kumiki');
  const kafkaDir = existsSync(cache)
    ? readdirSync(cache).find((name) => name.startsWith('kafka-') && existsSync(path.join(cache, name, 'content')))
    : undefined;
  if (!kafkaDir) return undefined;
  const result = spawnSync(
    'java',
    [
      '-cp',
      `${path.join(cache, kafkaDir, 'content')}/*`,
      'org.apache.kafka.tools.ProducerPerformance',
      '--topic',
      topic,
      '--num-records',
      String(records),
      '--record-size',
      String(recordSize),
      '--throughput',
      '-1',
      '--producer-props',
      `bootstrap.servers=${brokers.join(',')}`,
      'acks=all',
      'enable.idempotence=true',
      // A missing topic (the broker does not create them) fails in seconds, not after 60 s per record.
      'max.block.ms=10000',
    ],
    { encoding: 'utf8', timeout: 300_000 },
  );
  const summary = /([\d.]+) records\/sec.*?(\d+) ms 50th.*?(\d+) ms 99th/s.exec(
    result.stdout.trim().split('\n').at(-1) ?? '',
  );
  if (!summary) {
    process.stderr.write(`kafka-producer-perf-test failed:\n${result.stdout}\n${result.stderr}\n`);
    return undefined;
  }
  return { recordsPerSecond: Number(summary[1]), p50: Number(summary[2]), p99: Number(summary[3]) };
}

/** One aligned `name  value` line of a benchmark's report. */
export function line(name: string, value: string): void {
  process.stdout.write(`  ${name.padEnd(58)} ${value}\n`);
}

/** The positional argument `index` of the command line as a positive whole number, `fallback` when absent. */
export function countArgument(index: number, name: string, fallback: number): number {
  const raw = process.argv[index];
  if (raw === undefined) return fallback;
  const value = Number(raw);
  if (!Number.isInteger(value) || value < 1)
    throw new Error(`${name} (argument ${index - 1}) must be a positive whole number, got ${JSON.stringify(raw)}`);
  return value;
}
