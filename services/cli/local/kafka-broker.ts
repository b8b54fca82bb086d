import { execFile } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { existsSync, promises as fs } from 'node:fs';
import path from 'node:path';
import { projectRoot, type LocalPaths } from '../../common/paths';
import { ComponentFailedError } from '../errors';
import { spawnManaged, type ManagedProcess } from './child-process';
import { ensureRuntime, type RuntimeSpec } from './runtime-cache';
import type { CliLog } from './cli-log';

/**
 * A single-node Apache Kafka in KRaft mode (broker and controller in one JVM), with the
 * settings a one-replica cluster needs for idempotent producers, transactions and consumer
 * groups to work at all (every internal topic at replication factor 1).
 */
export const kafkaVersion = '4.1.1';

export const kafkaRuntime: RuntimeSpec = {
  label: `Kafka ${kafkaVersion} jars`,
  name: `kafka-${kafkaVersion}`,
  pomFile: path.join(projectRoot(), 'infra', 'kafka', 'pom.xml'),
  goal: 'dependency:copy-dependencies',
};

export interface BrokerSettings {
  readonly port: number;
  readonly controllerPort: number;
  readonly dataDir: string;
  /** A SASL_SSL listener beside the plaintext one (tests of TLS + SASL), with its own settings. */
  readonly secureListener?: SecureListener;
}

export interface SecureListener {
  readonly port: number;
  /** ssl.keystore.*, sasl.enabled.mechanisms, listener.name.sasl_ssl.*.sasl.jaas.config … */
  readonly properties: readonly (readonly [string, string])[];
  /** SCRAM credentials made when the storage is formatted: `SCRAM-SHA-512=[name=…,password=…]`. */
  readonly scramUsers: readonly string[];
}

export function renderServerProperties(settings: BrokerSettings): string {
  const secure = settings.secureListener;
  const entries: [string, string | number][] = [
    ['process.roles', 'broker,controller'],
    ['node.id', 1],
    ['controller.quorum.voters', `1@127.0.0.1:${settings.controllerPort}`],
    [
      'listeners',
      `PLAINTEXT://127.0.0.1:${settings.port},CONTROLLER://127.0.0.1:${settings.controllerPort}${secure ? `,SASL_SSL://127.0.0.1:${secure.port}` : ''}`,
    ],
    [
      'advertised.listeners',
      `PLAINTEXT://127.0.0.1:${settings.port}${secure ? `,SASL_SSL://127.0.0.1:${secure.port}` : ''}`,
    ],
    ['controller.listener.names', 'CONTROLLER'],
    ['listener.security.protocol.map', `PLAINTEXT:PLAINTEXT,CONTROLLER:PLAINTEXT${secure ? ',SASL_SSL:SASL_SSL' : ''}`],
    ['inter.broker.listener.name', 'PLAINTEXT'],
    ['log.dirs', settings.dataDir],
    ['num.partitions', 1],
    // One node: internal topics cannot have more replicas than brokers.
    ['offsets.topic.replication.factor', 1],
    ['transaction.state.log.replication.factor', 1],
    ['transaction.state.log.min.isr', 1],
    ['share.coordinator.state.topic.replication.factor', 1],
    ['share.coordinator.state.topic.min.isr', 1],
    // Nobody else joins a local group; waiting 3 s for them only slows every test.
    ['group.initial.rebalance.delay.ms', 0],
    // Topics are declared in services/common/kafka/topics.ts; a typo must fail, not create one.
    ['auto.create.topics.enable', 'false'],
    ...(secure?.properties ?? []).map(([key, value]): [string, string] => [key, value]),
  ];
  const header = '# Written by `kumiki up` on every start; edit the launcher, not this file.\n';
  return `${header + entries.map(([key, value]) => `${key}=${value}`).join('\n')}\n`;
}

/** A Kafka cluster id: 16 random bytes, base64url without padding (as Uuid.randomUuid()). */
export function newClusterId(): string {
  for (;;) {
    const id = randomBytes(16).toString('base64url');
    if (!id.startsWith('-')) return id; // Kafka refuses ids that look like a CLI flag
  }
}

export interface KafkaStartOptions {
  readonly paths: LocalPaths;
  readonly port: number;
  readonly controllerPort: number;
  readonly javaCommand: string;
  readonly env: Readonly<Record<string, string>>;
  readonly log: CliLog;
  readonly secureListener?: SecureListener;
}

export async function startKafka(options: KafkaStartOptions): Promise<ManagedProcess> {
  const libs = await ensureRuntime(kafkaRuntime, options.paths.cache, { env: options.env, log: options.log });
  const dataDir = path.join(options.paths.kafkaData, 'data');
  const propertiesFile = path.join(options.paths.kafkaData, 'server.properties');
  await fs.mkdir(dataDir, { recursive: true });
  await fs.mkdir(options.paths.logs, { recursive: true });
  await fs.writeFile(
    propertiesFile,
    renderServerProperties({
      port: options.port,
      controllerPort: options.controllerPort,
      dataDir,
      ...(options.secureListener ? { secureListener: options.secureListener } : {}),
    }),
  );
  const classpath = `${libs}${path.sep}*`;
  const log4j = `-Dlog4j2.configurationFile=${path.join(projectRoot(), 'infra', 'kafka', 'log4j2.properties')}`;

  // Storage is formatted once; meta.properties holds the cluster id from then on.
  if (!existsSync(path.join(dataDir, 'meta.properties'))) {
    options.log.info('formatting Kafka storage (first run only)');
    await formatStorage(
      options.javaCommand,
      [log4j, '-cp', classpath],
      propertiesFile,
      options.env,
      (options.secureListener?.scramUsers ?? []).flatMap((user) => ['--add-scram', user]),
    );
  }
  return spawnManaged({
    name: 'kafka',
    command: options.javaCommand,
    args: ['-Xmx512m', '-Xms128m', '-Djava.awt.headless=true', log4j, '-cp', classpath, 'kafka.Kafka', propertiesFile],
    env: options.env,
    cwd: options.paths.kafkaData,
    logFile: path.join(options.paths.logs, 'kafka.log'),
    match: 'kafka.Kafka',
  });
}

function formatStorage(
  java: string,
  jvmArgs: string[],
  propertiesFile: string,
  env: Readonly<Record<string, string>>,
  extraArgs: readonly string[] = [],
): Promise<void> {
  const args = [
    ...jvmArgs,
    'kafka.tools.StorageTool',
    'format',
    '-t',
    newClusterId(),
    '-c',
    propertiesFile,
    ...extraArgs,
  ];
  return new Promise((resolve, reject) => {
    execFile(java, args, { env: { ...env }, timeout: 60_000 }, (error, stdout, stderr) => {
      if (!error) return resolve();
      reject(
        new ComponentFailedError(`formatting Kafka storage failed:\n${`${stdout}${stderr}`.trim()}`, {
          component: 'kafka',
        }),
      );
    });
  });
}
