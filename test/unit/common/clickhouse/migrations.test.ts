import {
  loadMigrations,
  migrationChecksum,
  MigrationError,
  parseMigration,
  parseMigrations,
  planMigrations,
  renderStatement,
  type AppliedMigration,
  type MigrationFile,
} from '../../../../services/common/clickhouse/migrations';
import { splitStatements } from '../../../../services/common/clickhouse/sql-text';

describe('splitStatements', () => {
  it('splits at semicolons that end statements', () => {
    expect(
      splitStatements('CREATE TABLE a (x UInt8) ENGINE = Memory;\nCREATE TABLE b (x UInt8) ENGINE = Memory;\n'),
    ).toEqual(['CREATE TABLE a (x UInt8) ENGINE = Memory', 'CREATE TABLE b (x UInt8) ENGINE = Memory']);
  });

  it('keeps semicolons inside strings, quoted identifiers and comments', () => {
    const sql = [
      "CREATE TABLE t (x String COMMENT 'a; b', `we;ird` UInt8 COMMENT 'it''s; fine', y String DEFAULT 'back\\'slash;') ENGINE = Memory -- trailing; comment",
      ';',
      '/* block; comment */ SELECT ";" AS "semi;colon";',
    ].join('\n');
    expect(splitStatements(sql)).toEqual([
      "CREATE TABLE t (x String COMMENT 'a; b', `we;ird` UInt8 COMMENT 'it''s; fine', y String DEFAULT 'back\\'slash;') ENGINE = Memory -- trailing; comment",
      '/* block; comment */ SELECT ";" AS "semi;colon"',
    ]);
  });

  it('drops chunks that hold only comments and whitespace, and accepts a last statement without semicolon', () => {
    expect(splitStatements('-- header\n\n/* note */\nSELECT 1;\n-- footer;\n  \nSELECT 2')).toEqual([
      '-- header\n\n/* note */\nSELECT 1',
      '-- footer;\n  \nSELECT 2',
    ]);
    expect(splitStatements('-- nothing here;\n')).toEqual([]);
  });

  it('counts a trailing semicolon as the end of a single statement', () => {
    expect(splitStatements('SELECT 1;  \n')).toHaveLength(1);
    expect(splitStatements('SELECT 1; SELECT 2')).toHaveLength(2);
  });
});

describe('parseMigration', () => {
  it('takes version and name from the file name and splits the statements', () => {
    const migration = parseMigration(
      '0007_add_orders.sql',
      'CREATE TABLE IF NOT EXISTS ${database}.a (x UInt8) ENGINE = Memory;\nCREATE TABLE IF NOT EXISTS ${database}.b (x UInt8) ENGINE = Memory;\n',
    );
    expect(migration).toEqual({
      version: 7,
      name: 'add_orders',
      fileName: '0007_add_orders.sql',
      checksum: migrationChecksum(
        'CREATE TABLE IF NOT EXISTS ${database}.a (x UInt8) ENGINE = Memory;\nCREATE TABLE IF NOT EXISTS ${database}.b (x UInt8) ENGINE = Memory;\n',
      ),
      statements: [
        'CREATE TABLE IF NOT EXISTS ${database}.a (x UInt8) ENGINE = Memory',
        'CREATE TABLE IF NOT EXISTS ${database}.b (x UInt8) ENGINE = Memory',
      ],
    });
  });

  it.each(['7_add.sql', '0007-add.sql', '0007_Add.sql', '0007_add.SQL', 'add.sql'])(
    'refuses the file name %s',
    (fileName) => {
      expect(() => parseMigration(fileName, 'SELECT 1;')).toThrow(/must look like 0001_snake_case_name\.sql/);
    },
  );

  it('refuses a file without statements', () => {
    expect(() => parseMigration('0001_empty.sql', '-- only a comment;\n')).toThrow(
      new MigrationError('migration 0001_empty.sql holds no SQL statement'),
    );
  });

  it('refuses placeholders other than ${database}', () => {
    expect(() => parseMigration('0001_x.sql', 'CREATE TABLE IF NOT EXISTS ${db}.t (x UInt8) ENGINE = Memory;')).toThrow(
      'migration 0001_x.sql uses unknown placeholder ${db}; only ${database} is substituted',
    );
  });
});

