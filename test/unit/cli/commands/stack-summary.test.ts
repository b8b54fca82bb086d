import { formatSummary, table } from '../../../../services/cli/commands/stack-summary';
import { formatStatusTable, statusReport, type ComponentStatus } from '../../../../services/cli/commands/status-report';

describe('table', () => {
  it('aligns columns and trims trailing blanks', () => {
    expect(
      table([
        ['a', 'long value', ''],
        ['longer', 'b', 'c'],
      ]),
    ).toEqual(['a       long value', 'longer  b           c']);
  });
});

describe('formatSummary', () => {
  const input = {
    components: [
      { name: 'kafka' as const, address: '127.0.0.1:9092', pid: 10 },
      { name: 'registry' as const, address: 'http://127.0.0.1:8081/apis/ccompat/v7', pid: null },
      { name: 'collector' as const, address: 'http://127.0.0.1:8080', pid: 12 },
    ],
    credentials: { writeKey: 'wk_abc', adminToken: 'adm_xyz' },
    credentialsFile: '/work/app/.kumiki/credentials.json',
    logsDir: '/work/app/.kumiki/logs',
    cwd: '/work/app',
  };

  it('lists every component with its address and says which ones kumiki did not start', () => {
    const text = formatSummary({ ...input, detached: false });
    expect(text).toContain('Kafka            127.0.0.1:9092                         pid 10');
    expect(text).toContain('schema registry  http://127.0.0.1:8081/apis/ccompat/v7  not started by kumiki');
    expect(text).toContain('collector        http://127.0.0.1:8080                  pid 12');
  });

  it('shows the credentials, paths relative to the working directory and how to stop', () => {
    const foreground = formatSummary({ ...input, detached: false });
    expect(foreground).toMatch(/write key\s+wk_abc/);
    expect(foreground).toMatch(/admin token\s+adm_xyz/);
    expect(foreground).toMatch(/credentials\s+\.kumiki\/credentials\.json/);
    expect(foreground).toMatch(/logs\s+\.kumiki\/logs\/<component>\.log/);
    expect(foreground).toMatch(/stop\s+Ctrl-C/);
    expect(formatSummary({ ...input, consoleUrl: 'http://127.0.0.1:8083/console/', detached: false })).toMatch(
      /console\s+http:\/\/127\.0\.0\.1:8083\/console\/\s+\(web console: sign in with the admin token\)/,
    );
    const detached = formatSummary({ ...input, detached: true });
    expect(detached.split('\n')[0]).toBe('kumiki is up (detached)');
    expect(detached).toMatch(/stop\s+kumiki down\n/);
  });
});

describe('status report', () => {
  const up: ComponentStatus = {
    name: 'kafka',
    state: 'up',
    address: '127.0.0.1:9092',
    pid: 10,
    pidAlive: true,
    detail: '1 broker',
  };

  it('is ok only when every component is up', () => {
    expect(statusReport([up]).ok).toBe(true);
    expect(statusReport([up, { ...up, name: 'collector', state: 'not ready' }]).ok).toBe(false);
    expect(statusReport([]).ok).toBe(false);
  });

  it('prints an aligned table that marks vanished pids', () => {
    const text = formatStatusTable(
      statusReport([
        up,
        { name: 'registry', state: 'down', address: 'http://x', pid: 11, pidAlive: false, detail: 'no answer' },
        { name: 'collector', state: 'up', address: 'http://c', pid: null, pidAlive: null, detail: 'ready' },
      ]),
    );
    expect(text.split('\n')).toEqual([
      'COMPONENT  STATE  PID        ADDRESS         DETAIL',
      'kafka      up     10         127.0.0.1:9092  1 broker',
      'registry   down   11 (gone)  http://x        no answer',
      'collector  up     -          http://c        ready',
      '',
    ]);
  });

  it('names the web console in both outputs when the stack has one', () => {
    const report = statusReport([up], 'http://127.0.0.1:8083/console/');
    expect(JSON.parse(JSON.stringify(report)).consoleUrl).toBe('http://127.0.0.1:8083/console/');
    expect(formatStatusTable(report).split('\n').slice(-2)).toEqual([
      'web console: http://127.0.0.1:8083/console/',
      '',
    ]);
    expect(statusReport([up]).consoleUrl).toBeNull();
  });
});
