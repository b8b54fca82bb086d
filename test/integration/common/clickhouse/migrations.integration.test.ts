/** Migrations against real embedded chDB (one database per test, clickhouse-test-env.ts). */
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import {
  loadMigrations,
  MigrationError,
  readAppliedMigrations,
  runMigrations,
} from '../../../../services/common/clickhouse';
import { closeAll, freshDatabase, logger, migratedDatabase } from './clickhouse-test-env';

afterAll(closeAll);

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
