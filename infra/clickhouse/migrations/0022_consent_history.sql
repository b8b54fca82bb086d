-- Consent with its history (docs/privacy.md, "Consent"): every statement a person made, per
-- purpose — granted or revoked, when (event time), by which event, through which channel and
-- source. profiles.consent is the latest per purpose (0003, 0008); this is how it got there.
--
-- Filled by ClickHouse from every insert into events_store (a materialized view, as 0009), and by
-- the profile-materializer directly for events it keeps out of the profile because the person
-- has not granted a purpose required for profiling (PROFILING_PURPOSES): their statements still
-- count, or a later grant could never be seen. Exactness: one row per (profile, purpose, time,
-- message), ReplacingMergeTree with the event's version, so a replay writes the identical row;
-- read FINAL. Keyed by the profile id the stitcher assigned; the consent_history view maps
-- merged-away ids to the survivor. No backfill: statements stored before this migration are in
-- profile_statements_store only.

CREATE TABLE IF NOT EXISTS ${database}.consent_history_store
(
    profile_id String COMMENT 'profile id as stitched',
    purpose    LowCardinality(String) COMMENT 'consent purpose (analytics, marketing, …)',
    granted    Bool COMMENT 'true: granted; false: denied or revoked',
    timestamp  DateTime64(3, 'UTC') COMMENT 'event time of the statement',
    message_id String COMMENT 'the event that made it',
    channel    LowCardinality(String) DEFAULT '' COMMENT 'channel of that event',
    source     LowCardinality(String) DEFAULT '' COMMENT 'source of that event',
    version    UInt64 COMMENT 'ReplacingMergeTree version (the event''s received_at in ms)'
)
ENGINE = ReplacingMergeTree(version)
ORDER BY (profile_id, purpose, timestamp, message_id)
COMMENT 'Consent statements per profile and purpose; query the consent_history view';

CREATE MATERIALIZED VIEW IF NOT EXISTS ${database}.consent_history_from_events
TO ${database}.consent_history_store
AS SELECT profile_id, tupleElement(statement, 1) AS purpose, tupleElement(statement, 2) AS granted, timestamp, message_id, channel, source, version
FROM
(
    SELECT profile_id, arrayJoin(arrayZip(mapKeys(consent), mapValues(consent))) AS statement, timestamp, message_id, channel, source, version
    FROM ${database}.events_store
)
COMMENT 'Fills consent_history_store from every insert into events_store (one row per purpose stated)';

CREATE VIEW IF NOT EXISTS ${database}.consent_history AS
SELECT
    if(a.surviving_profile_id != '', a.surviving_profile_id, c.profile_id) AS profile_id,
    c.profile_id AS stitched_profile_id,
    c.purpose AS purpose,
    c.granted AS granted,
    c.timestamp AS timestamp,
    c.message_id AS message_id,
    c.channel AS channel,
    c.source AS source
FROM ${database}.consent_history_store AS c FINAL
LEFT JOIN ${database}.profile_aliases AS a ON a.absorbed_profile_id = c.profile_id
COMMENT 'Every consent statement per current profile (merged-away ids resolved) and purpose: granted or revoked, when, by which event. The latest per purpose is profiles.consent. Exact (FINAL)';

-- Events kept out of profiles because their person had not granted every purpose required for
-- profiling (PROFILING_PURPOSES): counted here, with nothing that ties them to anyone — day,
-- kind of event, channel, and a hash of the messageId that makes a replay count once.
CREATE TABLE IF NOT EXISTS ${database}.unprofiled_events_store
(
    day          Date COMMENT 'UTC day of the event',
    type         LowCardinality(String) COMMENT 'track, page, identify, …',
    event        LowCardinality(String) COMMENT 'track event name; empty for other types',
    channel      LowCardinality(String) COMMENT 'channel of the event',
    message_hash String COMMENT 'SHA-256 of the messageId (first 16 hex characters): one row per event, however often it is replayed'
)
ENGINE = ReplacingMergeTree
ORDER BY (day, type, event, channel, message_hash)
COMMENT 'Internal: events withheld from profiles for want of consent, one anonymous row each; query the unprofiled_activity view';

CREATE VIEW IF NOT EXISTS ${database}.unprofiled_activity AS
SELECT day, type, event, channel, count() AS events
FROM ${database}.unprofiled_events_store FINAL
GROUP BY day, type, event, channel
COMMENT 'Events kept out of profiles because their person had not granted a purpose required for profiling, counted per UTC day, kind and channel: anonymous aggregates. Exact (FINAL)';
