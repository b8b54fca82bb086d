import os from 'node:os';
import path from 'node:path';
import { z } from 'zod';
import { env, parseConfig, type Env } from '../common/config';
import { localPaths, projectRoot, type LocalPaths } from '../common/paths';
import { privacyKeyEnvShape } from '../common/privacy/privacy-key';

/**
 * The CLI's settings, read from the environment once in `main.ts`. Every local port is
 * configurable so a second stack (tests, a colleague's broker) can run beside the default one.
 */
export const cliEnv = z.object({
  KUMIKI_HOME: z.string().min(1).default('.kumiki'),
  /** Downloaded runtimes; outside KUMIKI_HOME so that wiping local state keeps them. */
  KUMIKI_CACHE: z.string().min(1).optional(),
  KUMIKI_KAFKA_PORT: env.port(9092),
  KUMIKI_KAFKA_CONTROLLER_PORT: env.port(9093),
  KUMIKI_REGISTRY_PORT: env.port(8081),
  KUMIKI_COLLECTOR_PORT: env.port(8080),
  KUMIKI_STITCHER_PORT: env.port(8082),
  KUMIKI_MATERIALIZER_PORT: env.port(8083),
  KUMIKI_ACTIVATOR_PORT: env.port(8084),
  /** Where the compiled services live (`<dir>/<service>/main.js`). */
  KUMIKI_SERVICES_DIR: z.string().min(1).optional(),
  /** How long each component may take to become ready. */
  KUMIKI_START_TIMEOUT_MS: env.positiveInt(120_000),
  /** External mode: set to use an existing cluster instead of starting one. */
  KAFKA_BROKERS: z.string().min(1).optional(),
  SCHEMA_REGISTRY_URL: env.url().optional(),
  JAVA_HOME: z.string().min(1).optional(),
  /** For `kumiki sql|profile|explain` against a stack that was not started by `kumiki up`. */
  KUMIKI_ADMIN_TOKEN: z.string().min(1).optional(),
  KUMIKI_READ_API_URL: env.url().optional(),
  /** For `kumiki destination …` against an activator that was not started by `kumiki up`. */
  KUMIKI_ACTIVATOR_URL: env.url().optional(),
  /** The privacy key, when the services' is not `.kumiki/privacy.key` (external mode); `kumiki privacy verify` checks reports with it. */
  KUMIKI_PRIVACY_KEY: privacyKeyEnvShape.KUMIKI_PRIVACY_KEY.optional(),
  LOG_LEVEL: env.logLevel(),
});

export interface Ports {
  readonly kafka: number;
  readonly kafkaController: number;
  readonly registry: number;
  readonly collector: number;
  readonly stitcher: number;
  readonly materializer: number;
  readonly activator: number;
}

/** The variable that sets each port, for error messages that say what to change. */
export const portSettings: Readonly<Record<keyof Ports, string>> = {
  kafka: 'KUMIKI_KAFKA_PORT',
  kafkaController: 'KUMIKI_KAFKA_CONTROLLER_PORT',
  registry: 'KUMIKI_REGISTRY_PORT',
  collector: 'KUMIKI_COLLECTOR_PORT',
  stitcher: 'KUMIKI_STITCHER_PORT',
  materializer: 'KUMIKI_MATERIALIZER_PORT',
  activator: 'KUMIKI_ACTIVATOR_PORT',
};

export interface CliConfig {
  readonly paths: LocalPaths;
  readonly ports: Ports;
  /** Set in external mode; then no local broker or registry is started. */
  readonly external: { readonly kafkaBrokers?: readonly string[]; readonly registryUrl?: string };
  readonly servicesDir: string;
  readonly startTimeoutMs: number;
  readonly javaCommand: string;
  readonly logLevel: string;
  /** Overrides of the read API's token (else credentials.json) and address (else local port). */
  readonly adminToken?: string;
  readonly readApiUrl?: string;
  readonly activatorUrl?: string;
  /** KUMIKI_PRIVACY_KEY, else the services' key is `.kumiki/privacy.key`. */
  readonly privacyKey?: string;
  /**
   * The environment children inherit (PATH, CLICKHOUSE_*, NODE_OPTIONS …); kumiki's own
   * settings for each child are laid over it.
   */
  readonly childEnv: Readonly<Record<string, string>>;
}

export function loadCliConfig(source: Env): CliConfig {
  const raw = parseConfig(cliEnv, source);
  const childEnv: Record<string, string> = {};
  for (const [name, value] of Object.entries(source)) if (value !== undefined) childEnv[name] = value;
  return Object.freeze({
    paths: localPaths(raw.KUMIKI_HOME, raw.KUMIKI_CACHE ?? path.join(os.homedir(), '.cache', 'kumiki')),
    ports: Object.freeze({
      kafka: raw.KUMIKI_KAFKA_PORT,
      kafkaController: raw.KUMIKI_KAFKA_CONTROLLER_PORT,
      registry: raw.KUMIKI_REGISTRY_PORT,
      collector: raw.KUMIKI_COLLECTOR_PORT,
      stitcher: raw.KUMIKI_STITCHER_PORT,
      materializer: raw.KUMIKI_MATERIALIZER_PORT,
      activator: raw.KUMIKI_ACTIVATOR_PORT,
    }),
    external: Object.freeze({
      ...(raw.KAFKA_BROKERS
        ? {
            kafkaBrokers: raw.KAFKA_BROKERS.split(',')
              .map((b) => b.trim())
              .filter(Boolean),
          }
        : {}),
      ...(raw.SCHEMA_REGISTRY_URL ? { registryUrl: raw.SCHEMA_REGISTRY_URL } : {}),
    }),
    servicesDir: path.resolve(raw.KUMIKI_SERVICES_DIR ?? path.join(projectRoot(), 'dist', 'services')),
    startTimeoutMs: raw.KUMIKI_START_TIMEOUT_MS,
    javaCommand: raw.JAVA_HOME ? path.join(raw.JAVA_HOME, 'bin', 'java') : 'java',
    logLevel: raw.LOG_LEVEL,
    ...(raw.KUMIKI_ADMIN_TOKEN ? { adminToken: raw.KUMIKI_ADMIN_TOKEN } : {}),
    ...(raw.KUMIKI_READ_API_URL ? { readApiUrl: raw.KUMIKI_READ_API_URL.replace(/\/+$/, '') } : {}),
    ...(raw.KUMIKI_ACTIVATOR_URL ? { activatorUrl: raw.KUMIKI_ACTIVATOR_URL.replace(/\/+$/, '') } : {}),
    ...(raw.KUMIKI_PRIVACY_KEY ? { privacyKey: raw.KUMIKI_PRIVACY_KEY } : {}),
    childEnv: Object.freeze(childEnv),
  });
}