describe('migrationChecksum', () => {
  it('is the sha256 of the text, independent of CRLF line endings', () => {
    expect(migrationChecksum('SELECT 1;\n')).toBe('b4e0497804e46e0a0b0b8c31975b062152d551bac49c3c2e80932567b4085dcd'); // printf 'SELECT 1;\n' | sha256sum
    expect(migrationChecksum('SELECT 1;\r\n')).toBe('b4e0497804e46e0a0b0b8c31975b062152d551bac49c3c2e80932567b4085dcd');
    expect(migrationChecksum('SELECT 1;\n')).not.toBe(migrationChecksum('SELECT 2;\n'));
  });
});

describe('parseMigrations', () => {
  it('orders by version and ignores files that are not .sql', () => {
    const files = new Map([
      ['0002_b.sql', 'SELECT 2;'],
      ['README.md', '# notes'],
      ['0010_c.sql', 'SELECT 10;'],
      ['0001_a.sql', 'SELECT 1;'],
    ]);
    expect(parseMigrations(files).map((m) => m.fileName)).toEqual(['0001_a.sql', '0002_b.sql', '0010_c.sql']);
  });

  it('refuses two files with one version', () => {
    const files = new Map([
      ['0001_a.sql', 'SELECT 1;'],
      ['0001_b.sql', 'SELECT 1;'],
    ]);
    expect(() => parseMigrations(files)).toThrow('migrations 0001_a.sql and 0001_b.sql share version 1');
  });
});

describe('planMigrations', () => {
  const files = parseMigrations(
    new Map([
      ['0001_a.sql', 'SELECT 1;'],
      ['0002_b.sql', 'SELECT 2;'],
      ['0003_c.sql', 'SELECT 3;'],
    ]),
  );
  const record = (file: MigrationFile, checksum = file.checksum): AppliedMigration => ({
    version: file.version,
    name: file.name,
    checksum,
    appliedAt: '2025-01-01 00:00:00.000',
  });
  const [first, second, third] = files as [MigrationFile, MigrationFile, MigrationFile];

  it('applies everything on an empty database, in order', () => {
    expect(planMigrations(files, []).map((m) => m.version)).toEqual([1, 2, 3]);
  });

  it('applies only what is not recorded', () => {
    expect(planMigrations(files, [record(first), record(second)]).map((m) => m.version)).toEqual([3]);
    expect(
      planMigrations(
        files,
        files.map((f) => record(f)),
      ),
    ).toEqual([]);
  });

  it('refuses an applied file whose checksum changed, naming the file and what to do', () => {
    const applied = [record(first), record(second, 'f'.repeat(64))];
    expect(() => planMigrations(files, applied)).toThrow(MigrationError);
    expect(() => planMigrations(files, applied)).toThrow(
      /^migration 0002_b\.sql changed after it was applied \(recorded checksum ffffffffffff…, file now [0-9a-f]{12}…\)\. Applied migrations are append-only/,
    );
  });

  it('refuses a file numbered before one already applied', () => {
    expect(() => planMigrations(files, [record(first), record(third)])).toThrow(
      'migration 0002_b.sql is not applied but 0003 already is: migrations are append-only, so a new file must be numbered after the latest one',
    );
  });

  it('tolerates a recorded version this release has no file for (a newer release applied it)', () => {
    const newer: AppliedMigration = { version: 4, name: 'd', checksum: 'x', appliedAt: '2025-01-01 00:00:00.000' };
    expect(planMigrations(files, [...files.map((f) => record(f)), newer])).toEqual([]);
  });
});

