import { existsSync } from 'node:fs';
import path from 'node:path';
import { loadOrCreateCredentials, loadOrCreateKeyFile, loadOrCreateSecretsKey } from '../../common/credentials';
import { loadOrCreatePrivacyKeyFile } from '../../common/privacy/privacy-key';
import { portSettings, type CliConfig, type Ports } from '../config';
import { PortInUseError, ComponentFailedError, StartAbortedError } from '../errors';
import { consoleLog, type CliLog } from '../local/cli-log';
import { logTail } from '../local/child-process';
import { startInfrastructure } from '../local/infrastructure';
import { awaitReady, LocalStack } from '../local/local-stack';
import { httpStatus, isPortOpen } from '../local/probes';
import { clearStack, componentOrder, liveComponents, readStack } from '../local/run-state';
import { consoleUrl, serviceSpecs, serviceUrl, startService } from '../local/services';
import { formatSummary } from './stack-summary';

/**
 * `kumiki up [--detach]`: credentials → Kafka → registry → materializer → activator → stitcher →
 * collector, each waited for before the next starts. In the foreground it then supervises:
 * Ctrl-C or SIGTERM stops everything in reverse order (a second one kills at once), and a
 * component that dies takes the stack down with it rather than leaving it half-working.
 */
export async function upCommand(
  config: CliConfig,
  options: { detach: boolean },
  log: CliLog = consoleLog,
): Promise<number> {
  const { paths } = config;
  if (await alreadyRunning(config, log)) return 1;

  const credentials = await loadOrCreateCredentials(paths.credentials);
  // Embedded ClickHouse stores its tables encrypted with this key, kept beside the credentials (0600).
  const clickhouseKeyFile = path.join(path.dirname(paths.credentials), 'clickhouse.key');
  if (!config.childEnv.CLICKHOUSE_URL) await loadOrCreateKeyFile(clickhouseKeyFile);
  const secretsKey = await loadOrCreateSecretsKey(paths.secretsKey);
  // Services on other hosts must share one key: KUMIKI_PRIVACY_KEY from the environment wins.
  const privacyKey = config.privacyKey ?? (await loadOrCreatePrivacyKeyFile(paths.privacyKey));
  await preflight(config);

  const stack = new LocalStack(paths.run, log, options.detach ? null : process.pid);
  const abort = new AbortController();
  let stopRequested: (signal: string) => void = () => undefined;
  const stopSignal = new Promise<string>((resolve) => (stopRequested = resolve));
  let signals = 0;
  const onSignal = (signal: NodeJS.Signals): void => {
    signals += 1;
    if (signals === 1) {
      log.info(`${signal} received: stopping (press Ctrl-C again to kill everything at once)`);
      abort.abort();
      stopRequested(signal);
    } else {
      log.warn('stopping now, without waiting for a clean shutdown');
      void stack.forceStop();
    }
  };
  const handled: NodeJS.Signals[] = ['SIGINT', 'SIGTERM', 'SIGHUP'];
  for (const signal of handled) process.on(signal, onSignal);
  const release = (): void => {
    for (const signal of handled) process.off(signal, onSignal);
  };

  try {
    const infrastructure = await startInfrastructure({
      paths,
      ports: config.ports,
      log,
      external: config.external,
      reuseRunning: false,
      javaCommand: config.javaCommand,
      env: config.childEnv,
      timeoutMs: config.startTimeoutMs,
      signal: abort.signal,
      stack,
    });
    const specs = serviceSpecs({
      ports: config.ports,
      brokers: infrastructure.brokers,
      registryUrl: infrastructure.registryUrl,
      home: paths.home,
      credentials,
      secretsKey,
      privacyKey,
      logLevel: config.logLevel,
      ...(config.childEnv.CLICKHOUSE_URL ? {} : { clickhouseKeyFile }),
    });
    for (const spec of specs) {
      const started = Date.now();
      const proc = await startService(spec, {
        servicesDir: config.servicesDir,
        logsDir: paths.logs,
        cwd: process.cwd(),
        env: config.childEnv,
      });
      await stack.add({ name: spec.name, address: serviceUrl(spec.port), process: proc });
      log.info(`starting ${spec.name} on ${serviceUrl(spec.port)} (pid ${proc.pid})`);
      await awaitReady(proc, async () => (await httpStatus(`${serviceUrl(spec.port)}/ready`)) === 200, {
        timeoutMs: config.startTimeoutMs,
        what: `GET ${serviceUrl(spec.port)}/ready to answer 200`,
        signal: abort.signal,
      });
      log.info(`${spec.name} is ready (${((Date.now() - started) / 1000).toFixed(1)} s)`);
    }
  } catch (error) {
    if (!(error instanceof StartAbortedError) && stack.components.length > 0)
      log.warn('start failed; stopping what was started');
    await stack.stop();
    release();
    if (error instanceof StartAbortedError) return 0;
    throw error;
  }

  process.stdout.write(
    `\n${formatSummary({
      components: stack.components.map((c) => ({ name: c.name, address: c.address, pid: c.process?.pid ?? null })),
      credentials,
      credentialsFile: paths.credentials,
      logsDir: paths.logs,
      consoleUrl: consoleUrl(serviceUrl(config.ports.materializer)),
      detached: options.detach,
      cwd: process.cwd(),
    })}\n`,
  );

  if (options.detach) {
    stack.release();
    release();
    return 0;
  }
  const crashed = stack.components.flatMap((c) => (c.process ? [c.process.exited.then(() => c.process!)] : []));
  const outcome = await Promise.race([stopSignal.then(() => undefined), ...crashed]);
  let code = 0;
  if (outcome) {
    const tail = await logTail(outcome.logFile, outcome.logOffset, 20);
    log.warn(`${outcome.name} exited unexpectedly; stopping the stack. Last lines of ${outcome.logFile}:\n${tail}`);
    code = 1;
  }
  await stack.stop();
  release();
  log.info('kumiki is stopped');
  return code;
}

