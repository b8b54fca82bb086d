import type { ClickHouseSettings } from '@clickhouse/client';
import type { ClickHouse } from '../../common/clickhouse/client-factory';
import { integerLiteral } from '../../common/clickhouse/sql-text';

/**
 * A run's statements that aggregate per order or per profile hold one aggregation state per key,
 * and the run's ClickHouse lives in the service's process: over a million purchasers one
 * statement would need gigabytes. Split by a hash of the key into buckets instead, one statement
 * each; every key falls in exactly one bucket, so the rows written are the same as one
 * statement's. ClickHouse pushes the condition below the GROUP BY where the key is a grouping
 * key, so a bucket aggregates only its own keys.
 */
export interface Bucket {
  readonly index: number;
  readonly count: number;
}

/**
 * Settings of a statement that groups a table by the leading columns of its sort key (the order
 * events by order key, the staged orders, events and interactions by profile): ClickHouse then
 * aggregates in that order, holding the state of one key at a time instead of one per key, so its
 * memory does not grow with the number of keys and it needs no buckets. One thread reads the
 * table in order as it lies; more would split it into ranges read and merged back in order
 * (FINAL included), which costs more CPU than it saves on two cores.
 */
export const inSortKeyOrder: ClickHouseSettings = Object.freeze({ optimize_aggregation_in_order: 1, max_threads: 1 });

/** The buckets for `rows` input rows at most `rowsPerBucket` each (at least one bucket). */
export function bucketsFor(rows: number, rowsPerBucket: number): Bucket[] {
  const count = Math.max(1, Math.ceil(rows / rowsPerBucket));
  return Array.from({ length: count }, (_, index) => ({ index, count }));
}

/** The SQL condition "`key` is in `bucket`" (always true for a single bucket). */
export function inBucket(key: string, bucket: Bucket): string {
  if (bucket.count === 1) return '1';
  return `cityHash64(${key}) % ${integerLiteral(bucket.count)} = ${integerLiteral(bucket.index)}`;
}

/** Rows of `table` matching `where` (sizes the buckets). */
export async function countRows(ch: ClickHouse, table: string, where: string): Promise<number> {
  const [row] = await ch.query<{ n: string }>(`SELECT count() AS n FROM ${table} WHERE ${where}`);
  return Number(row?.n ?? 0);
}

/** The buckets of run `version`'s rows in one of its tables, at most `rowsPerBucket` rows each. */
export async function runBuckets(
  ch: ClickHouse,
  table: string,
  version: number,
  rowsPerBucket: number,
): Promise<Bucket[]> {
  return bucketsFor(await countRows(ch, table, `version = ${integerLiteral(version)}`), rowsPerBucket);
}

/** Runs `statement` of each bucket in turn, returning the memory each freed before the next. */
export async function runInBuckets(
  ch: ClickHouse,
  buckets: readonly Bucket[],
  statement: (bucket: Bucket) => string,
  settings?: ClickHouseSettings,
): Promise<void> {
  for (const bucket of buckets) {
    await ch.command(statement(bucket), undefined, settings ? { settings } : undefined);
    await releaseFreedMemory(ch);
  }
}

/**
 * Embedded ClickHouse (chDB) keeps the memory a statement freed for its next allocations, so the
 * service's resident memory would stay at the largest statement's peak plus whatever grew since;
 * this hands it back to the system after each large statement of a run. A server manages its own.
 */
export async function releaseFreedMemory(ch: ClickHouse): Promise<void> {
  if (ch.mode !== 'embedded') return;
  // A chDB built without jemalloc refuses the statement and has no such cache to return.
  await ch.command('SYSTEM JEMALLOC PURGE').catch(() => undefined);
}
