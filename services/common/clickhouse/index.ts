export {
  createClickHouse,
  defaultSettings,
  embeddedDataPath,
  type ClickHouse,
  type ClickHouseConfig,
  type ClickHouseOptions,
  type HealthReport,
  type QueryOptions,
  type QueryParams,
} from './client-factory';
export { ClickHouseQueryError, toKumikiError, type ClickHouseMode } from './errors';
export {
  defaultMigrationsDirectory,
  loadMigrations,
  migrationChecksum,
  MigrationError,
  parseMigration,
  parseMigrations,
  planMigrations,
  readAppliedMigrations,
  renderStatement,
  runMigrations,
  type AppliedMigration,
  type MigrationFile,
  type MigrationResult,
  type RunMigrationsOptions,
} from './migrations';
export { splitStatements, quoteIdentifier, isPlainIdentifier } from './sql-text';
