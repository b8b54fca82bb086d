import { promises as fs } from 'node:fs';
import path from 'node:path';
import { projectRoot, type LocalPaths } from '../../common/paths';
import { spawnManaged, type ManagedProcess } from './child-process';
import { ensureRuntime, type RuntimeSpec } from './runtime-cache';
import type { CliLog } from './cli-log';

/**
 * Apicurio Registry serves the Confluent schema-registry API under /apis/ccompat/v7.
 * Its state is an H2 database file under KUMIKI_HOME, so schema ids survive restarts
 * (producers embed them in every message; losing them would make old data unreadable).
 */
export const registryVersion = '3.0.9';

export const registryRuntime: RuntimeSpec = {
  label: `Apicurio Registry ${registryVersion}`,
  name: `apicurio-registry-${registryVersion}`,
  pomFile: path.join(projectRoot(), 'infra', 'registry', 'pom.xml'),
  goal: 'dependency:unpack',
};

export const confluentApiPath = '/apis/ccompat/v7';

export function registryUrl(port: number): string {
  return `http://127.0.0.1:${port}${confluentApiPath}`;
}

export function registryEnv(port: number, dataDir: string): Record<string, string> {
  return {
    QUARKUS_HTTP_HOST: '127.0.0.1',
    QUARKUS_HTTP_PORT: String(port),
    // The management interface would open a second port (9000) nobody local needs.
    QUARKUS_MANAGEMENT_ENABLED: 'false',
    APICURIO_STORAGE_KIND: 'sql',
    APICURIO_STORAGE_SQL_KIND: 'h2',
    APICURIO_DATASOURCE_URL: `jdbc:h2:file:${path.join(dataDir, 'registry')}`,
    APICURIO_DATASOURCE_USERNAME: 'sa',
    APICURIO_DATASOURCE_PASSWORD: 'sa',
    // The defaults (20 to 100 pooled connections) are sized for a server database.
    APICURIO_DATASOURCE_JDBC_INITIAL_SIZE: '2',
    APICURIO_DATASOURCE_JDBC_MIN_SIZE: '2',
    APICURIO_DATASOURCE_JDBC_MAX_SIZE: '10',
    // Confluent clients (and tests cleaning up their subjects) expect DELETE to work.
    APICURIO_REST_DELETION_ARTIFACT_ENABLED: 'true',
    APICURIO_REST_DELETION_ARTIFACT_VERSION_ENABLED: 'true',
    APICURIO_REST_DELETION_GROUP_ENABLED: 'true',
    // Apicurio logs every request by default; `kumiki status` and the services poll it.
    // What remains is a few lines per start (root WARN, io.apicurio INFO).
    QUARKUS_HTTP_ACCESS_LOG_ENABLED: 'false',
    QUARKUS_LOG_CONSOLE_FORMAT: '%d{yyyy-MM-dd HH:mm:ss,SSS} %p [%c{3.}] %s%e%n',
    QUARKUS_BANNER_ENABLED: 'false',
  };
}

export interface RegistryStartOptions {
  readonly paths: LocalPaths;
  readonly port: number;
  readonly javaCommand: string;
  readonly env: Readonly<Record<string, string>>;
  readonly log: CliLog;
}

export async function startRegistry(options: RegistryStartOptions): Promise<ManagedProcess> {
  const app = await ensureRuntime(registryRuntime, options.paths.cache, { env: options.env, log: options.log });
  await fs.mkdir(options.paths.registryData, { recursive: true });
  await fs.mkdir(options.paths.logs, { recursive: true });
  return spawnManaged({
    name: 'registry',
    command: options.javaCommand,
    args: [
      '-Xmx256m',
      '-Djava.awt.headless=true',
      '-jar',
      path.join(app, `apicurio-registry-app-${registryVersion}-runner.jar`),
    ],
    env: { ...options.env, ...registryEnv(options.port, options.paths.registryData) },
    cwd: options.paths.registryData,
    logFile: path.join(options.paths.logs, 'registry.log'),
    match: 'apicurio-registry-app',
  });
}