/** A recorded stack that is still alive is reported, never started twice; a dead one is cleared. */
async function alreadyRunning(config: CliConfig, log: CliLog): Promise<boolean> {
  const stack = await readStack(config.paths.run);
  if (!stack) return false;
  const live = liveComponents(stack);
  if (live.length === 0) {
    await clearStack(config.paths.run);
    return false;
  }
  const owned = stack.components.filter((c) => c.pid !== null).length;
  const names = live.map((c) => `${c.name} (pid ${c.pid})`).join(', ');
  log.warn(
    live.length === owned && stack.components.length === componentOrder.length
      ? `kumiki is already running from ${config.paths.home}: ${names}. See \`kumiki status\`; stop it with \`kumiki down\`.`
      : `part of an earlier kumiki stack is still running from ${config.paths.home}: ${names}. Run \`kumiki down\` first.`,
  );
  return true;
}

/** Everything that can be checked before starting anything, reported all at once. */
async function preflight(config: CliConfig): Promise<void> {
  const needed: (keyof Ports)[] = [
    ...(config.external.kafkaBrokers ? [] : (['kafka', 'kafkaController'] as const)),
    ...(config.external.registryUrl ? [] : (['registry'] as const)),
    'materializer',
    'activator',
    'stitcher',
    'collector',
  ];
  const purposes: Record<keyof Ports, string> = {
    kafka: 'Kafka',
    kafkaController: 'Kafka controller',
    registry: 'schema registry',
    materializer: 'profile-materializer',
    activator: 'activator',
    stitcher: 'identity-stitcher',
    collector: 'collector',
  };
  const busy: { port: number; setting: string; purpose: string }[] = [];
  for (const key of needed) {
    if (await isPortOpen(config.ports[key]))
      busy.push({ port: config.ports[key], setting: portSettings[key], purpose: purposes[key] });
  }
  if (busy.length > 0) throw new PortInUseError(busy);
  for (const name of ['profile-materializer', 'activator', 'identity-stitcher', 'collector']) {
    const entry = path.join(config.servicesDir, name, 'main.js');
    if (!existsSync(entry))
      throw new ComponentFailedError(`${entry} does not exist; build kumiki first (\`npm run build\`)`, {
        component: name,
      });
  }
}
