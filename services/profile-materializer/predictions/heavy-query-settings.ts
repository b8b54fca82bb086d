import type { ClickHouseSettings } from '@clickhouse/client';

/**
 * Settings of the statements of a run that aggregate orders (staging them, the summaries). They
 * run inside the profile-materializer, whose ClickHouse is embedded in the same process, so their
 * memory is the service's. The statements already work in buckets sized to stay well under these
 * limits (buckets.ts); should a bucket still outgrow them (one profile with a huge history, say),
 * its aggregation and sorts spill to disk beyond 300 MB instead of growing with the data.
 */
export const heavyQuerySettings: ClickHouseSettings = Object.freeze({
  max_bytes_before_external_group_by: String(300 * 1024 * 1024),
  max_bytes_before_external_sort: String(300 * 1024 * 1024),
});
