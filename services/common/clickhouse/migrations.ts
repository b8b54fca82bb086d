import { createHash } from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import { KumikiError, type ErrorContext } from '../errors';
import type { Logger } from '../logger';
import { projectRoot } from '../paths';
import type { ClickHouse } from './client-factory';
import { quoteIdentifier, splitStatements } from './sql-text';

/**
 * ClickHouse schema migrations: numbered, append-only SQL files in infra/clickhouse/migrations/.
 *
 * - A file is `NNNN_snake_name.sql` and holds one or more statements, each ending with `;`.
 * - `${database}` in a file stands for the configured database (backquoted), so the same files
 *   run in `kumiki` and in a test's throwaway database. It is plain text substitution, not a
 *   `{database:Identifier}` query parameter, because a `{name:Type}` placeholder inside
 *   CREATE VIEW would make ClickHouse create a parameterized view.
 * - Each file runs once, in order, and is then recorded in `schema_migrations` with its
 *   checksum. A start with nothing new applies nothing; an applied file whose checksum changed
 *   is refused: applied files are history, changes go into a new file.
 * - Two processes may start at once. There is no lock (ClickHouse has none to offer across
 *   embedded and server modes); instead every statement is idempotent (`IF NOT EXISTS`,
 *   `ADD COLUMN IF NOT EXISTS`, `CREATE OR REPLACE` only to change something created by an
 *   earlier file), so running a file twice, or concurrently, ends in the same schema, and a
 *   duplicate record collapses because `schema_migrations` is read by version.
 */
export interface MigrationFile {
  readonly version: number;
  readonly name: string;
  readonly fileName: string;
  /** sha256 (hex) of the file with line endings normalised to `\n`. */
  readonly checksum: string;
  /** Statements as written, `${database}` not yet substituted. */
  readonly statements: readonly string[];
}

export interface AppliedMigration {
  readonly version: number;
  readonly name: string;
  readonly checksum: string;
  readonly appliedAt: string;
}

export interface MigrationResult {
  /** Files applied by this run, in order. */
  readonly applied: ReadonlyArray<Pick<MigrationFile, 'version' | 'name'>>;
  /** Files that were already recorded. */
  readonly alreadyApplied: number;
}

/** A migration set that cannot be applied as it is; a person has to act. Not retriable. */
export class MigrationError extends KumikiError {
  readonly isRetriable = false;
  constructor(message: string, context: ErrorContext = {}, options?: { cause?: unknown }) {
    super(message, context, options);
  }
}

const fileNamePattern = /^(\d{4})_([a-z0-9][a-z0-9_]*)\.sql$/;
const placeholderPattern = /\$\{([^}]*)\}/g;
const knownPlaceholders: ReadonlySet<string> = new Set(['database']);

export function defaultMigrationsDirectory(): string {
  return path.join(projectRoot(), 'infra', 'clickhouse', 'migrations');
}

export function migrationChecksum(content: string): string {
  return createHash('sha256').update(content.replace(/\r\n?/g, '\n'), 'utf8').digest('hex');
}

/** Parses one file; throws MigrationError for a bad name, no statements or an unknown placeholder. */
export function parseMigration(fileName: string, content: string): MigrationFile {
  const match = fileNamePattern.exec(fileName);
  if (!match) {
    throw new MigrationError(
      `migration file name ${JSON.stringify(fileName)} must look like 0001_snake_case_name.sql`,
      { fileName },
    );
  }
  const statements = splitStatements(content);
  if (statements.length === 0) throw new MigrationError(`migration ${fileName} holds no SQL statement`, { fileName });
  for (const [, placeholder] of content.matchAll(placeholderPattern)) {
    if (!knownPlaceholders.has(placeholder ?? '')) {
      throw new MigrationError(
        `migration ${fileName} uses unknown placeholder \${${placeholder}}; only \${database} is substituted`,
        { fileName },
      );
    }
  }
  return { version: Number(match[1]), name: match[2]!, fileName, checksum: migrationChecksum(content), statements };
}

/**
 * Orders migrations by version and refuses duplicate versions. `files` maps file name to
 * content; names that do not end in `.sql` (a README) are ignored.
 */
export function parseMigrations(files: ReadonlyMap<string, string>): MigrationFile[] {
  const migrations = [...files]
    .filter(([fileName]) => fileName.endsWith('.sql'))
    .map(([fileName, content]) => parseMigration(fileName, content))
    .sort((a, b) => a.version - b.version);
  for (let i = 1; i < migrations.length; i++) {
    const previous = migrations[i - 1]!;
    const current = migrations[i]!;
    if (previous.version === current.version) {
      throw new MigrationError(
        `migrations ${previous.fileName} and ${current.fileName} share version ${current.version}`,
        { version: current.version },
      );
    }
  }
  return migrations;
}

export function loadMigrations(directory: string = defaultMigrationsDirectory()): MigrationFile[] {
  let names: string[];
  try {
    names = fs.readdirSync(directory);
  } catch (error) {
    throw new MigrationError(`cannot read migrations directory ${directory}`, { directory }, { cause: error });
  }
  return parseMigrations(new Map(names.map((name) => [name, fs.readFileSync(path.join(directory, name), 'utf8')])));
}

