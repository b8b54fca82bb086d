import path from 'node:path';
import { loadCliConfig } from '../../../services/cli/config';
import { PortInUseError } from '../../../services/cli/errors';
import { ConfigError } from '../../../services/common/errors';
import { parseJavaMajor } from '../../../services/cli/local/prerequisites';
import { serviceSpecs } from '../../../services/cli/local/services';

describe('loadCliConfig', () => {
  it('defaults to local mode on the documented ports under .kumiki', () => {
    const config = loadCliConfig({ HOME: '/home/u', PATH: '/bin' });
    expect(config.ports).toEqual({
      kafka: 9092,
      kafkaController: 9093,
      registry: 8081,
      collector: 8080,
      stitcher: 8082,
      materializer: 8083,
      activator: 8084,
    });
    expect(config.paths.home).toBe(path.resolve('.kumiki'));
    expect(config.external).toEqual({});
    expect(config.javaCommand).toBe('java');
    expect(config.childEnv.PATH).toBe('/bin');
    expect(Object.isFrozen(config)).toBe(true);
  });

  it('switches to external mode per dependency and honours every port setting', () => {
    const config = loadCliConfig({
      KAFKA_BROKERS: 'k1:9092, k2:9092',
      KUMIKI_REGISTRY_PORT: '18081',
      KUMIKI_COLLECTOR_PORT: '18080',
      KUMIKI_CACHE: '/tmp/cache',
      JAVA_HOME: '/opt/jdk',
    });
    expect(config.external).toEqual({ kafkaBrokers: ['k1:9092', 'k2:9092'] });
    expect(config.ports.registry).toBe(18081);
    expect(config.ports.collector).toBe(18080);
    expect(config.paths.cache).toBe('/tmp/cache');
    expect(config.javaCommand).toBe(path.join('/opt/jdk', 'bin', 'java'));
  });

  it('reports every bad setting at once, by name', () => {
    expect.assertions(3);
    try {
      loadCliConfig({ KUMIKI_KAFKA_PORT: 'abc', SCHEMA_REGISTRY_URL: 'not a url' });
    } catch (error) {
      expect(error).toBeInstanceOf(ConfigError);
      expect((error as ConfigError).problems.some((p) => p.startsWith('KUMIKI_KAFKA_PORT'))).toBe(true);
      expect((error as ConfigError).problems.some((p) => p.startsWith('SCHEMA_REGISTRY_URL'))).toBe(true);
    }
  });
});

describe('PortInUseError', () => {
  it('names the port, what needs it and the setting to change', () => {
    const error = new PortInUseError([{ port: 9092, setting: 'KUMIKI_KAFKA_PORT', purpose: 'Kafka' }]);
    expect(error.message).toBe(
      'port 9092 (Kafka) is already in use by another program; stop it or set KUMIKI_KAFKA_PORT to a free port',
    );
    expect(error.isRetriable).toBe(false);
  });
});

describe('parseJavaMajor', () => {
  it('reads both version schemes', () => {
    expect(parseJavaMajor('openjdk version "17.0.15" 2025-04-15')).toBe(17);
    expect(parseJavaMajor('java version "1.8.0_392"')).toBe(8);
    expect(parseJavaMajor('openjdk version "21" 2023-09-19')).toBe(21);
    expect(parseJavaMajor('nonsense')).toBeUndefined();
  });
});

describe('serviceSpecs', () => {
  const specs = serviceSpecs({
    ports: { collector: 8080, stitcher: 8082, materializer: 8083, activator: 8084 },
    brokers: ['127.0.0.1:9092'],
    registryUrl: 'http://127.0.0.1:8081/apis/ccompat/v7',
    home: '/state',
    credentials: { writeKey: 'wk_1', adminToken: 'adm_1' },
    secretsKey: 'c2VjcmV0cy1rZXktb2YtMzItYnl0ZXMtZXhhY3RseSE=',
    privacyKey: 'a'.repeat(64),
    logLevel: 'info',
  });

  it('starts downstream first so intake opens last', () => {
    expect(specs.map((s) => s.name)).toEqual(['profile-materializer', 'activator', 'identity-stitcher', 'collector']);
  });

  it('gives each service only the secret it needs', () => {
    const [materializer, activator, stitcher, collector] = specs;
    expect(collector?.env).toMatchObject({
      HTTP_PORT: '8080',
      HTTP_HOST: '127.0.0.1',
      KUMIKI_WRITE_KEY: 'wk_1',
      KAFKA_BROKERS: '127.0.0.1:9092',
    });
    expect(collector?.env.KUMIKI_ADMIN_TOKEN).toBeUndefined();
    expect(materializer?.env).toMatchObject({ HTTP_PORT: '8083', KUMIKI_ADMIN_TOKEN: 'adm_1', KUMIKI_HOME: '/state' });
    expect(materializer?.env.KUMIKI_WRITE_KEY).toBeUndefined();
    expect(stitcher?.env.KUMIKI_WRITE_KEY).toBeUndefined();
    expect(stitcher?.env.KUMIKI_ADMIN_TOKEN).toBeUndefined();
    // The activator: the admin token (its API, the read API it calls) and the secrets key, which no other gets.
    expect(activator?.env).toMatchObject({
      HTTP_PORT: '8084',
      KUMIKI_ADMIN_TOKEN: 'adm_1',
      KUMIKI_SECRETS_KEY: 'c2VjcmV0cy1rZXktb2YtMzItYnl0ZXMtZXhhY3RseSE=',
      KUMIKI_READ_API_URL: 'http://127.0.0.1:8083',
    });
    expect(activator?.env.KUMIKI_WRITE_KEY).toBeUndefined();
    for (const other of [materializer, stitcher, collector]) expect(other?.env.KUMIKI_SECRETS_KEY).toBeUndefined();
    expect(stitcher?.env.KUMIKI_PRIVACY_KEY).toBe('a'.repeat(64));
    expect(materializer?.env.KUMIKI_PRIVACY_KEY).toBe('a'.repeat(64));
    expect(activator?.env.KUMIKI_PRIVACY_KEY).toBe('a'.repeat(64));
    expect(collector?.env.KUMIKI_PRIVACY_KEY).toBeUndefined();
  });
});
