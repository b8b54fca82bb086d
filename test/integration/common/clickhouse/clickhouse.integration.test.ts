/**
 * ClickHouse access against real embedded chDB.
 *
 * chDB runs one engine per process with one data directory: this file (one jest worker) opens a
 * single data directory under os.tmpdir(), and every test gets its own database in it
 * (`test_<random>`), never a shared one to truncate. The server path (CLICKHOUSE_URL) is covered
 * here only for "unreachable"; with no ClickHouse server available it is otherwise type-checked.
 */
import crypto from 'node:crypto';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import pino from 'pino';
import { DependencyUnavailableError, InternalError, isRetriable } from '../../../../services/common/errors';
import {
  ClickHouseQueryError,
  createClickHouse,
  loadMigrations,
  MigrationError,
  readAppliedMigrations,
  runMigrations,
  type ClickHouse,
  type ClickHouseConfig,
} from '../../../../services/common/clickhouse';

const logger = pino({ level: 'silent' });
const home = fs.mkdtempSync(path.join(os.tmpdir(), 'kumiki-clickhouse-it-'));
const open: ClickHouse[] = [];

function config(overrides: Partial<ClickHouseConfig> = {}): ClickHouseConfig {
  return {
    CLICKHOUSE_URL: undefined,
    CLICKHOUSE_USER: 'default',
    CLICKHOUSE_PASSWORD: '',
    CLICKHOUSE_DATABASE: `test_${crypto.randomBytes(6).toString('hex')}`,
    KUMIKI_HOME: home,
    ...overrides,
  };
}

async function freshDatabase(): Promise<ClickHouse> {
  const ch = await createClickHouse(config(), logger);
  open.push(ch);
  return ch;
}

async function migratedDatabase(): Promise<ClickHouse> {
  const ch = await freshDatabase();
  await runMigrations(ch, { logger });
  return ch;
}

afterAll(async () => {
  for (const ch of open) await ch.close();
  fs.rmSync(home, { recursive: true, force: true });
});

const event = (overrides: Record<string, unknown> = {}): Record<string, unknown> => ({
  message_id: 'msg-1',
  profile_id: 'p-1',
  type: 'track',
  event: 'Order Completed',
  timestamp: '2025-03-01T10:00:00.123Z',
  received_at: '2025-03-01T10:00:01.000Z',
  channel: 'web',
  source: 'website',
  user_id: 'u-1',
  anonymous_id: 'a-1',
  order_id: 'o-1',
  revenue: 19.99,
  currency: 'EUR',
  properties: JSON.stringify({ order_id: 'o-1', total: 19.99 }),
  version: 1740823201000,
  ...overrides,
});

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