/** Substitutes `${database}` with the backquoted database name. */
export function renderStatement(statement: string, database: string): string {
  const quoted = quoteIdentifier(database);
  return statement.replace(placeholderPattern, () => quoted);
}

/**
 * Decides what to apply given what `schema_migrations` records. Refuses when an applied file
 * changed or was removed, and when a file is older than one already applied (it was added out
 * of order, so other installations may have skipped it). A recorded version with no file is
 * tolerated: a newer release applied it and this one is older (rolling deploy).
 */
export function planMigrations(files: readonly MigrationFile[], applied: readonly AppliedMigration[]): MigrationFile[] {
  const appliedByVersion = new Map(applied.map((row) => [row.version, row]));
  const latestApplied = Math.max(0, ...applied.map((row) => row.version));
  const pending: MigrationFile[] = [];
  for (const file of files) {
    const record = appliedByVersion.get(file.version);
    if (record) {
      if (record.checksum !== file.checksum) {
        throw new MigrationError(
          `migration ${file.fileName} changed after it was applied (recorded checksum ${record.checksum.slice(0, 12)}…, ` +
            `file now ${file.checksum.slice(0, 12)}…). Applied migrations are append-only: undo the edit and put the change in a new, higher-numbered file.`,
          {
            version: file.version,
            fileName: file.fileName,
            recordedChecksum: record.checksum,
            fileChecksum: file.checksum,
          },
        );
      }
      continue;
    }
    if (file.version < latestApplied) {
      throw new MigrationError(
        `migration ${file.fileName} is not applied but ${String(latestApplied).padStart(4, '0')} already is: ` +
          'migrations are append-only, so a new file must be numbered after the latest one',
        { version: file.version, fileName: file.fileName, latestApplied },
      );
    }
    pending.push(file);
  }
  return pending;
}

export interface RunMigrationsOptions {
  readonly logger: Logger;
  /** Defaults to infra/clickhouse/migrations in the repository. */
  readonly directory?: string;
  /** Instead of `directory`, e.g. in tests. */
  readonly migrations?: readonly MigrationFile[];
}

/** Applies pending migrations to `ch.database`. Idempotent; call it on every start. */
export async function runMigrations(ch: ClickHouse, options: RunMigrationsOptions): Promise<MigrationResult> {
  const log = options.logger.child({ component: 'clickhouse-migrations', database: ch.database });
  const files = options.migrations ?? loadMigrations(options.directory);
  await ch.command(renderStatement(schemaMigrationsTable, ch.database));
  const recorded = await readAppliedMigrations(ch);
  const pending = planMigrations(files, recorded);
  for (const file of pending) {
    const started = Date.now();
    for (const [index, statement] of file.statements.entries()) {
      try {
        await ch.command(renderStatement(statement, ch.database));
      } catch (error) {
        // Statements are idempotent, so a failed file is simply run again on the next start.
        log.error(
          { version: file.version, statement: index + 1, err: error instanceof Error ? error.message : String(error) },
          'migration failed',
        );
        throw error;
      }
    }
    await ch.insert('schema_migrations', [{ version: file.version, name: file.name, checksum: file.checksum }]);
    log.info(
      {
        version: file.version,
        migration: file.name,
        statements: file.statements.length,
        durationMs: Date.now() - started,
      },
      'migration applied',
    );
  }
  if (pending.length === 0) log.debug({ applied: recorded.length }, 'migrations up to date');
  return {
    applied: pending.map(({ version, name }) => ({ version, name })),
    alreadyApplied: files.length - pending.length,
  };
}

/**
 * Read by version with argMin: when two processes recorded the same file at once, the earlier
 * record counts. (A plain MergeTree keeps both rows, so this stays exact after merges.)
 */
export async function readAppliedMigrations(ch: ClickHouse): Promise<AppliedMigration[]> {
  // Output names differ from the columns: an alias named like a column would shadow it inside the other aggregates.
  const rows = await ch.query<{
    version: number;
    first_name: string;
    first_checksum: string;
    first_applied_at: string;
  }>(
    `SELECT version, argMin(name, applied_at) AS first_name, argMin(checksum, applied_at) AS first_checksum, min(applied_at) AS first_applied_at
     FROM schema_migrations GROUP BY version ORDER BY version`,
  );
  return rows.map((row) => ({
    version: Number(row.version),
    name: row.first_name,
    checksum: row.first_checksum,
    appliedAt: row.first_applied_at,
  }));
}

/** Created by the runner itself, before any file: it has to exist to know what to apply. */
const schemaMigrationsTable = `
CREATE TABLE IF NOT EXISTS \${database}.schema_migrations
(
    version    UInt32 COMMENT 'number in the file name (0001_… → 1)',
    name       String COMMENT 'file name without number and extension',
    checksum   String COMMENT 'sha256 of the file (LF line endings) when it was applied',
    applied_at DateTime64(3, 'UTC') DEFAULT now64(3) COMMENT 'when it was applied'
)
ENGINE = MergeTree
ORDER BY version
COMMENT 'ClickHouse migrations applied from infra/clickhouse/migrations; two processes starting at once may both record a file, so read it GROUP BY version (the earliest record counts)'`;
