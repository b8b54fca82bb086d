import { loadCollectorConfig } from '../../../services/collector/config';
import { ConfigError } from '../../../services/common/errors';

describe('collector config', () => {
  it('maps the local write key and KUMIKI_SOURCES to sources', () => {
    const config = loadCollectorConfig({
      KUMIKI_WRITE_KEY: 'wk_local_key',
      KUMIKI_SOURCES: '{"wk_pos_berlin_1":{"source":"pos-berlin","channel":"store"}}',
    });
    expect([...config.sources]).toEqual([
      ['wk_local_key', { source: 'default', channel: 'auto' }],
      ['wk_pos_berlin_1', { source: 'pos-berlin', channel: 'store' }],
    ]);
    expect(config.COLLECTOR_EVENTS_TOPIC).toBe('kumiki.events.raw');
  });

  it('names every bad variable at once', () => {
    let error: unknown;
    try {
      loadCollectorConfig({
        KUMIKI_WRITE_KEY: 'short',
        KUMIKI_SOURCES: '{"wk_pos_berlin_1":{"source":"pos","channel":"fax"}}',
        COLLECTOR_LINGER_MS: '-1',
      });
    } catch (caught) {
      error = caught;
    }
    expect(error).toBeInstanceOf(ConfigError);
    const problems = (error as ConfigError).problems.join('\n');
    expect(problems).toMatch(/KUMIKI_WRITE_KEY="short": must be at least 8 characters/);
    expect(problems).toMatch(/KUMIKI_SOURCES\.wk_pos_berlin_1\.channel/);
    expect(problems).toMatch(/COLLECTOR_LINGER_MS="-1"/);
  });
});