describe('runMigrations', () => {
  it('applies every file once, records it, and applies nothing on the next start', async () => {
    const ch = await freshDatabase();
    const files = loadMigrations();

    const first = await runMigrations(ch, { logger });
    expect(first).toEqual({ applied: files.map(({ version, name }) => ({ version, name })), alreadyApplied: 0 });
    const recorded = await readAppliedMigrations(ch);
    expect(recorded.map(({ version, name, checksum }) => ({ version, name, checksum }))).toEqual(
      files.map(({ version, name, checksum }) => ({ version, name, checksum })),
    );

    const tables = await ch.query<{ name: string; engine: string }>(
      'SELECT name, engine FROM system.tables WHERE database = {db:String} ORDER BY name',
      { db: ch.database },
    );
    const engines = Object.fromEntries(tables.map((t) => [t.name, t.engine]));
    expect(engines).toMatchObject({
      events: 'View',
      events_store: 'ReplacingMergeTree',
      identities: 'View',
      identities_store: 'ReplacingMergeTree',
      identity_links: 'View',
      identity_links_store: 'ReplacingMergeTree',
      profile_aliases: 'View',
      profile_aliases_store: 'ReplacingMergeTree',
      profiles: 'View',
      profiles_store: 'ReplacingMergeTree',
      rfm: 'View',
      rfm_store: 'ReplacingMergeTree',
      schema_migrations: 'MergeTree',
      segment_members: 'View',
      segment_members_store: 'ReplacingMergeTree',
      segments: 'View',
      segments_store: 'ReplacingMergeTree',
    });

    const second = await runMigrations(ch, { logger });
    expect(second).toEqual({ applied: [], alreadyApplied: files.length });
    const [count] = await ch.query<{ n: string }>('SELECT count() AS n FROM schema_migrations');
    expect(Number(count?.n)).toBe(files.length);
  });

  it('comments every public table and view, and every column of the stores', async () => {
    const ch = await migratedDatabase();
    const uncommentedTables = await ch.query<{ name: string }>(
      "SELECT name FROM system.tables WHERE database = {db:String} AND comment = '' ORDER BY name",
      { db: ch.database },
    );
    expect(uncommentedTables).toEqual([]);
    const uncommentedColumns = await ch.query<{ c: string }>(
      "SELECT concat(table, '.', name) AS c FROM system.columns WHERE database = {db:String} AND table LIKE '%\\_store' AND comment = '' ORDER BY c",
      { db: ch.database },
    );
    expect(uncommentedColumns).toEqual([]);
  });

  it('runs the same files twice in a row as two racing processes would, ending in one record per file', async () => {
    const ch = await freshDatabase();
    const files = loadMigrations();
    // Both "processes" read an empty schema_migrations before either records anything.
    await Promise.all([
      runMigrations(ch, { logger, migrations: files }),
      runMigrations(ch, { logger, migrations: files }),
    ]);
    expect((await readAppliedMigrations(ch)).map((m) => m.version)).toEqual(files.map((f) => f.version));
    await expect(runMigrations(ch, { logger })).resolves.toEqual({ applied: [], alreadyApplied: files.length });
  });

  it('refuses to start when an applied file changed, and applies nothing', async () => {
    const ch = await freshDatabase();
    const directory = fs.mkdtempSync(path.join(os.tmpdir(), 'kumiki-migrations-'));
    fs.writeFileSync(
      path.join(directory, '0001_things.sql'),
      'CREATE TABLE IF NOT EXISTS ${database}.things (id String) ENGINE = MergeTree ORDER BY id;\n',
    );
    await expect(runMigrations(ch, { logger, directory })).resolves.toEqual({
      applied: [{ version: 1, name: 'things' }],
      alreadyApplied: 0,
    });

    fs.writeFileSync(
      path.join(directory, '0001_things.sql'),
      'CREATE TABLE IF NOT EXISTS ${database}.things (id String, extra UInt8) ENGINE = MergeTree ORDER BY id;\n',
    );
    fs.writeFileSync(
      path.join(directory, '0002_more.sql'),
      'CREATE TABLE IF NOT EXISTS ${database}.more (id String) ENGINE = MergeTree ORDER BY id;\n',
    );
    const error = await runMigrations(ch, { logger, directory }).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(MigrationError);
    expect((error as Error).message).toMatch(
      /^migration 0001_things\.sql changed after it was applied .*append-only: undo the edit and put the change in a new, higher-numbered file\.$/,
    );
    const more = await ch.query('SELECT name FROM system.tables WHERE database = {db:String} AND name = {t:String}', {
      db: ch.database,
      t: 'more',
    });
    expect(more).toEqual([]);
    fs.rmSync(directory, { recursive: true, force: true });
  });
});

