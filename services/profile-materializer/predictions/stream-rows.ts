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
