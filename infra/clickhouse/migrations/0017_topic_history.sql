-- History kept from two Kafka topics the profile-materializer does not otherwise read back:
-- dead letters (kumiki.events.dlq) and segment changes (kumiki.segments.changes). The web console
-- and SQL users ask of them what a topic cannot answer cheaply: counts by reason over time, samples
-- with their original bytes, a segment's size over time, a profile's enters and exits.
--
-- Filled by a consumer of its own (services/profile-materializer/history/), never by the ingest
-- path: no materialized view hangs off events_store, so event inserts cost what they did.
--
-- Exactness: each row is one record of its topic, keyed by (source_topic, source_partition,
-- source_offset). A replay after a crash (offsets are committed after the insert) writes identical rows and
-- ReplacingMergeTree keeps one; readers go through the views, which read FINAL.
-- History begins with what the topics still hold when the consumer first starts (their retention:
-- 30 days each) and is kept as long as the topics keep theirs (TTL below).

CREATE TABLE IF NOT EXISTS ${database}.dead_letters_store
(
    source_topic       LowCardinality(String) COMMENT 'dead-letter topic the record was read from',
    source_partition   UInt32 COMMENT 'its partition',
    source_offset      UInt64 COMMENT 'its offset; (source_topic, source_partition, source_offset) is the key',
    failed_at          DateTime64(3, 'UTC') COMMENT 'when the input was dead-lettered',
    service            LowCardinality(String) COMMENT 'service that rejected it: collector, identity-stitcher, profile-materializer',
    stage              LowCardinality(String) COMMENT 'processing step that rejected it',
    code               LowCardinality(String) COMMENT 'stable error code, e.g. KUMIKI_INVALID_EVENT',
    reason             String COMMENT 'human-readable reason',
    error              String COMMENT 'error class and message',
    message_id         String DEFAULT '' COMMENT 'messageId of the event when it could be read; empty otherwise',
    original_topic     String DEFAULT '' COMMENT 'topic of the input; empty for HTTP input',
    original_partition Int32 DEFAULT -1 COMMENT 'partition of the input; -1 for HTTP input',
    original_offset    Int64 DEFAULT -1 COMMENT 'offset of the input; -1 for HTTP input',
    original_key       String DEFAULT '' COMMENT 'original record key, base64; empty when there was none',
    original_value     String COMMENT 'original record value (or HTTP body), base64 of the bytes as received' CODEC(ZSTD(3)),
    attempt            UInt32 COMMENT 'processing attempts before giving up'
)
ENGINE = ReplacingMergeTree
ORDER BY (source_topic, source_partition, source_offset)
TTL toDateTime(failed_at) + INTERVAL 30 DAY
COMMENT 'Storage for dead_letters, one row per record of the dead-letter topic; query the dead_letters view';

CREATE VIEW IF NOT EXISTS ${database}.dead_letters AS
SELECT failed_at, service, stage, code, reason, error, message_id, original_topic, original_partition,
       original_offset, base64Decode(original_key) AS original_key, base64Decode(original_value) AS original_value,
       attempt, source_topic, source_partition, source_offset
FROM ${database}.dead_letters_store FINAL
COMMENT 'Dead letters: input a service could not process, with the reason, code, stage and the original bytes (original_value). One row per dead letter (FINAL)';

CREATE TABLE IF NOT EXISTS ${database}.segment_changes_store
(
    source_topic     LowCardinality(String) COMMENT 'segment changes topic the record was read from',
    source_partition UInt32 COMMENT 'its partition',
    source_offset    UInt64 COMMENT 'its offset; (source_topic, source_partition, source_offset) identifies the change',
    segment_id   String COMMENT 'segment id',
    segment_name String COMMENT 'segment name at the change',
    profile_id   String COMMENT 'profile that entered or exited',
    change       LowCardinality(String) COMMENT 'entered or exited',
    at           DateTime64(3, 'UTC') COMMENT 'evaluation time of the change',
    evaluation   LowCardinality(String) COMMENT 'incremental or scheduled',
    INDEX idx_profile_id profile_id TYPE bloom_filter(0.01) GRANULARITY 4
)
ENGINE = ReplacingMergeTree
ORDER BY (segment_id, source_topic, source_partition, source_offset)
TTL toDateTime(at) + INTERVAL 30 DAY
COMMENT 'Storage for segment_changes, one row per committed SegmentChange; query the segment_changes view';

CREATE VIEW IF NOT EXISTS ${database}.segment_changes AS
SELECT segment_id, segment_name, profile_id, change, at, evaluation, source_topic, source_partition, source_offset
FROM ${database}.segment_changes_store FINAL
COMMENT 'Every committed enter and exit of a segment member (kumiki.segments.changes), profile ids as published at the time. One row per change (FINAL)';
