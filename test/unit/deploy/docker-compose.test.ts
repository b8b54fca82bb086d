/**
 * docker-compose.yml cannot be run here (no Docker engine), so it is checked by construction:
 * the compose file is parsed (compose-file.ts) and held against what the code reads
 * (services/common/config.ts), the ports DESIGN.md documents, the `services/` folders and
 * the TypeScript build layout. The Dockerfile has its own test (dockerfile.test.ts).
 */
import { existsSync, readdirSync, statSync } from 'node:fs';
import path from 'node:path';
import { z } from 'zod';
import { activatorEnv } from '../../../services/activator/config';
import { clickhouseEnvShape, clickhouseMaskedEnvShape, commonEnvShape } from '../../../services/common/config';
import {
  compose,
  composeText,
  dotEnv,
  env,
  healthTest,
  infraPorts,
  interBrokerName,
  interpolate,
  kafkaEnv,
  kafkaInternal,
  kumikiPorts,
  type KumikiService,
  kumikiServices,
  listeners,
  publishedPorts,
  rawEnv,
  root,
  service,
  sharedFolders,
} from './compose-file';

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
        'identity-stitcher': ['KUMIKI_PRIVACY_KEY'],
        // Every ClickHouse setting: CLICKHOUSE_URL set is what selects the server over chDB. Not
        // CLICKHOUSE_CA_FILE: the compose file's ClickHouse is plain HTTP inside its own network.
        'profile-materializer': [
          'KUMIKI_ADMIN_TOKEN',
          'KUMIKI_PRIVACY_KEY',
          ...Object.keys(clickhouseEnvShape).filter((key) => key !== 'CLICKHOUSE_CA_FILE'),
          'CLICKHOUSE_MASKED_PASSWORD',
        ],
        // The read API it calls is another container, not this machine.
        activator: ['KUMIKI_ADMIN_TOKEN', 'KUMIKI_SECRETS_KEY', 'KUMIKI_PRIVACY_KEY', 'KUMIKI_READ_API_URL'],
      };
      // KUMIKI_HOME's default (.kumiki in the working directory /app) is not writable there.
      const required = [...hostLocal, 'LOG_LEVEL', 'HTTP_PORT', 'HTTP_HOST', 'KUMIKI_HOME', ...serviceSpecific[name]];
      const known = new Set([
        ...Object.keys(commonEnvShape),
        ...Object.keys(clickhouseEnvShape),
        ...Object.keys(clickhouseMaskedEnvShape),
        'HTTP_PORT',
        'HTTP_HOST',
        'KUMIKI_WRITE_KEY',
        'KUMIKI_ADMIN_TOKEN',
        'KUMIKI_SECRETS_KEY',
        'KUMIKI_READ_API_URL',
        'KUMIKI_PRIVACY_KEY',
      ]);
      const set = Object.keys(rawEnv(name));
      expect(set).toEqual(expect.arrayContaining(required));
      expect(set.filter((key) => !known.has(key))).toEqual([]);
    });

    it("passes the code's own config schemas", () => {
      const shape =
        name === 'profile-materializer'
          ? { ...commonEnvShape, ...clickhouseEnvShape, ...clickhouseMaskedEnvShape }
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
        'identity-stitcher': ['KUMIKI_PRIVACY_KEY'],
        'profile-materializer': [
          'CLICKHOUSE_MASKED_PASSWORD',
          'CLICKHOUSE_PASSWORD',
          'KUMIKI_ADMIN_TOKEN',
          'KUMIKI_PRIVACY_KEY',
        ],
        activator: ['KUMIKI_ADMIN_TOKEN', 'KUMIKI_PRIVACY_KEY', 'KUMIKI_SECRETS_KEY'],
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
