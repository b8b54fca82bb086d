-- The recipient ledger of audience exports (docs/activation.md, "Deletion notices"): which
-- export destination was sent which profile, so that an erasure reaches every destination that
-- holds the person. Webhook deliveries are on record in kumiki.destinations.recipients (one
-- record per pair, in every activator's memory); an export hands a whole segment over at once,
-- a million members in seconds, so its pairs are written here by the activator through the read
-- API, a chunk at a time, and read back only by profile.
--
-- Profiles are named by keyed hash (HMAC-SHA256 with the privacy key, 128 bits hex), as in the
-- Kafka ledger: the table holds no profile id or identifier (an erase has nothing to delete here,
-- and its verification finds none of the person's values), and outlives the person only until
-- their deletion notice went out (`forgotten`). Each export writes every member again; the
-- aggregating engine folds them into one row per pair, keeping the first and latest export.
CREATE TABLE IF NOT EXISTS ${database}.export_recipients_store
(
    profile_id_hash String COMMENT 'keyed hash of the profile id (never the id)',
    destination_id  String COMMENT 'the export destination (dst_…)',
    first_at        SimpleAggregateFunction(min, DateTime64(3, 'UTC')) COMMENT 'the first export that held the profile',
    last_at         SimpleAggregateFunction(max, DateTime64(3, 'UTC')) COMMENT 'the latest export that held the profile',
    forgotten       SimpleAggregateFunction(max, UInt8) COMMENT '1 once the deletion notice went out'
)
ENGINE = AggregatingMergeTree
ORDER BY (profile_id_hash, destination_id)
COMMENT 'Internal: which export destination was sent which profile (keyed hashes), for deletion notices';
