/**
 * ClickHouse access against real embedded chDB (one database per test, clickhouse-test-env.ts).
 * The server path (CLICKHOUSE_URL) is covered here only for "unreachable"; with no ClickHouse
 * server available it is otherwise type-checked.
 */
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { DependencyUnavailableError, InternalError, isRetriable } from '../../../../services/common/errors';
import { ClickHouseQueryError, createClickHouse } from '../../../../services/common/clickhouse';
import { closeAll, config, freshDatabase, logger } from './clickhouse-test-env';

afterAll(closeAll);

describe('createClickHouse (embedded)', () => {
  it('creates the configured database and runs parameterised SQL in it', async () => {
    const ch = await freshDatabase();
    expect(ch.mode).toBe('embedded');
    const [row] = await ch.query<{ db: string; greeting: string }>(
      'SELECT currentDatabase() AS db, {name:String} AS greeting',
      { name: "it's me" },
    );
    expect(row).toEqual({ db: ch.database, greeting: "it's me" });
    const databases = await ch.query<{ name: string }>('SELECT name FROM system.databases WHERE name = {db:String}', {
      db: ch.database,
    });
    expect(databases).toEqual([{ name: ch.database }]);
  });

  it('reports health with SELECT 1 and stops being healthy once closed; close is safe twice', async () => {
    const ch = await createClickHouse(config(), logger);
    await expect(ch.health()).resolves.toMatchObject({ healthy: true, mode: 'embedded' });
    await ch.close();
    await ch.close();
    await expect(ch.isHealthy()).resolves.toBe(false);
  });

  it('maps SQL errors to ClickHouseQueryError with the code, type and the whole message', async () => {
    const ch = await freshDatabase();
    const syntax = await ch.query('SELECT FROM WHERE').catch((error: unknown) => error);
    expect(syntax).toBeInstanceOf(ClickHouseQueryError);
    expect(syntax).toMatchObject({ code: '62', type: 'SYNTAX_ERROR', isRetriable: false });
    expect((syntax as Error).message).toMatch(/^Syntax error: failed at position \d+ .*Expected/s);

    const unknown = await ch.query('SELECT * FROM no_such_table').catch((error: unknown) => error);
    expect(unknown).toMatchObject({ code: '60', type: 'UNKNOWN_TABLE' });
    expect((unknown as Error).message).toContain('no_such_table');
  });

  it('runs read-only queries in their own session, so the process can still write afterwards', async () => {
    const ch = await freshDatabase();
    await ch.command('CREATE TABLE t (x UInt8) ENGINE = MergeTree ORDER BY x');
    await ch.insert('t', [{ x: 1 }]);

    await expect(ch.query('SELECT count() AS n FROM t', undefined, { readOnly: true })).resolves.toEqual([{ n: '1' }]);
    const fileRead = await ch
      .query("SELECT * FROM file('/etc/hostname', 'LineAsString')", undefined, { readOnly: true })
      .catch((e: unknown) => e);
    expect(fileRead).toMatchObject({ code: '164', type: 'READONLY' });
    const liftLimit = await ch
      .query('SELECT 1 SETTINGS readonly = 0', undefined, { readOnly: true })
      .catch((e: unknown) => e);
    expect(liftLimit).toMatchObject({ code: '164', type: 'READONLY' });
    const tooMany = await ch
      .query('SELECT number FROM numbers(100)', undefined, { readOnly: true, settings: { max_result_rows: '10' } })
      .catch((e: unknown) => e);
    expect(tooMany).toMatchObject({ code: '396', type: 'TOO_MANY_ROWS_OR_BYTES' });

    await ch.insert('t', [{ x: 2 }]);
    await expect(ch.query('SELECT groupArray(x) AS xs FROM (SELECT x FROM t ORDER BY x)')).resolves.toEqual([
      { xs: [1, 2] },
    ]);
  });

  it('runs concurrent requests at once, as a server does, on sessions that share the data', async () => {
    const ch = await freshDatabase();
    await ch.command('CREATE TABLE t (x UInt8) ENGINE = MergeTree ORDER BY x');
    const settled: string[] = [];
    const slow = ch.query('SELECT sleep(1.5) AS s').then(() => void settled.push('slow'));
    await new Promise((resolve) => setTimeout(resolve, 100)); // the slow query holds its session
    await ch.insert('t', [{ x: 7 }]);
    await expect(ch.query('SELECT sum(x) AS n FROM t')).resolves.toEqual([{ n: '7' }]);
    settled.push('insert and read');
    await slow;
    // One session would have run them in order: the slow query first.
    expect(settled).toEqual(['insert and read', 'slow']);
    await expect(ch.query('SELECT sum(x) AS n FROM t')).resolves.toEqual([{ n: '7' }]);
  });

  it('refuses multi-statement SQL as a ClickHouse server does, so a query cannot switch database', async () => {
    const ch = await freshDatabase();
    const error = await ch
      .query('USE system; SELECT currentDatabase() AS db', undefined, { readOnly: true })
      .catch((e: unknown) => e);
    expect(error).toMatchObject({
      code: '62',
      type: 'SYNTAX_ERROR',
      message: 'Multi-statements are not allowed: send one statement per request',
    });
    await expect(ch.query('SELECT currentDatabase() AS db;')).resolves.toEqual([{ db: ch.database }]);
  });

  it('refuses a second data directory in the same process, saying who may open the store', async () => {
    const elsewhere = fs.mkdtempSync(path.join(os.tmpdir(), 'kumiki-clickhouse-other-'));
    await freshDatabase(); // keeps this file's data directory open
    const error = await createClickHouse(config({ KUMIKI_HOME: elsewhere }), logger).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(InternalError);
    expect((error as Error).message).toMatch(
      /chDB allows one data directory per process.*Only the profile-materializer opens the embedded store/s,
    );
    fs.rmSync(elsewhere, { recursive: true, force: true });
  });
});

describe('createClickHouse (server)', () => {
  it('reports an unreachable server as DependencyUnavailableError (retriable)', async () => {
    const error = await createClickHouse(config({ CLICKHOUSE_URL: 'http://127.0.0.1:1' }), logger, {
      requestTimeoutMs: 2_000,
    }).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(DependencyUnavailableError);
    expect(isRetriable(error)).toBe(true);
    expect((error as Error).message).toMatch(/^ClickHouse is unreachable: /);
  });
});
