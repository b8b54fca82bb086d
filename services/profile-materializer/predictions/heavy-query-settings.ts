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

/**
 * Settings of the statements of a run that write a whole run's rows into one of its tables (the
 * staged orders and events, the summaries, the rows): ClickHouse gathers an INSERT … SELECT's rows
 * into blocks of about a million rows (256 MB) and sorts each in memory before writing it as a
 * part. Blocks of 131,072 rows (32 MB) hold an eighth of that at a time; the table gets more parts,
 * which its background merges join within seconds.
 */
export const smallInsertBlocks: ClickHouseSettings = Object.freeze({
  min_insert_block_size_rows: '131072',
  min_insert_block_size_bytes: String(32 * 1024 * 1024),
});
