import { existsSync } from 'node:fs';
import path from 'node:path';
import type { Credentials } from '../../common/credentials';
import type { Ports } from '../config';
import { ComponentFailedError } from '../errors';
import { spawnManaged, type ManagedProcess } from './child-process';
import type { ComponentName } from './run-state';

export type ServiceName = Extract<
  ComponentName,
  'profile-materializer' | 'activator' | 'identity-stitcher' | 'collector'
>;

/**
 * What each service is given: only the collector sees the write key, only the materializer and
 * the activator the admin token, only the activator the secrets key; the stitcher, the
 * materializer and the activator share the privacy key.
 */
export interface ServiceSpec {
  readonly name: ServiceName;
  readonly port: number;
  readonly env: Readonly<Record<string, string>>;
}

export interface ServiceInputs {
  readonly ports: Pick<Ports, 'collector' | 'stitcher' | 'materializer' | 'activator'>;
  readonly brokers: readonly string[];
  readonly registryUrl: string;
  readonly home: string;
  readonly credentials: Credentials;
  /** The key that encrypts destination secrets (`.kumiki/secrets.key`). */
  readonly secretsKey: string;
  readonly privacyKey: string;
  readonly logLevel: string;
  /** Embedded ClickHouse's encryption key file (local mode). */
  readonly clickhouseKeyFile?: string;
}

/** In start order: downstream first, so the collector opens intake only when its consumers are there. */
export function serviceSpecs(inputs: ServiceInputs): ServiceSpec[] {
  const shared = (port: number): Record<string, string> => ({
    KAFKA_BROKERS: inputs.brokers.join(','),
    SCHEMA_REGISTRY_URL: inputs.registryUrl,
    KUMIKI_HOME: inputs.home,
    HTTP_HOST: '127.0.0.1',
    HTTP_PORT: String(port),
    LOG_LEVEL: inputs.logLevel,
  });
  return [
    {
      name: 'profile-materializer',
      port: inputs.ports.materializer,
      env: {
        ...shared(inputs.ports.materializer),
        KUMIKI_ADMIN_TOKEN: inputs.credentials.adminToken,
        ...(inputs.clickhouseKeyFile ? { CLICKHOUSE_ENCRYPTION_KEY_FILE: inputs.clickhouseKeyFile } : {}),
        KUMIKI_PRIVACY_KEY: inputs.privacyKey,
      },
    },
    {
      name: 'activator',
      port: inputs.ports.activator,
      env: {
        ...shared(inputs.ports.activator),
        KUMIKI_ADMIN_TOKEN: inputs.credentials.adminToken,
        KUMIKI_SECRETS_KEY: inputs.secretsKey,
        KUMIKI_PRIVACY_KEY: inputs.privacyKey,
        KUMIKI_READ_API_URL: serviceUrl(inputs.ports.materializer),
        // Local tools (a receiver on this machine, the journeys demo) are what a laptop delivers to.
        ACTIVATOR_ALLOW_PRIVATE_TARGETS: 'true',
      },
    },
    {
      name: 'identity-stitcher',
      port: inputs.ports.stitcher,
      env: { ...shared(inputs.ports.stitcher), KUMIKI_PRIVACY_KEY: inputs.privacyKey },
    },
    {
      name: 'collector',
      port: inputs.ports.collector,
      env: { ...shared(inputs.ports.collector), KUMIKI_WRITE_KEY: inputs.credentials.writeKey },
    },
  ];
}

export function serviceUrl(port: number): string {
  return `http://127.0.0.1:${port}`;
}

/** The web console, served by the profile-materializer (its read API's listener). */
export function consoleUrl(materializerAddress: string): string {
  return `${materializerAddress.replace(/\/+$/, '')}/console/`;
}

export async function startService(
  spec: ServiceSpec,
  options: { servicesDir: string; logsDir: string; cwd: string; env: Readonly<Record<string, string>> },
): Promise<ManagedProcess> {
  const entry = path.join(options.servicesDir, spec.name, 'main.js');
  if (!existsSync(entry)) {
    throw new ComponentFailedError(`${entry} does not exist; build kumiki first (\`npm run build\`)`, {
      component: spec.name,
    });
  }
  return spawnManaged({
    name: spec.name,
    command: process.execPath,
    args: [entry],
    // Settings from the user's environment (CLICKHOUSE_*, NODE_OPTIONS) pass through;
    // what kumiki decides for this stack wins.
    env: { ...options.env, ...spec.env },
    cwd: options.cwd,
    logFile: path.join(options.logsDir, `${spec.name}.log`),
    match: path.join(spec.name, 'main.js'),
  });
}
