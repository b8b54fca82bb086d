import type { LocalPaths } from '../../common/paths';
import { portSettings, type CliConfig, type Ports } from '../config';
import { PortInUseError } from '../errors';
import { requireJava } from './prerequisites';
import { startKafka } from './kafka-broker';
import { registryUrl as localRegistryUrl, startRegistry } from './schema-registry';
import { httpStatus, isPortOpen, probeKafka } from './probes';
import { awaitReady, LocalStack } from './local-stack';
import { consoleLog, type CliLog } from './cli-log';

/**
 * Kafka and the schema registry, started for `kumiki up` and for the integration tests'
 * global setup. Each is, in this order of preference:
 *   external  - KAFKA_BROKERS / SCHEMA_REGISTRY_URL given: used as is;
 *   reused    - something already answers on the local port (a running `kumiki up`, a
 *               developer's broker) and `reuseRunning` allows it: used, never stopped;
 *   started   - a child process of ours, stopped by `stop()`.
 * A port held by something that does not answer like Kafka or a registry is an error.
 */
export interface InfrastructureOptions {
  readonly paths: LocalPaths;
  readonly ports: Pick<Ports, 'kafka' | 'kafkaController' | 'registry'>;
  readonly log?: CliLog;
  readonly external?: { readonly kafkaBrokers?: readonly string[]; readonly registryUrl?: string };
  /** Tests share a running stack; `kumiki up` refuses one it did not record (default true). */
  readonly reuseRunning?: boolean;
  readonly javaCommand?: string;
  /** Environment of the JVMs (PATH, JAVA_TOOL_OPTIONS …). */
  readonly env?: Readonly<Record<string, string>>;
  readonly timeoutMs?: number;
  readonly signal?: AbortSignal;
  /** The stack to add to (`kumiki up` continues it with the services). */
  readonly stack?: LocalStack;
}

export interface Infrastructure {
  readonly brokers: readonly string[];
  /** Confluent-compatible base URL, e.g. http://127.0.0.1:8081/apis/ccompat/v7. */
  readonly registryUrl: string;
  readonly stack: LocalStack;
  /** Stops only what this call started, in reverse order. */
  stop(): Promise<void>;
}

export async function startInfrastructure(options: InfrastructureOptions): Promise<Infrastructure> {
  const log = options.log ?? consoleLog;
  const stack = options.stack ?? new LocalStack(options.paths.run, log, null);
  // Kafka and the registry do not depend on each other (the registry keeps its state in
  // H2), so both JVMs start at once; if one fails, the other is told to give up.
  const inner = new AbortController();
  const abortInner = (): void => inner.abort();
  options.signal?.addEventListener('abort', abortInner, { once: true });
  const settings: Settings = {
    log,
    stack,
    reuse: options.reuseRunning ?? true,
    java: options.javaCommand ?? 'java',
    env: options.env ?? {},
    timeoutMs: options.timeoutMs ?? 120_000,
    signal: inner.signal,
  };
  try {
    const local = !options.external?.kafkaBrokers || !options.external?.registryUrl;
    if (local && !(await bothAnswer(options))) await requireJava(settings.java, settings.env);
    const [brokers, registryUrl] = await firstFailure(
      [kafka(options, settings), registry(options, settings)],
      abortInner,
    );
    return { brokers, registryUrl, stack, stop: () => stack.stop() };
  } catch (error) {
    // Whatever came up before the failure must not outlive it.
    if (!options.stack) await stack.stop();
    throw error;
  } finally {
    options.signal?.removeEventListener('abort', abortInner);
  }
}

/** Like Promise.all, but waits for every task to settle (calling `onFailure` at the first error) so nothing is left starting. */
async function firstFailure<A, B>(tasks: [Promise<A>, Promise<B>], onFailure: () => void): Promise<[A, B]> {
  const failures: unknown[] = [];
  const watched = tasks.map((task) =>
    task.catch((error: unknown) => {
      failures.push(error);
      onFailure();
      throw error;
    }),
  );
  const settled = await Promise.allSettled(watched);
  // The first failure is the cause; the other one is usually just "interrupted".
  if (failures.length > 0) throw failures[0];
  return settled.map((result) => (result as PromiseFulfilledResult<unknown>).value) as [A, B];
}

