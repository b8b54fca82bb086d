-- The events a prediction run reads, staged once per run sorted by profile (predictions/
-- activity.ts): the propensity features and the recommendation interactions aggregate per
-- profile, and events_store is sorted by message_id, so aggregating it directly holds one state
-- per profile at once (gigabytes over a million profiles, in the service's own process when
-- ClickHouse is embedded). Over this table the aggregations run in profile order, one profile's
-- state at a time, and the events (FINAL, aliases resolved, product ids read from the JSON) are
-- scanned once per run instead of once per statement.
CREATE TABLE IF NOT EXISTS ${database}.prediction_activity_store
(
    version     UInt64 COMMENT 'model version (prediction_models_store.version): the run''s partition',
    profile_id  String COMMENT 'current profile of the event at the run (merged-away ids resolved)',
    timestamp   DateTime64(3, 'UTC') COMMENT 'event time',
    type        LowCardinality(String) COMMENT 'event type: track, page, screen, …',
    event       LowCardinality(String) COMMENT 'track event name; empty for other types',
    channel     LowCardinality(String) COMMENT 'channel of the event',
    is_purchase UInt8 COMMENT 'a purchase event (RFM settings)',
    items       Array(String) COMMENT 'product ids of a product view, cart add or purchase (empty otherwise)'
)
ENGINE = MergeTree
PARTITION BY version
ORDER BY (profile_id, timestamp)
COMMENT 'Internal: the events of a prediction run sorted by profile (features and interactions read it)';
