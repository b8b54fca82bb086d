import { testPrivacyKey } from '../../support/privacy-key';
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { mkdtempSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { freePort } from '../../support/ports';
import { testStack, uniqueName } from '../../support/stack-env';
import { waitFor } from '../../support/wait-for';

const root = path.resolve(__dirname, '..', '..', '..');
const token = 'adm_cli_test_token_0123456789';

/** `kumiki sql|profile|explain|segment` against a real profile-materializer (embedded ClickHouse). */
describe('read API commands', () => {
  let materializer: ChildProcess;
  let url: string;

  beforeAll(async () => {
    const port = await freePort();
    url = `http://127.0.0.1:${port}`;
    const run = uniqueName('cli');
    materializer = spawn(process.execPath, [path.join(root, 'dist', 'services', 'profile-materializer', 'main.js')], {
      env: {
        PATH: process.env.PATH ?? '',
        KAFKA_BROKERS: testStack().brokers.join(','),
        SCHEMA_REGISTRY_URL: testStack().registryUrl,
        KUMIKI_HOME: mkdtempSync(path.join(os.tmpdir(), 'kumiki-cli-')),
        HTTP_PORT: String(port),
        KUMIKI_ADMIN_TOKEN: token,
        KUMIKI_PRIVACY_KEY: testPrivacyKey,
        PRIVACY_REQUESTS_TOPIC: `${run}.privacy`,
        MATERIALIZER_STITCHED_TOPIC: `${run}.stitched`,
        MATERIALIZER_CHANGES_TOPIC: `${run}.changes`,
        MATERIALIZER_UPDATES_TOPIC: `${run}.updates`,
        MATERIALIZER_DLQ_TOPIC: `${run}.dlq`,
        MATERIALIZER_GROUP_ID: run,
        LOG_LEVEL: 'warn',
      },
      stdio: 'ignore',
    });
    await waitFor(
      async () => {
        const response = await fetch(`${url}/ready`);
        if (response.status !== 200) throw new Error(`ready answered ${response.status}`);
      },
      { timeoutMs: 90_000 },
    );
  });

  afterAll(() => {
    materializer.kill('SIGTERM');
  });

  const kumiki = (...args: string[]) =>
    spawnSync(process.execPath, [path.join(root, 'bin', 'kumiki.js'), ...args], {
      env: {
        PATH: process.env.PATH ?? '',
        KUMIKI_READ_API_URL: url,
        KUMIKI_ADMIN_TOKEN: token,
        KUMIKI_HOME: os.tmpdir(),
      },
      encoding: 'utf8',
    });

  it('kumiki sql prints rows as JSON, with typed parameters', () => {
    const result = kumiki(
      'sql',
      'SELECT 41 + 1 AS answer, {who:String} AS who',
      '--param',
      'who=ann',
      '--format',
      'json',
    );
    expect(result.stderr).toBe('');
    expect(result.status).toBe(0);
    expect(JSON.parse(result.stdout)).toEqual([{ answer: 42, who: 'ann' }]);
  });

  it('kumiki sql prints an aligned table by default', () => {
    const result = kumiki('sql', 'SELECT number AS n, toString(number * 10) AS tens FROM system.numbers LIMIT 3');
    expect(result.status).toBe(0);
    expect(result.stdout).toBe('n  tens\n-  ----\n0  0\n1  10\n2  20\n');
  });

  it('kumiki sql reports the engine refusing a write, exit 1', () => {
    const result = kumiki('sql', 'CREATE TABLE nope (x UInt8) ENGINE = Memory');
    expect(result.status).toBe(1);
    expect(result.stderr).toMatch(/^kumiki sql: KUMIKI_SQL_READ_ONLY: /);
  });

  it('kumiki profile says when no profile holds the identifier', () => {
    const result = kumiki('profile', 'email:nobody@example.com');
    expect(result.status).toBe(1);
    expect(result.stderr).toMatch(/^kumiki profile: KUMIKI_PROFILE_NOT_FOUND: /);
  });

  it('refuses an identifier without a type', () => {
    const result = kumiki('explain', 'ann@example.com');
    expect(result.status).toBe(2);
    expect(result.stderr).toContain('expected <type>:<value>');
  });

  it('kumiki segment create, list, show, members and delete', () => {
    const created = kumiki(
      'segment',
      'create',
      'Pro plan',
      '--rule',
      '{"trait":"plan","op":"eq","value":"pro"}',
      '--purpose',
      'marketing',
    );
    expect(created.stderr).toBe('');
    expect(created.status).toBe(0);
    const segment = JSON.parse(created.stdout) as { id: string; name: string; kind: string; purpose: string };
    expect(segment).toMatchObject({ name: 'Pro plan', kind: 'rule', purpose: 'marketing' });

    const listed = kumiki('segment', 'list', '--format', 'json');
    expect(listed.status).toBe(0);
    expect((JSON.parse(listed.stdout) as Array<{ id: string }>).map((s) => s.id)).toContain(segment.id);
    const table = kumiki('segment', 'list');
    expect(table.stdout.split('\n')[0]).toMatch(/^id\s+name\s+kind\s+purpose\s+created$/);

    const shown = kumiki('segment', 'show', segment.id);
    expect(JSON.parse(shown.stdout)).toMatchObject({ id: segment.id, rule: { trait: 'plan', op: 'eq', value: 'pro' } });

    const members = kumiki('segment', 'members', segment.id, '--format', 'json', '--all');
    expect(members.status).toBe(0);
    expect(JSON.parse(members.stdout)).toEqual([]);

    const deleted = kumiki('segment', 'delete', segment.id);
    expect(deleted.status).toBe(0);
    expect(deleted.stdout).toBe(`deleted ${segment.id}\n`);
    const gone = kumiki('segment', 'show', segment.id);
    expect(gone.status).toBe(1);
    expect(gone.stderr).toMatch(/^kumiki segment show: KUMIKI_SEGMENT_NOT_FOUND: /);
  });

  it('kumiki segment create reports invalid definitions (exit 1) and bad usage (exit 2)', () => {
    const unknownOperator = kumiki('segment', 'create', 'bad', '--rule', '{"trait":"plan","op":"like","value":"p%"}');
    expect(unknownOperator.status).toBe(1);
    expect(unknownOperator.stderr).toMatch(/^kumiki segment create: KUMIKI_INVALID_SEGMENT: /);
    const notSelect = kumiki('segment', 'create', 'bad', '--sql', 'DROP TABLE events');
    expect(notSelect.status).toBe(1);
    expect(notSelect.stderr).toMatch(/KUMIKI_INVALID_SEGMENT/);
    const both = kumiki('segment', 'create', 'bad', '--sql', 'SELECT 1', '--rule', '{}');
    expect(both.status).toBe(2);
    expect(both.stderr).toContain('exactly one of --sql, --rule, --rule-file');
    const notJson = kumiki('segment', 'create', 'bad', '--rule', '{trait');
    expect(notJson.status).toBe(2);
    expect(notJson.stderr).toContain('the rule is not JSON');
  });

  it('a wrong token is refused by the API', () => {
    const result = spawnSync(process.execPath, [path.join(root, 'bin', 'kumiki.js'), 'sql', 'SELECT 1'], {
      env: {
        PATH: process.env.PATH ?? '',
        KUMIKI_READ_API_URL: url,
        KUMIKI_ADMIN_TOKEN: 'adm_wrong_token_0000000000',
        KUMIKI_HOME: os.tmpdir(),
      },
      encoding: 'utf8',
    });
    expect(result.status).toBe(1);
    expect(result.stderr).toMatch(/KUMIKI_ADMIN_UNAUTHORIZED/);
  });
});
