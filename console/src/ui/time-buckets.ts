/**
 * Every bucket of a chart's window, oldest first, as ISO times aligned as ClickHouse's
 * toStartOfInterval aligns them in UTC (multiples of the bucket since the epoch), so buckets
 * without rows are drawn as zero instead of being left out of the time axis.
 */
export function bucketsOf(endIso: string, windowMs: number, bucketMs: number): string[] {
  const end = Math.floor(Date.parse(endIso) / bucketMs) * bucketMs;
  const start = Math.floor((Date.parse(endIso) - windowMs) / bucketMs) * bucketMs + bucketMs;
  const buckets: string[] = [];
  for (let t = start; t <= end; t += bucketMs) buckets.push(new Date(t).toISOString());
  return buckets;
}

/** Rows `{ at, series, count }` as one record per bucket with a count per series (0 where none). */
export function pivot(
  buckets: readonly string[],
  rows: readonly { at: string; series: string; count: number }[],
  series: readonly string[],
): Record<string, string | number>[] {
  const byTime = new Map<number, Record<string, string | number>>();
  for (const at of buckets) byTime.set(Date.parse(at), { at, ...Object.fromEntries(series.map((s) => [s, 0])) });
  for (const row of rows) {
    const record = byTime.get(Date.parse(row.at));
    if (record) record[row.series] = ((record[row.series] as number | undefined) ?? 0) + row.count;
  }
  return [...byTime.values()];
}
