import { ConfigError } from '../../../services/common/errors';
import { loadCollectorConfig } from '../../../services/collector/config';
import { loadMaterializerConfig } from '../../../services/profile-materializer/config';
import { loadStitcherConfig } from '../../../services/identity-stitcher/config';

/** The one setting the stitcher and the materializer cannot default: the privacy key they share. */
const key = { KUMIKI_PRIVACY_KEY: 'ab'.repeat(32) };

describe('service configuration', () => {
  it('fills every default and freezes the result', () => {
    const config = loadStitcherConfig(key);
    expect(config).toMatchObject({
      KAFKA_BROKERS: ['127.0.0.1:9092'],
      SCHEMA_REGISTRY_URL: 'http://127.0.0.1:8081/apis/ccompat/v7',
      HTTP_HOST: '127.0.0.1',
      HTTP_PORT: 8082,
      LOG_LEVEL: 'info',
      LOG_PRETTY: false,
    });
    expect(Object.isFrozen(config)).toBe(true);
    expect(Object.isFrozen(config.KAFKA_BROKERS)).toBe(true);
  });

  it('splits and trims broker lists', () => {
    expect(loadStitcherConfig({ ...key, KAFKA_BROKERS: ' a:1, b:2 ,' }).KAFKA_BROKERS).toEqual(['a:1', 'b:2']);
  });

  it('reports every bad variable at once, each by name', () => {
    let caught: unknown;
    try {
      loadCollectorConfig({ HTTP_PORT: 'eighty', SCHEMA_REGISTRY_URL: 'not a url', LOG_LEVEL: 'loud' });
    } catch (error) {
      caught = error;
    }
    expect(caught).toBeInstanceOf(ConfigError);
    const problems = (caught as ConfigError).problems;
    expect(problems).toHaveLength(4);
    expect(problems.find((p) => p.startsWith('HTTP_PORT="eighty"'))).toBeDefined();
    expect(problems.find((p) => p.startsWith('SCHEMA_REGISTRY_URL="not a url"'))).toMatch(/URL/);
    expect(problems.find((p) => p.startsWith('LOG_LEVEL="loud"'))).toBeDefined();
    expect(problems.find((p) => p.startsWith('KUMIKI_WRITE_KEY'))).toMatch(/required/);
    expect((caught as ConfigError).isRetriable).toBe(false);
    expect((caught as ConfigError).message).toContain('\n  - HTTP_PORT');
  });

  it('refuses to start the stitcher or the materializer without a privacy key, naming the variable', () => {
    expect(() => loadStitcherConfig({})).toThrow(/KUMIKI_PRIVACY_KEY: is required/);
    expect(() =>
      loadMaterializerConfig({ KUMIKI_ADMIN_TOKEN: 'adm_0123456789abcdef', KUMIKI_PRIVACY_KEY: 'xyz' }),
    ).toThrow(/KUMIKI_PRIVACY_KEY="xyz": must be 64 hex characters/);
  });

  it('uses embedded ClickHouse unless CLICKHOUSE_URL is set', () => {
    const token = 'adm_0123456789abcdef';
    expect(loadMaterializerConfig({ ...key, KUMIKI_ADMIN_TOKEN: token }).CLICKHOUSE_URL).toBeUndefined();
    expect(
      loadMaterializerConfig({ ...key, KUMIKI_ADMIN_TOKEN: token, CLICKHOUSE_URL: 'http://ch:8123' }).CLICKHOUSE_URL,
    ).toBe('http://ch:8123');
    expect(() =>
      loadMaterializerConfig({ ...key, KUMIKI_ADMIN_TOKEN: token, CLICKHOUSE_DATABASE: 'drop table' }),
    ).toThrow(/CLICKHOUSE_DATABASE="drop table": must be a plain identifier/);
  });

  it("leaves the materializer's heap growth to V8 unless told, and bounds it", () => {
    const token = 'adm_0123456789abcdef';
    expect(loadMaterializerConfig({ ...key, KUMIKI_ADMIN_TOKEN: token }).MATERIALIZER_HEAP_GROWTH_PERCENT).toBe(0);
    expect(
      loadMaterializerConfig({ ...key, KUMIKI_ADMIN_TOKEN: token, MATERIALIZER_HEAP_GROWTH_PERCENT: '100' })
        .MATERIALIZER_HEAP_GROWTH_PERCENT,
    ).toBe(100);
    expect(() =>
      loadMaterializerConfig({ ...key, KUMIKI_ADMIN_TOKEN: token, MATERIALIZER_HEAP_GROWTH_PERCENT: '400' }),
    ).toThrow(/MATERIALIZER_HEAP_GROWTH_PERCENT="400"/);
  });
});

describe('URL settings', () => {
  it('accept only http(s) URLs', () => {
    expect(() => loadStitcherConfig({ ...key, SCHEMA_REGISTRY_URL: 'ftp://registry:8081' })).toThrow(
      /SCHEMA_REGISTRY_URL="ftp:\/\/registry:8081": must be an http\(s\) URL/,
    );
    expect(loadStitcherConfig({ ...key, SCHEMA_REGISTRY_URL: 'https://registry:8081' }).SCHEMA_REGISTRY_URL).toBe(
      'https://registry:8081',
    );
  });
});