describe('renderStatement', () => {
  it('substitutes the backquoted database for ${database}', () => {
    expect(renderStatement('CREATE VIEW IF NOT EXISTS ${database}.v AS SELECT * FROM ${database}.t', 'test_ab12')).toBe(
      'CREATE VIEW IF NOT EXISTS `test_ab12`.v AS SELECT * FROM `test_ab12`.t',
    );
  });

  it('refuses a database name that is not a plain identifier', () => {
    expect(() => renderStatement('SELECT 1', 'kumiki`; DROP')).toThrow(RangeError);
  });
});

describe('the migrations in infra/clickhouse/migrations', () => {
  const migrations = loadMigrations();

  it('are numbered 1, 2, 3 … without gaps', () => {
    expect(migrations.map((m) => m.version)).toEqual(migrations.map((_, index) => index + 1));
  });

  it('are idempotent statement by statement, so that a re-run or a concurrent run is harmless', () => {
    const notIdempotent = migrations.flatMap((m) =>
      m.statements
        .map((statement) => statement.replace(/^(\s*(--[^\n]*\n|\/\*[\s\S]*?\*\/))*\s*/, ''))
        .filter(
          (statement) =>
            !/^(CREATE\s+(TABLE|VIEW|MATERIALIZED\s+VIEW|DATABASE)\s+IF\s+NOT\s+EXISTS|CREATE\s+OR\s+REPLACE\s+VIEW|ALTER\s+TABLE\s+\S+\s+(ADD|DROP|MODIFY)\s+(COLUMN|INDEX)\s+IF\s+(NOT\s+)?EXISTS)\b/i.test(
              statement,
            ),
        )
        .map((statement) => `${m.fileName}: ${statement.slice(0, 60)}`),
    );
    expect(notIdempotent).toEqual([]);
  });

  it('name every table through ${database}, so they run in any database', () => {
    const unqualified = migrations.flatMap((m) =>
      m.statements
        .filter((s) =>
          /\b(CREATE (TABLE|VIEW) IF NOT EXISTS|CREATE OR REPLACE VIEW|FROM|JOIN)\s+(?!\$\{database\}\.)(?!\()[A-Za-z_]/.test(
            withoutCommentsAndStrings(s),
          ),
        )
        .map((s) => `${m.fileName}: ${s.slice(0, 60)}`),
    );
    expect(unqualified).toEqual([]);
  });

  it('define the public tables and columns DESIGN.md promises', () => {
    const sql = migrations.flatMap((m) => m.statements).join('\n');
    const view = (name: string): string => {
      const match = new RegExp(
        `CREATE VIEW IF NOT EXISTS \\$\\{database\\}\\.${name} AS\\s+SELECT([\\s\\S]*?)\\s+FROM`,
      ).exec(sql);
      if (!match?.[1]) throw new Error(`no view ${name}`);
      return match[1];
    };
    const promised: Record<string, string[]> = {
      events: [
        'message_id',
        'profile_id',
        'type',
        'event',
        'timestamp',
        'received_at',
        'channel',
        'source',
        'user_id',
        'anonymous_id',
        'order_id',
        'revenue',
        'currency',
        'properties',
        'context',
      ],
      identities: ['identifier_type', 'identifier_value', 'profile_id'],
      profiles: ['profile_id', 'traits', 'first_seen', 'last_seen', 'consent'],
      rfm: [
        'profile_id',
        'last_purchase_at',
        'recency_days',
        'frequency',
        'monetary',
        'r_score',
        'f_score',
        'm_score',
        'label',
      ],
      segment_members: ['segment_id', 'profile_id', 'since'],
    };
    for (const [name, columns] of Object.entries(promised)) {
      const selected = view(name);
      for (const column of columns)
        expect(
          `${name}: ${new RegExp(`(^|[\\s,.])${column}(\\s|,|$)`).test(selected) ? column : `missing ${column}`}`,
        ).toBe(`${name}: ${column}`);
    }
  });
});

function withoutCommentsAndStrings(sql: string): string {
  return sql.replace(/--[^\n]*/g, '').replace(/'(?:[^'\\]|\\.|'')*'/g, "''");
}