describe('the schema under replay and merges', () => {
  it('shows an event written twice as one row in the events view (FINAL), however the parts are merged', async () => {
    const ch = await migratedDatabase();
    await ch.insert('events_store', [event()]);
    await ch.insert('events_store', [event()]); // a replay: a second part holding the same row

    // Exact reads: the view reads FINAL; by hand, argMax by version per message_id.
    await expect(ch.query('SELECT count() AS n, sum(revenue) AS revenue FROM events')).resolves.toEqual([
      { n: '1', revenue: 19.99 },
    ]);
    await expect(
      ch.query(
        'SELECT count() AS n FROM (SELECT message_id, argMax(revenue, version) AS r FROM events_store GROUP BY message_id)',
      ),
    ).resolves.toEqual([{ n: '1' }]);

    // A retry received later, stitched when its timestamp was corrected differently: still one event.
    await ch.insert('events_store', [
      event({ timestamp: '2025-03-01T10:00:00.456Z', received_at: '2025-03-01T10:05:00.000Z', version: 1740823500000 }),
    ]);
    await expect(ch.query('SELECT message_id, timestamp, revenue, currency FROM events')).resolves.toEqual([
      { message_id: 'msg-1', timestamp: '2025-03-01 10:00:00.456', revenue: 19.99, currency: 'EUR' },
    ]);
    await ch.command('OPTIMIZE TABLE events_store FINAL');
    await expect(ch.query('SELECT count() AS n FROM events_store')).resolves.toEqual([{ n: '1' }]);
  });

  it('resolves merged-away profile ids to the survivor in every public view', async () => {
    const ch = await migratedDatabase();
    const now = '2025-03-02T00:00:00.000Z';
    await ch.insert('events_store', [
      event({ message_id: 'm-old', profile_id: 'p-old' }),
      event({ message_id: 'm-new', profile_id: 'p-new', order_id: 'o-2' }),
    ]);
    await ch.insert('identities_store', [
      {
        identifier_type: 'email',
        identifier_value: 'ann@example.com',
        profile_id: 'p-old',
        linked_at: now,
        version: 1,
      },
      { identifier_type: 'anonymous_id', identifier_value: 'a-9', profile_id: 'p-new', linked_at: now, version: 2 },
    ]);
    await ch.insert('profiles_store', [
      {
        profile_id: 'p-old',
        first_seen: now,
        last_seen: now,
        consent: { email: true },
        channels: ['web'],
        identifiers: ['email:ann@example.com'],
        version: 1,
      },
      {
        profile_id: 'p-new',
        first_seen: now,
        last_seen: now,
        consent: {},
        channels: ['store'],
        identifiers: ['anonymous_id:a-9'],
        version: 1,
      },
    ]);
    await ch.insert('segment_members_store', [
      { segment_id: 's-1', profile_id: 'p-old', is_member: 1, since: now, changed_at: now, version: 1 },
      { segment_id: 's-1', profile_id: 'p-new', is_member: 1, since: now, changed_at: now, version: 1 },
    ]);

    // The stitcher merges p-new into the older p-old.
    await ch.insert('profile_aliases_store', [
      { absorbed_profile_id: 'p-new', surviving_profile_id: 'p-old', merged_at: now, message_id: 'm-new', version: 3 },
    ]);

    await expect(
      ch.query('SELECT message_id, profile_id, stitched_profile_id FROM events ORDER BY message_id'),
    ).resolves.toEqual([
      { message_id: 'm-new', profile_id: 'p-old', stitched_profile_id: 'p-new' },
      { message_id: 'm-old', profile_id: 'p-old', stitched_profile_id: 'p-old' },
    ]);
    await expect(
      ch.query('SELECT identifier_type, profile_id FROM identities ORDER BY identifier_type'),
    ).resolves.toEqual([
      { identifier_type: 'anonymous_id', profile_id: 'p-old' },
      { identifier_type: 'email', profile_id: 'p-old' },
    ]);
    await expect(ch.query('SELECT profile_id, consent FROM profiles')).resolves.toEqual([
      { profile_id: 'p-old', consent: { email: true } },
    ]);
    await expect(ch.query('SELECT segment_id, profile_id FROM segment_members')).resolves.toEqual([
      { segment_id: 's-1', profile_id: 'p-old' },
    ]);
    await expect(ch.query('SELECT absorbed_profile_id, surviving_profile_id FROM profile_aliases')).resolves.toEqual([
      { absorbed_profile_id: 'p-new', surviving_profile_id: 'p-old' },
    ]);
    await expect(ch.query("SELECT count() AS n FROM events WHERE profile_id = 'p-new'")).resolves.toEqual([{ n: '0' }]);
  });

  it('keeps the latest snapshot per key and hides exits and deletions', async () => {
    const ch = await migratedDatabase();
    const at = (minute: number): string => `2025-03-02T00:0${minute}:00.000Z`;
    await ch.insert('segments_store', [
      {
        segment_id: 's-1',
        name: 'buyers',
        kind: 'sql',
        sql: 'SELECT 1',
        created_at: at(0),
        updated_at: at(0),
        version: 1,
      },
    ]);
    await ch.insert('segments_store', [
      {
        segment_id: 's-2',
        name: 'gone',
        kind: 'sql',
        sql: 'SELECT 1',
        created_at: at(0),
        updated_at: at(1),
        deleted: 1,
        version: 2,
      },
    ]);
    await ch.insert('segment_members_store', [
      { segment_id: 's-1', profile_id: 'p-1', is_member: 1, since: at(0), changed_at: at(0), version: 1 },
      { segment_id: 's-1', profile_id: 'p-2', is_member: 1, since: at(0), changed_at: at(0), version: 1 },
      { segment_id: 's-2', profile_id: 'p-1', is_member: 1, since: at(0), changed_at: at(0), version: 1 },
    ]);
    await ch.insert('segment_members_store', [
      { segment_id: 's-1', profile_id: 'p-2', is_member: 0, since: at(0), changed_at: at(2), version: 2 },
    ]);
    await ch.insert('rfm_store', [
      {
        profile_id: 'p-1',
        last_purchase_at: at(0),
        recency_days: 3,
        frequency: 1,
        monetary: '19.99',
        r_score: 3,
        f_score: 1,
        m_score: 1,
        label: 'New',
        computed_at: at(0),
        version: 1,
      },
      {
        profile_id: 'p-1',
        last_purchase_at: at(1),
        recency_days: 0,
        frequency: 2,
        monetary: '59.99',
        r_score: 5,
        f_score: 2,
        m_score: 3,
        label: 'Promising',
        computed_at: at(1),
        version: 2,
      },
    ]);

    await expect(ch.query('SELECT segment_id, name FROM segments')).resolves.toEqual([
      { segment_id: 's-1', name: 'buyers' },
    ]);
    await expect(ch.query('SELECT segment_id, profile_id FROM segment_members')).resolves.toEqual([
      { segment_id: 's-1', profile_id: 'p-1' },
    ]);
    // rfm_store has no alias-resolving view of its own any more (0006 computes the rfm view from events): read it FINAL.
    await expect(ch.query('SELECT frequency, monetary, label FROM rfm_store FINAL')).resolves.toEqual([
      { frequency: 2, monetary: 59.99, label: 'Promising' },
    ]);
  });
});
