/**
 * docker-compose.yml and the Dockerfile cannot be run here (no Docker engine), so they are
 * checked by construction: the compose file is parsed and held against what the code reads
 * (services/common/config.ts), the ports DESIGN.md documents, the `services/` folders and
 * the TypeScript build layout; the Dockerfile is parsed into stages and instructions.
 */
import { existsSync, readdirSync, readFileSync, statSync } from 'node:fs';
import path from 'node:path';
import { parse } from 'yaml';
import { z } from 'zod';
import { activatorEnv } from '../../../services/activator/config';
import { clickhouseEnvShape, commonEnvShape } from '../../../services/common/config';

const root = path.resolve(__dirname, '..', '..', '..');
const read = (file: string): string => readFileSync(path.join(root, file), 'utf8');

// ---- the compose file, as Compose sees it (YAML merge keys resolved) ----

interface HealthCheck {
  test?: string | string[];
  disable?: boolean;
}
interface PortObject {
  target: number | string;
  published?: number | string;
  host_ip?: string;
}
interface ComposeService {
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
interface ComposeFile {
  version?: unknown;
  services: Record<string, ComposeService>;
  volumes?: Record<string, unknown>;
}

const composeText = read('docker-compose.yml');
const compose = parse(composeText, { merge: true }) as ComposeFile;

/** The kumiki services and their ports (DESIGN.md, "Interfaces users and scripts rely on"). */
const kumikiPorts = {
  collector: 8080,
  'identity-stitcher': 8082,
  'profile-materializer': 8083,
  activator: 8084,
} as const;
type KumikiService = keyof typeof kumikiPorts;
const kumikiServices = Object.keys(kumikiPorts) as KumikiService[];

/** Third-party containers and the one port each publishes on the host. */
const infraPorts = { kafka: 9092, 'schema-registry': 8081, clickhouse: 8123 } as const;

/** Folders under services/ that hold shared code, not a process of their own. */
const sharedFolders = new Set(['common', 'cli']);

function service(name: string): ComposeService {
  const found = compose.services[name];
  if (!found) throw new Error(`docker-compose.yml has no service "${name}"`);
  return found;
}

/** A service's environment as written (before `${…}` substitution). */
function rawEnv(name: string): Record<string, string> {
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
function interpolate(value: string, vars: Record<string, string>): string {
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

function env(name: string, vars: Record<string, string>): Record<string, string> {
  return Object.fromEntries(Object.entries(rawEnv(name)).map(([key, value]) => [key, interpolate(value, vars)]));
}

/** What a user puts in `.env`: only the secrets; everything else has a default. */
const dotEnv = {
  KUMIKI_WRITE_KEY: 'wk_test',
  KUMIKI_ADMIN_TOKEN: 'adm_test_0123456789abcdef',
  KUMIKI_SECRETS_KEY: 'c2VjcmV0cy1rZXktb2YtMzItYnl0ZXMtZXhhY3RseSE=',
  CLICKHOUSE_PASSWORD: 'pw_test',
};

interface Published {
  hostIp?: string;
  host: number;
  container: number;
}

function publishedPorts(name: string): Published[] {
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

function healthTest(name: string): string {
  const check = service(name).healthcheck;
  if (!check || check.disable) return '';
  return Array.isArray(check.test) ? check.test.join(' ') : (check.test ?? '');
}

/** Kafka's `NAME://host:port,…` lists as a map from listener name to host and port. */
function listeners(value: string | undefined): Map<string, { host: string; port: number }> {
  const result = new Map<string, { host: string; port: number }>();
  for (const entry of (value ?? '').split(',').filter(Boolean)) {
    const match = /^([A-Z_][A-Z0-9_]*):\/\/(.*):(\d+)$/.exec(entry.trim());
    if (!match) throw new Error(`not a Kafka listener: ${entry}`);
    result.set(match[1]!, { host: match[2]!, port: Number(match[3]) });
  }
  return result;
}

const kafkaEnv = rawEnv('kafka');
const interBrokerName = kafkaEnv.KAFKA_INTER_BROKER_LISTENER_NAME ?? '';
/** `host:port` the other containers reach Kafka on. */
const kafkaInternal = (() => {
  const advertised = listeners(kafkaEnv.KAFKA_ADVERTISED_LISTENERS).get(interBrokerName);
  return advertised ? `${advertised.host}:${advertised.port}` : '(no advertised inter-broker listener)';
})();

// ---- the Dockerfile, as instructions grouped by stage ----

interface Instruction {
  keyword: string;
  args: string;
}
interface Stage {
  base: string;
  name?: string;
  instructions: Instruction[];
}

function dockerfileStages(text: string): Stage[] {
  const logical = text
    .split('\n')
    .filter((line) => !/^\s*#/.test(line))
    .join('\n')
    .replace(/\\\n/g, ' ')
    .split('\n')
    .map((line) => line.trim())
    .filter(Boolean);
  const stages: Stage[] = [];
  for (const line of logical) {
    const [keyword = '', ...rest] = line.split(/\s+/);
    const args = rest.join(' ');
    if (keyword.toUpperCase() === 'FROM') {
      const match = /^(?:--platform=\S+\s+)?(\S+)(?:\s+AS\s+(\S+))?$/i.exec(args);
      stages.push({ base: match?.[1] ?? args, name: match?.[2], instructions: [] });
    } else if (stages.length > 0) {
      stages[stages.length - 1]!.instructions.push({ keyword: keyword.toUpperCase(), args });
    }
  }
  return stages;
}

const dockerfile = dockerfileStages(read('Dockerfile'));
const runtimeStage = dockerfile[dockerfile.length - 1]!;
const of = (stage: Stage, keyword: string): string[] =>
  stage.instructions.filter((instruction) => instruction.keyword === keyword).map((instruction) => instruction.args);

/** `COPY [--flags] src… dest` as its flags, sources and destination. */
function copyArgs(args: string): { from?: string; sources: string[]; dest: string } {
  const words = args.startsWith('[') ? (JSON.parse(args) as string[]) : args.split(/\s+/);
  const from = words.find((word) => word.startsWith('--from='))?.slice('--from='.length);
  const paths = words.filter((word) => !word.startsWith('--'));
  return { from, sources: paths.slice(0, -1), dest: paths[paths.length - 1] ?? '' };
}

const dockerignore = read('.dockerignore')
  .split('\n')
  .map((line) => line.trim())
  .filter((line) => line && !line.startsWith('#'));

/** Whether .dockerignore keeps a top-level path out of the build context (simple globs only). */
function ignored(relative: string): boolean {
  const top = relative.replace(/^\.\//, '').split('/')[0]!;
  return dockerignore.some((pattern) => {
    const regex = new RegExp(
      `^${pattern
        .replace(/\/$/, '')
        .replace(/[.+^${}()|[\]\\]/g, '\\$&')
        .replace(/\*/g, '[^/]*')}$`,
    );
    return regex.test(top) || regex.test(relative);
  });
}

// ---- the tests ----

describe('docker-compose.yml', () => {
  it('is a Compose-spec file (no legacy `version:` key) naming exactly the seven services', () => {
    expect(compose.version).toBeUndefined();
    expect(Object.keys(compose.services).sort()).toEqual([
      'activator',
      'clickhouse',
      'collector',
      'identity-stitcher',
      'kafka',
      'profile-materializer',
      'schema-registry',
    ]);
  });

  it('has a kumiki service for every service folder, and a folder for every kumiki service', () => {
    const folders = readdirSync(path.join(root, 'services'))
      .filter((entry) => statSync(path.join(root, 'services', entry)).isDirectory())
      .filter((entry) => !sharedFolders.has(entry))
      .sort();
    expect(folders).toEqual([...kumikiServices].sort());
  });

  it.each(Object.entries({ ...infraPorts, ...kumikiPorts }))(
    '%s publishes its documented port %i on the same host port',
    (name, port) => {
      const published = publishedPorts(name);
      expect(published).toContainEqual(expect.objectContaining({ host: port, container: port }));
    },
  );

  it('documents every published port, next to its service, in the header comment', () => {
    const header = composeText
      .split('\n')
      .filter((line) => line.startsWith('#'))
      .join('\n');
    for (const name of Object.keys(compose.services)) {
      for (const { host } of publishedPorts(name)) {
        expect(header).toMatch(new RegExp(`\\b${host}\\s+${name}\\b`));
      }
    }
    expect(header).toContain('docker compose up -d');
    expect(header).toContain('/apis/ccompat/v7');
  });

  describe.each(kumikiServices)('%s', (name) => {
    const port = kumikiPorts[name];

    it('is built from the repository Dockerfile and runs dist/services/<service>/main.js', () => {
      const build = service(name).build;
      const context = typeof build === 'string' ? build : build?.context;
      const file = typeof build === 'object' ? (build.dockerfile ?? 'Dockerfile') : 'Dockerfile';
      expect(path.resolve(root, context ?? '')).toBe(root);
      expect(existsSync(path.join(root, file))).toBe(true);
      expect(service(name).command).toEqual(['node', `dist/services/${name}/main.js`]);
    });

    it('listens on its published port on all container interfaces', () => {
      const values = env(name, dotEnv);
      expect(values.HTTP_PORT).toBe(String(port));
      expect(values.HTTP_HOST).toBe('0.0.0.0');
      expect(publishedPorts(name).map((published) => published.container)).toEqual([port]);
    });

    it('gets every variable the code needs in a container, and no unknown ones', () => {
      // A default that points at this machine (127.0.0.1 …) is wrong inside a container.
      const hostLocal = Object.entries(commonEnvShape)
        .filter(([, schema]) => {
          const parsed = schema.safeParse(undefined);
          return !parsed.success || /127\.0\.0\.1|localhost/.test(JSON.stringify(parsed.data));
        })
        .map(([key]) => key);
      expect(hostLocal).toEqual(expect.arrayContaining(['KAFKA_BROKERS', 'SCHEMA_REGISTRY_URL']));

      const serviceSpecific: Record<KumikiService, string[]> = {
        collector: ['KUMIKI_WRITE_KEY'],
        'identity-stitcher': [],
        // Every ClickHouse setting: CLICKHOUSE_URL set is what selects the server over chDB.
        'profile-materializer': ['KUMIKI_ADMIN_TOKEN', ...Object.keys(clickhouseEnvShape)],
        // The read API it calls is another container, not this machine.
        activator: ['KUMIKI_ADMIN_TOKEN', 'KUMIKI_SECRETS_KEY', 'KUMIKI_READ_API_URL'],
      };
      // KUMIKI_HOME's default (.kumiki in the working directory /app) is not writable there.
      const required = [...hostLocal, 'LOG_LEVEL', 'HTTP_PORT', 'HTTP_HOST', 'KUMIKI_HOME', ...serviceSpecific[name]];
      const known = new Set([
        ...Object.keys(commonEnvShape),
        ...Object.keys(clickhouseEnvShape),
        'HTTP_PORT',
        'HTTP_HOST',
        'KUMIKI_WRITE_KEY',
        'KUMIKI_ADMIN_TOKEN',
        'KUMIKI_SECRETS_KEY',
        'KUMIKI_READ_API_URL',
      ]);
      const set = Object.keys(rawEnv(name));
      expect(set).toEqual(expect.arrayContaining(required));
      expect(set.filter((key) => !known.has(key))).toEqual([]);
    });

    it("passes the code's own config schemas", () => {
      const shape =
        name === 'profile-materializer'
          ? { ...commonEnvShape, ...clickhouseEnvShape }
          : name === 'activator'
            ? activatorEnv.shape
            : commonEnvShape;
      const parsed = z.object(shape).safeParse(env(name, dotEnv));
      expect(
        parsed.success ? [] : parsed.error.issues.map((issue) => `${issue.path.join('.')}: ${issue.message}`),
      ).toEqual([]);
    });

    it("reaches Kafka on the kafka service's internal listener and the registry at its root URL", () => {
      const values = env(name, dotEnv);
      expect(commonEnvShape.KAFKA_BROKERS.parse(values.KAFKA_BROKERS)).toEqual([kafkaInternal]);
      const registry = new URL(values.SCHEMA_REGISTRY_URL ?? '');
      expect(registry.hostname).toBe('schema-registry');
      expect(Number(registry.port)).toBe(infraPorts['schema-registry']);
      // Confluent's registry serves its API at the root; /apis/ccompat/v7 is Apicurio's.
      expect(registry.pathname).toBe('/');
    });

    it('reads secrets from .env with a clear message, never a value written in the file', () => {
      const expected: Record<KumikiService, string[]> = {
        collector: ['KUMIKI_WRITE_KEY'],
        'identity-stitcher': [],
        'profile-materializer': ['CLICKHOUSE_PASSWORD', 'KUMIKI_ADMIN_TOKEN'],
        activator: ['KUMIKI_ADMIN_TOKEN', 'KUMIKI_SECRETS_KEY'],
      };
      const secrets = Object.entries(rawEnv(name)).filter(([key]) => /KEY|TOKEN|PASSWORD/.test(key));
      expect(secrets.map(([key]) => key).sort()).toEqual(expected[name]);
      for (const [key, value] of secrets) {
        expect(value).toMatch(new RegExp(`^\\$\\{${key}:\\?[^}]*\\.env[^}]*\\}$`));
        expect(() => interpolate(value, {})).toThrow(/\.env/);
      }
    });

    it('reports healthy through GET /health on its own port', () => {
      expect(healthTest(name)).toContain(`http://127.0.0.1:${port}/health`);
    });

    it('starts only after Kafka and the registry (and ClickHouse for the materializer) are healthy', () => {
      const needs =
        name === 'profile-materializer' ? ['kafka', 'schema-registry', 'clickhouse'] : ['kafka', 'schema-registry'];
      expect(Object.keys(service(name).depends_on ?? {}).sort()).toEqual(needs.sort());
    });
  });

  it('sets up Kafka as one KRaft node with an internal and a host listener', () => {
    const declared = listeners(kafkaEnv.KAFKA_LISTENERS);
    const advertised = listeners(kafkaEnv.KAFKA_ADVERTISED_LISTENERS);
    const protocols = new Set(
      (kafkaEnv.KAFKA_LISTENER_SECURITY_PROTOCOL_MAP ?? '').split(',').map((pair) => pair.split(':')[0]),
    );
    const controller = kafkaEnv.KAFKA_CONTROLLER_LISTENER_NAMES ?? '';

    expect(kafkaEnv.KAFKA_PROCESS_ROLES?.split(',').sort()).toEqual(['broker', 'controller']);
    expect([...declared.keys()].every((listener) => protocols.has(listener))).toBe(true);
    expect(declared.has(controller)).toBe(true);
    expect(kafkaEnv.KAFKA_CONTROLLER_QUORUM_VOTERS).toBe(
      `${kafkaEnv.KAFKA_NODE_ID}@kafka:${declared.get(controller)?.port}`,
    );

    // Internal listener: advertised under the service name, on the port it listens on.
    expect(kafkaInternal).toBe(`kafka:${declared.get(interBrokerName)?.port}`);
    // Host listener: advertised as localhost on the published 9092.
    const hostListener = [...advertised.entries()].find(([, address]) => address.port === infraPorts.kafka);
    expect(hostListener?.[1].host).toMatch(/^(localhost|127\.0\.0\.1)$/);
    expect(declared.get(hostListener?.[0] ?? '')?.port).toBe(infraPorts.kafka);
    expect(advertised.has(controller)).toBe(false);
  });

  it("gives Kafka's internal topics one replica, which the stitcher's transactions need on one broker", () => {
    expect(kafkaEnv.KAFKA_OFFSETS_TOPIC_REPLICATION_FACTOR).toBe('1');
    expect(kafkaEnv.KAFKA_TRANSACTION_STATE_LOG_REPLICATION_FACTOR).toBe('1');
    expect(kafkaEnv.KAFKA_TRANSACTION_STATE_LOG_MIN_ISR).toBe('1');
    expect(kafkaEnv.KAFKA_LOG_DIRS).toBeDefined();
    const dataMount = (service('kafka').volumes ?? [])
      .map(String)
      .find((volume) => volume.endsWith(`:${kafkaEnv.KAFKA_LOG_DIRS}`));
    expect(dataMount).toBeDefined();
  });

  it('runs the schema registry on the internal Kafka listener with BACKWARD compatibility', () => {
    const registryEnv = rawEnv('schema-registry');
    expect(registryEnv.SCHEMA_REGISTRY_KAFKASTORE_BOOTSTRAP_SERVERS).toBe(`PLAINTEXT://${kafkaInternal}`);
    expect(registryEnv.SCHEMA_REGISTRY_LISTENERS).toBe(`http://0.0.0.0:${infraPorts['schema-registry']}`);
    expect(registryEnv.SCHEMA_REGISTRY_SCHEMA_COMPATIBILITY_LEVEL?.toUpperCase()).toBe('BACKWARD');
  });

  it.each<Record<string, string>>([{}, { CLICKHOUSE_USER: 'analyst', CLICKHOUSE_DATABASE: 'cdp' }])(
    'gives the materializer the ClickHouse server it starts, with the same credentials (%o)',
    (overrides) => {
      const vars: Record<string, string> = { ...dotEnv, ...overrides };
      const materializer = env('profile-materializer', vars);
      const clickhouse = env('clickhouse', vars);
      const url = new URL(materializer.CLICKHOUSE_URL ?? '');
      expect(url.hostname).toBe('clickhouse');
      expect(Number(url.port)).toBe(infraPorts.clickhouse);
      expect(materializer.CLICKHOUSE_USER).toBe(clickhouse.CLICKHOUSE_USER);
      expect(materializer.CLICKHOUSE_PASSWORD).toBe(clickhouse.CLICKHOUSE_PASSWORD);
      expect(materializer.CLICKHOUSE_DATABASE).toBe(clickhouse.CLICKHOUSE_DB);
      expect(clickhouse.CLICKHOUSE_PASSWORD).toBe(dotEnv.CLICKHOUSE_PASSWORD);
    },
  );

  it('has a healthcheck on every container that probes what the brief names', () => {
    for (const name of Object.keys(compose.services)) {
      expect([name, healthTest(name)]).toEqual([name, expect.stringMatching(/\S/)]);
    }
    expect(healthTest('kafka')).toMatch(
      new RegExp(`kafka-broker-api-versions\\.sh --bootstrap-server (${kafkaInternal}|localhost:9092)`),
    );
    expect(healthTest('schema-registry')).toMatch(
      new RegExp(`${infraPorts['schema-registry']}\\b[\\s\\S]*GET /subjects`),
    );
    expect(healthTest('clickhouse')).toContain(`http://127.0.0.1:${infraPorts.clickhouse}/ping`);
  });

  it('waits only for healthy dependencies, all of which have a healthcheck', () => {
    for (const [name, definition] of Object.entries(compose.services)) {
      const dependsOn = definition.depends_on ?? {};
      expect([name, Array.isArray(dependsOn)]).toEqual([name, false]);
      for (const [dependency, settings] of Object.entries(dependsOn as Record<string, { condition?: string }>)) {
        expect([name, dependency, settings.condition]).toEqual([name, dependency, 'service_healthy']);
        expect(healthTest(dependency)).not.toBe('');
      }
    }
    expect(Object.keys(service('schema-registry').depends_on ?? {})).toEqual(['kafka']);
  });

  it('restarts every container and keeps state in declared named volumes', () => {
    for (const [name, definition] of Object.entries(compose.services)) {
      expect([name, definition.restart]).toEqual([name, expect.stringMatching(/^(always|unless-stopped|on-failure)/)]);
    }
    const named = Object.values(compose.services)
      .flatMap((definition) => definition.volumes ?? [])
      .map((volume) => (typeof volume === 'string' ? volume.split(':')[0]! : (volume.source ?? '')))
      .filter((source) => !/^[./~]/.test(source));
    expect(named.sort()).toEqual(Object.keys(compose.volumes ?? {}).sort());
    expect(named.length).toBeGreaterThanOrEqual(2);
  });
});

describe('Dockerfile', () => {
  const build = dockerfile.find((stage) => stage.name === 'build');
  const packageJson = JSON.parse(read('package.json')) as { scripts: Record<string, string> };

  it('builds on node 20 and runs a slim node 20 runtime as a non-root user', () => {
    expect(build?.base).toMatch(/^node:20(-|$)/);
    expect(runtimeStage.base).toMatch(/^node:20-.*slim$/);
    expect(of(runtimeStage, 'USER')).toEqual(['node']);
  });

  it('installs with npm ci, compiles with npm run build and keeps only production dependencies', () => {
    const runs = of(build!, 'RUN').join(' && ');
    expect(runs).toMatch(/npm ci\b/);
    expect(runs).toMatch(/npm run build\b/);
    expect(runs).toMatch(/npm (prune|ci) [^&]*--omit=dev/);
    expect(packageJson.scripts.build).toBeDefined();
  });

  it('does not let npm ci run the root `prepare` script before the sources are copied', () => {
    const order = build!.instructions;
    const sourcesAt = order.findIndex(
      (instruction) => instruction.keyword === 'COPY' && copyArgs(instruction.args).sources.includes('.'),
    );
    expect(sourcesAt).toBeGreaterThan(-1);
    const earlyInstalls = order
      .slice(0, sourcesAt)
      .filter((instruction) => instruction.keyword === 'RUN' && /npm ci\b/.test(instruction.args));
    expect(earlyInstalls.length).toBeGreaterThan(0);
    if (packageJson.scripts.prepare) {
      for (const install of earlyInstalls) expect(install.args).toContain('--ignore-scripts');
    }
  });

  it('copies into the build only files that exist and that .dockerignore lets through', () => {
    for (const args of of(build!, 'COPY')) {
      for (const source of copyArgs(args).sources) {
        expect([source, existsSync(path.join(root, source))]).toEqual([source, true]);
        if (source !== '.') expect([source, ignored(source)]).toEqual([source, false]);
      }
    }
    for (const mustStayOut of ['node_modules', 'dist', '.kumiki', '.env', '.git']) {
      expect([mustStayOut, ignored(mustStayOut)]).toEqual([mustStayOut, true]);
    }
  });

  it('puts dist/services/<service>/main.js, built from services/<service>/main.ts, where the compose commands look', () => {
    const tsconfig = JSON.parse(read('tsconfig.json')) as { compilerOptions: { outDir: string; rootDir: string } };
    const tsconfigBuild = JSON.parse(read('tsconfig.build.json')) as {
      extends?: string;
      include: string[];
      compilerOptions?: { outDir?: string; rootDir?: string };
    };
    const outDir = tsconfigBuild.compilerOptions?.outDir ?? tsconfig.compilerOptions.outDir;
    const rootDir = tsconfigBuild.compilerOptions?.rootDir ?? tsconfig.compilerOptions.rootDir;
    expect(packageJson.scripts.build).toContain('tsconfig.build.json');
    expect(tsconfigBuild.extends).toBe('./tsconfig.json');
    expect(path.normalize(rootDir)).toBe('.');
    expect(tsconfigBuild.include).toContain('services');

    const workdir = of(runtimeStage, 'WORKDIR').pop() ?? '/';
    const copied = of(runtimeStage, 'COPY').map(copyArgs);
    const distCopy = copied.find(
      (copy) => copy.from === 'build' && copy.sources.some((source) => path.posix.basename(source) === outDir),
    );
    expect(distCopy).toBeDefined();
    expect(path.posix.resolve(workdir, distCopy!.dest)).toBe(path.posix.join(workdir, outDir));

    for (const name of kumikiServices) {
      const command = service(name).command as string[];
      const compiled = path.posix
        .join(outDir, path.posix.relative(rootDir, `services/${name}/main.ts`))
        .replace(/\.ts$/, '.js');
      expect(command[1]).toBe(compiled);
      expect(statSync(path.join(root, 'services', name)).isDirectory()).toBe(true);
    }
  });

  it('copies into the runtime only build outputs or files the repository has', () => {
    const buildWorkdir = of(build!, 'WORKDIR').pop() ?? '/';
    const produced = new Set(['dist', 'node_modules', 'package.json']);
    for (const copy of of(runtimeStage, 'COPY').map(copyArgs)) {
      expect(copy.from).toBe('build');
      for (const source of copy.sources) {
        const relative = path.posix.relative(buildWorkdir, source);
        const exists = produced.has(relative) || (existsSync(path.join(root, relative)) && !ignored(relative));
        expect([relative, exists]).toEqual([relative, true]);
      }
    }
  });

  it('gives the services a writable KUMIKI_HOME, the one compose sets', () => {
    const home = env('collector', dotEnv).KUMIKI_HOME ?? '';
    expect(path.posix.isAbsolute(home)).toBe(true);
    for (const name of kumikiServices) expect(env(name, dotEnv).KUMIKI_HOME).toBe(home);
    const runs = of(runtimeStage, 'RUN').join(' && ');
    expect(runs).toContain(`mkdir -p ${home}`);
    expect(runs).toMatch(new RegExp(`chown node:node ${home.replace(/[/.]/g, '\\$&')}`));
  });
});
