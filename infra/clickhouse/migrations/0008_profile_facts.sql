-- Per-profile facts for profile snapshots, keyed by profile id.
--
-- Why: events_store is ordered by message_id (its dedup key), so "all events of these
-- profiles" is a full scan. After every consumed batch the materializer re-snapshots the
-- profiles it touched; reading these two small tables by primary key instead keeps that cost
-- proportional to the profiles touched, not to all events ever stored.
--
-- Both are keyed by the profile id the stitcher assigned (like events_store); readers map
-- merged-away ids to the survivor through profile_aliases. Exactness:
--   profile_facts_store: min, max and set union only, so a replayed event (same values again)
--     changes nothing; read with GROUP BY (the engine merges rows in the background).
--   profile_statements_store: one row per (profile, message_id) that stated traits or consent,
--     ReplacingMergeTree; read FINAL; the latest value per key by (timestamp, message_id) wins.
--   No backfill: nothing materialized before this migration has been released.

CREATE TABLE IF NOT EXISTS ${database}.profile_facts_store
(
    profile_id String COMMENT 'profile id as stitched',
    first_seen SimpleAggregateFunction(min, DateTime64(3, 'UTC')) COMMENT 'earliest event timestamp',
    last_seen  SimpleAggregateFunction(max, DateTime64(3, 'UTC')) COMMENT 'latest event timestamp',
    channels   SimpleAggregateFunction(groupUniqArrayArray, Array(String)) COMMENT 'channels seen'
)
ENGINE = AggregatingMergeTree
ORDER BY profile_id
COMMENT 'Per-profile first/last seen and channels (duplicate-insensitive aggregates); read GROUP BY profile_id';

CREATE TABLE IF NOT EXISTS ${database}.profile_statements_store
(
    profile_id String COMMENT 'profile id as stitched',
    message_id String COMMENT 'event that made the statement',
    timestamp  DateTime64(3, 'UTC') COMMENT 'event time of the statement',
    traits     String DEFAULT '{}' COMMENT 'JSON traits stated by the event (group calls excluded: those are the group''s)',
    consent    Map(String, Bool) DEFAULT map() COMMENT 'consent per purpose stated by the event',
    version    UInt64 COMMENT 'ReplacingMergeTree version (the event''s received_at in ms)'
)
ENGINE = ReplacingMergeTree(version)
ORDER BY (profile_id, message_id)
COMMENT 'Trait and consent statements per profile and event; read FINAL, latest per key by (timestamp, message_id)';
