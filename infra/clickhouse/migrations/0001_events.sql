-- Events: every event kumiki has seen, one logical row per messageId.
--
-- Exactness: a replayed or retried event is written again with the same message_id, and
-- ReplacingMergeTree(version) ORDER BY message_id collapses the copies (the highest version
-- stays). Merges happen in the background, so exact reads go through the `events` view
-- (which reads FINAL) or deduplicate themselves (FINAL, or argMax(..., version) GROUP BY message_id).
--
-- Why ORDER BY message_id and not (profile_id, timestamp, message_id): replacing happens per
-- sorting key, and two copies of one event do not always agree on profile_id (identities merged
-- between a retry and the original) or on timestamp (clock-skew correction uses sentAt, which a
-- retry changes). Only message_id is certain to match, so it alone is the key; skip indexes
-- serve the profile and time filters of segment queries.
--
-- Why no PARTITION BY: copies are only collapsed within one partition, and a retried event whose
-- corrected timestamp falls in another month would stay doubled.
--
-- profile_id is the profile the stitcher assigned; it is never rewritten in place. The `events`
-- view maps ids absorbed by a merge to the surviving profile at read time (see 0005).
CREATE TABLE IF NOT EXISTS ${database}.events_store
(
    message_id   String COMMENT 'Segment messageId; the deduplication key',
    profile_id   String COMMENT 'profile assigned by the identity-stitcher; the events view maps merged-away ids to the survivor',
    type         LowCardinality(String) COMMENT 'track, identify, page, screen, group or alias',
    event        String DEFAULT '' COMMENT 'track event name, e.g. Order Completed; empty for other types',
    name         String DEFAULT '' COMMENT 'page or screen name',
    timestamp    DateTime64(3, 'UTC') COMMENT 'event time, clock-skew corrected as Segment does',
    received_at  DateTime64(3, 'UTC') COMMENT 'when the collector or importer received the event',
    channel      LowCardinality(String) DEFAULT '' COMMENT 'web, mobile, server, store, email or import',
    source       LowCardinality(String) DEFAULT '' COMMENT 'the source that sent the event',
    user_id      String DEFAULT '' COMMENT 'userId as sent; empty when absent',
    anonymous_id String DEFAULT '' COMMENT 'anonymousId as sent; empty when absent',
    device_id    String DEFAULT '' COMMENT 'context.device.id; empty when absent',
    page_path    String DEFAULT '' COMMENT 'context.page.path (page events); empty when absent',
    order_id     String DEFAULT '' COMMENT 'order id of purchase events; RFM counts orders by it, not events',
    revenue      Nullable(Decimal(18, 4)) COMMENT 'purchase revenue (revenue, else total); Decimal so that sums are exact and do not depend on summation order; NULL when not a purchase',
    currency     LowCardinality(String) DEFAULT '' COMMENT 'ISO 4217 code of revenue',
    properties   String DEFAULT '{}' COMMENT 'JSON text; read with JSONExtractString(properties, ''key'') and friends. Text, not the JSON type, because its support differs across ClickHouse and chDB versions' CODEC(ZSTD(3)),
    traits       String DEFAULT '{}' COMMENT 'JSON text of traits sent with the event' CODEC(ZSTD(3)),
    context      String DEFAULT '{}' COMMENT 'JSON text of the Segment context' CODEC(ZSTD(3)),
    version      UInt64 COMMENT 'ReplacingMergeTree version: the materializer writes received_at in epoch milliseconds, so of two receipts of one messageId the later wins; a replay writes an identical row',
    INDEX idx_profile_id profile_id TYPE bloom_filter(0.01) GRANULARITY 4,
    INDEX idx_timestamp timestamp TYPE minmax GRANULARITY 4,
    INDEX idx_event event TYPE bloom_filter(0.01) GRANULARITY 4
)
ENGINE = ReplacingMergeTree(version)
ORDER BY message_id
COMMENT 'Storage for events, one row per messageId after merges; query the events view, which deduplicates (FINAL) and resolves merged profiles';