/** Java is only needed when there is something to start. */
async function bothAnswer(options: InfrastructureOptions): Promise<boolean> {
  const kafkaUp = !!options.external?.kafkaBrokers || (await isPortOpen(options.ports.kafka));
  const registryUp = !!options.external?.registryUrl || (await isPortOpen(options.ports.registry));
  return kafkaUp && registryUp;
}

interface Settings {
  readonly log: CliLog;
  readonly stack: LocalStack;
  readonly reuse: boolean;
  readonly java: string;
  readonly env: Readonly<Record<string, string>>;
  readonly timeoutMs: number;
  readonly signal: AbortSignal;
}

async function kafka(options: InfrastructureOptions, s: Settings): Promise<readonly string[]> {
  if (options.external?.kafkaBrokers) {
    const brokers = options.external.kafkaBrokers;
    await s.stack.add({ name: 'kafka', address: brokers.join(','), process: null });
    return brokers;
  }
  const { kafka: port, kafkaController } = options.ports;
  const address = `127.0.0.1:${port}`;
  if (await isPortOpen(port)) {
    const probe = await probeKafka([address], 5_000);
    if (!probe.reachable || !s.reuse)
      throw new PortInUseError([
        {
          port,
          setting: portSettings.kafka,
          purpose: probe.reachable ? 'a Kafka broker kumiki did not start' : 'Kafka',
        },
      ]);
    s.log.info(`using the Kafka broker already listening on ${address}`);
    await s.stack.add({ name: 'kafka', address, process: null });
    return [address];
  }
  if (await isPortOpen(kafkaController)) {
    throw new PortInUseError([
      { port: kafkaController, setting: portSettings.kafkaController, purpose: 'Kafka controller' },
    ]);
  }
  const started = Date.now();
  const proc = await startKafka({
    paths: options.paths,
    port,
    controllerPort: kafkaController,
    javaCommand: s.java,
    env: s.env,
    log: s.log,
  });
  await s.stack.add({ name: 'kafka', address, process: proc });
  s.log.info(`starting Kafka on ${address} (pid ${proc.pid})`);
  await awaitReady(proc, async () => (await isPortOpen(port)) && (await probeKafka([address], 5_000)).reachable, {
    timeoutMs: s.timeoutMs,
    what: `a broker on ${address}`,
    signal: s.signal,
  });
  s.log.info(`Kafka is ready on ${address} (${seconds(started)} s)`);
  return [address];
}

async function registry(options: InfrastructureOptions, s: Settings): Promise<string> {
  if (options.external?.registryUrl) {
    await s.stack.add({ name: 'registry', address: options.external.registryUrl, process: null });
    return options.external.registryUrl;
  }
  const port = options.ports.registry;
  const url = localRegistryUrl(port);
  const answers = async (): Promise<boolean> => (await httpStatus(`${url}/subjects`)) === 200;
  if (await isPortOpen(port)) {
    const isRegistry = await answers();
    if (!isRegistry || !s.reuse)
      throw new PortInUseError([
        {
          port,
          setting: portSettings.registry,
          purpose: isRegistry ? 'a schema registry kumiki did not start' : 'schema registry',
        },
      ]);
    s.log.info(`using the schema registry already answering at ${url}`);
    await s.stack.add({ name: 'registry', address: url, process: null });
    return url;
  }
  const started = Date.now();
  const proc = await startRegistry({ paths: options.paths, port, javaCommand: s.java, env: s.env, log: s.log });
  await s.stack.add({ name: 'registry', address: url, process: proc });
  s.log.info(`starting the schema registry on port ${port} (pid ${proc.pid})`);
  await awaitReady(proc, answers, { timeoutMs: s.timeoutMs, what: `${url}/subjects`, signal: s.signal });
  s.log.info(`schema registry is ready at ${url} (${seconds(started)} s)`);
  return url;
}

function seconds(since: number): string {
  return ((Date.now() - since) / 1000).toFixed(1);
}

/**
 * Kafka and the registry as the CLI's settings describe them, reusing whatever already answers
 * (a running `kumiki up`): what the test suite and the benchmarks run against.
 */
export function startConfiguredInfrastructure(config: CliConfig, log: CliLog): Promise<Infrastructure> {
  return startInfrastructure({
    paths: config.paths,
    ports: config.ports,
    external: config.external,
    reuseRunning: true,
    javaCommand: config.javaCommand,
    env: config.childEnv,
    timeoutMs: config.startTimeoutMs,
    log,
  });
}
