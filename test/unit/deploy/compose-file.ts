import { readFileSync } from 'node:fs';
import path from 'node:path';
import { parse } from 'yaml';

/** docker-compose.yml as Compose sees it (YAML merge keys resolved), for the deploy tests. */
export const root = path.resolve(__dirname, '..', '..', '..');
export const read = (file: string): string => readFileSync(path.join(root, file), 'utf8');

// ---- the compose file, as Compose sees it (YAML merge keys resolved) ----

export interface HealthCheck {
  test?: string | string[];
  disable?: boolean;
}
export interface PortObject {
  target: number | string;
  published?: number | string;
  host_ip?: string;
}
export interface ComposeService {
  image?: string;
  build?: string | { context?: string; dockerfile?: string };
  command?: string | string[];
  environment?: Record<string, string | number | boolean | null> | string[];
  ports?: (string | number | PortObject)[];
  depends_on?: string[] | Record<string, { condition?: string }>;
  healthcheck?: HealthCheck;
  restart?: string;
  volumes?: (string | { type?: string; source?: string; target?: string })[];
}
export interface ComposeFile {
  version?: unknown;
  services: Record<string, ComposeService>;
  volumes?: Record<string, unknown>;
}

export const composeText = read('docker-compose.yml');
export const compose = parse(composeText, { merge: true }) as ComposeFile;

/** The kumiki services and their ports (DESIGN.md, "Interfaces users and scripts rely on"). */
export const kumikiPorts = {
  collector: 8080,
  'identity-stitcher': 8082,
  'profile-materializer': 8083,
  activator: 8084,
} as const;
export type KumikiService = keyof typeof kumikiPorts;
export const kumikiServices = Object.keys(kumikiPorts) as KumikiService[];

/** Third-party containers and the one port each publishes on the host. */
export const infraPorts = { kafka: 9092, 'schema-registry': 8081, clickhouse: 8123 } as const;

/** Folders under services/ that hold shared code, not a process of their own. */
export const sharedFolders = new Set(['common', 'cli']);

export function service(name: string): ComposeService {
  const found = compose.services[name];
  if (!found) throw new Error(`docker-compose.yml has no service "${name}"`);
  return found;
}

/** A service's environment as written (before `${…}` substitution). */
export function rawEnv(name: string): Record<string, string> {
  const env = service(name).environment ?? {};
  if (Array.isArray(env)) {
    return Object.fromEntries(
      env.map((entry) => {
        const at = entry.indexOf('=');
        return at < 0 ? [entry, ''] : [entry.slice(0, at), entry.slice(at + 1)];
      }),
    );
  }
  return Object.fromEntries(Object.entries(env).map(([key, value]) => [key, value === null ? '' : String(value)]));
}

/**
 * Compose's variable substitution: `$$`, `$NAME`, `${NAME}`, `${NAME:-default}`,
 * `${NAME-default}`, `${NAME:?message}`, `${NAME?message}`.
 */
export function interpolate(value: string, vars: Record<string, string>): string {
  return value.replace(
    /\$\$|\$\{([A-Za-z_][A-Za-z0-9_]*)(?:(:?)([-?])([^}]*))?\}|\$([A-Za-z_][A-Za-z0-9_]*)/g,
    (match, braced?: string, colon?: string, op?: string, arg?: string, bare?: string) => {
      if (match === '$$') return '$';
      const name = (braced ?? bare)!;
      const current = vars[name];
      const missing = current === undefined || (colon === ':' && current === '');
      if (op === '-') return missing ? (arg ?? '') : current!;
      if (op === '?' && missing) throw new Error(`required variable ${name} is missing a value: ${arg ?? ''}`);
      return current ?? '';
    },
  );
}

export function env(name: string, vars: Record<string, string>): Record<string, string> {
  return Object.fromEntries(Object.entries(rawEnv(name)).map(([key, value]) => [key, interpolate(value, vars)]));
}

/** What a user puts in `.env`: only the secrets; everything else has a default. */
export const dotEnv = {
  KUMIKI_WRITE_KEY: 'wk_test',
  KUMIKI_ADMIN_TOKEN: 'adm_test_0123456789abcdef',
  KUMIKI_SECRETS_KEY: 'c2VjcmV0cy1rZXktb2YtMzItYnl0ZXMtZXhhY3RseSE=',
  KUMIKI_PRIVACY_KEY: 'ab'.repeat(32),
  CLICKHOUSE_PASSWORD: 'pw_test',
  CLICKHOUSE_MASKED_PASSWORD: 'masked_pw_0123456789',
};

export interface Published {
  hostIp?: string;
  host: number;
  container: number;
}

export function publishedPorts(name: string): Published[] {
  return (service(name).ports ?? []).map((port) => {
    if (typeof port === 'object') {
      return { hostIp: port.host_ip, host: Number(port.published), container: Number(port.target) };
    }
    const parts = String(port)
      .replace(/\/(tcp|udp)$/, '')
      .split(':');
    const container = Number(parts.pop());
    const host = parts.length > 0 ? Number(parts.pop()) : container;
    return { hostIp: parts.pop(), host, container };
  });
}

export function healthTest(name: string): string {
  const check = service(name).healthcheck;
  if (!check || check.disable) return '';
  return Array.isArray(check.test) ? check.test.join(' ') : (check.test ?? '');
}

/** Kafka's `NAME://host:port,…` lists as a map from listener name to host and port. */
export function listeners(value: string | undefined): Map<string, { host: string; port: number }> {
  const result = new Map<string, { host: string; port: number }>();
  for (const entry of (value ?? '').split(',').filter(Boolean)) {
    const match = /^([A-Z_][A-Z0-9_]*):\/\/(.*):(\d+)$/.exec(entry.trim());
    if (!match) throw new Error(`not a Kafka listener: ${entry}`);
    result.set(match[1]!, { host: match[2]!, port: Number(match[3]) });
  }
  return result;
}

export const kafkaEnv = rawEnv('kafka');
export const interBrokerName = kafkaEnv.KAFKA_INTER_BROKER_LISTENER_NAME ?? '';
/** `host:port` the other containers reach Kafka on. */
export const kafkaInternal = (() => {
  const advertised = listeners(kafkaEnv.KAFKA_ADVERTISED_LISTENERS).get(interBrokerName);
  return advertised ? `${advertised.host}:${advertised.port}` : '(no advertised inter-broker listener)';
})();
