import type { ClickHouseSettings } from '@clickhouse/client';

/**
 * Settings of the statements of a run that aggregate every order (staging the orders, the
 * summaries). They run inside the profile-materializer, whose ClickHouse is embedded in the same
 * process, so their memory is the service's: aggregations and sorts spill to disk beyond 300 MB
 * instead of growing with the data. Measured on 1M purchasers / 10M orders: staging the orders
 * peaked at 5.5 GB without them, 0.87 GB with them, for about twice the time. The feature and
 * interaction scans run without them: spilling made them ten times slower at 100k purchasers
 * (docs/predictions.md, "Benchmark").
 */
export const heavyQuerySettings: ClickHouseSettings = Object.freeze({
  max_bytes_before_external_group_by: String(300 * 1024 * 1024),
  max_bytes_before_external_sort: String(300 * 1024 * 1024),
});
