import type { ClickHouse } from '../../common/clickhouse/client-factory';
import { integerLiteral } from '../../common/clickhouse/sql-text';
import { releaseFreedMemory } from './buckets';
import { smallInsertBlocks } from './heavy-query-settings';

const at = (ms: number): string => `fromUnixTimestamp64Milli(toInt64(${integerLiteral(ms)}), 'UTC')`;
const purchaseEvents = '(SELECT argMax(purchase_events, version) FROM rfm_settings_store)';

/**
 * Staged events per statement of the per-profile aggregations over them (features,
 * interactions): a few kB of aggregation state per profile of a bucket.
 */
export const ACTIVITY_ROWS_PER_BUCKET = 1_000_000;

/** The product events of the interactions (besides purchase events). */
export const PRODUCT_EVENTS = `('Product Viewed', 'Product Added')`;

/**
 * Stages the events run `version` reads into prediction_activity_store (migration 0023), sorted
 * by profile, in one scan of the events view: every event up to `upTo` (epoch ms) that is either
 * in the features' window (the year before `earliestRef`, the earliest reference time of a
 * feature split) or an interaction (a product view, cart add or purchase). `items` holds an
 * interaction's product ids: a purchase event's `products[].product_id` (Segment e-commerce spec),
 * a view's or cart add's `product_id`, empty ids left out.
 */
export async function stageActivity(ch: ClickHouse, version: number, upTo: number, earliestRef: number): Promise<void> {
  await ch.command(
    `INSERT INTO prediction_activity_store (version, profile_id, timestamp, type, event, channel, is_purchase, items)
     SELECT toUInt64(${integerLiteral(version)}), profile_id, timestamp, type, event, channel, is_purchase,
            if(interaction,
               arrayFilter(item -> item != '',
                           if(is_purchase,
                              arrayMap(p -> JSONExtractString(p, 'product_id'), JSONExtractArrayRaw(properties, 'products')),
                              [JSONExtractString(properties, 'product_id')])),
               []) AS items
     FROM
     (
         SELECT profile_id, timestamp, type, event, channel, properties,
                has(${purchaseEvents}, event) AS is_purchase,
                type = 'track' AND (event IN ${PRODUCT_EVENTS} OR is_purchase) AS interaction
         FROM events
         WHERE timestamp <= ${at(upTo)}
     )
     WHERE interaction OR timestamp > ${at(earliestRef)} - INTERVAL 365 DAY`,
    undefined,
    { settings: smallInsertBlocks },
  );
  await releaseFreedMemory(ch);
}
