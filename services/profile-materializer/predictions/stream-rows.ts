import type { ClickHouse } from '../../common/clickhouse/client-factory';
import { toKumikiError } from '../../common/clickhouse/errors';

/**
 * Calls `onRow` with each row of `sql` as an array of values (JSONCompactEachRow), as the rows
 * arrive: a query over every purchaser is never held in memory as objects.
 */
export async function streamRows(
  ch: ClickHouse,
  sql: string,
  onRow: (row: unknown[]) => void,
  params?: Record<string, unknown>,
): Promise<number> {
  let count = 0;
  try {
    const result = await ch.client.query({
      query: sql,
      format: 'JSONCompactEachRow',
      ...(params ? { query_params: params } : {}),
    });
    for await (const rows of result.stream()) {
      for (const row of rows) {
        onRow(row.json<unknown[]>());
        count += 1;
      }
    }
  } catch (error) {
    throw toKumikiError(error, ch.mode, { operation: 'query' });
  }
  return count;
}

/** A column of a paged query's key: its name and ClickHouse type. */
export interface KeyColumn {
  readonly column: string;
  readonly type: string;
}

/**
 * Calls `onRow` with each row of a query read in pages of `pageSize` rows: embedded ClickHouse
 * hands over a query's whole result at once, and a large one would be held whole (as ClickHouse's
 * answer and as Node's text of it). `sql(after)` is the query with `after` in its WHERE clause and
 * an ORDER BY of the `key` columns, which identify a row and are its first values; each page
 * continues after the last row of the one before, so the rows come in the same order as in one
 * query.
 */
export async function streamPages(
  ch: ClickHouse,
  key: readonly KeyColumn[],
  pageSize: number,
  sql: (after: string) => string,
  onRow: (row: unknown[]) => void,
): Promise<void> {
  let last: unknown[] | null = null;
  for (;;) {
    const params: Record<string, unknown> = {};
    let after = '1';
    if (last) {
      const previous = last;
      key.forEach((_, i) => {
        params[`after_${i}`] = previous[i];
      });
      after = `(${key.map((k) => k.column).join(', ')}) > (${key.map((k, i) => `{after_${i}:${k.type}}`).join(', ')})`;
    }
    let rows = 0;
    await streamRows(
      ch,
      `${sql(after)} LIMIT ${Math.floor(pageSize)}`,
      (row) => {
        last = row;
        rows += 1;
        onRow(row);
      },
      params,
    );
    if (rows < pageSize) return;
  }
}

/** A Float64Array that grows as values are pushed (amortised doubling); `view()` is the filled part. */
export class GrowingArray {
  private data: Float64Array;
  length = 0;
  /** `capacity`: the values expected, when known (no copies while it is not exceeded). */
  constructor(capacity = 1024) {
    this.data = new Float64Array(Math.max(1, capacity));
  }
  push(value: number): void {
    if (this.length === this.data.length) {
      const bigger = new Float64Array(this.data.length * 2);
      bigger.set(this.data);
      this.data = bigger;
    }
    this.data[this.length++] = value;
  }
  view(): Float64Array {
    return this.data.subarray(0, this.length);
  }
}
