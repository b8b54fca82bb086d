-- Per profile, kind of event (type, event name, channel) and day: the first and last event time.
-- For "did X within N days" segment conditions ("purchased in store and browsed online in the
-- last 30 days") without reading every event.
--
-- Why: events_store is ordered by message_id (its dedup key, see 0001), so such a condition
-- reads all events FINAL (1.1–1.8 s on 10M events). Here the sort key starts with the kind of
-- event and the day, so "kind K since T" reads only K's rows of the days from T on; and rows are
-- narrow (no JSON, one per profile, kind and day, however many events).
--
-- Exactness: "some event of kind K has timestamp > T" holds exactly when some row of K with
-- day >= toDate(T) has last_at > T (earlier days hold only earlier times), and min/max are
-- insensitive to duplicates and to arrival order, so replays, late events and unmerged parts
-- change nothing; read with max(last_at) / min(first_at), or filter rows as above, no FINAL.
-- One difference from the events view: when a resent event's clock-skew-corrected timestamp
-- differs from the first copy's, the events view keeps the later receipt's and this table both.
-- Keyed by the profile id the stitcher assigned; the profile_activity view maps merged-away ids
-- to the survivor through profile_aliases. Filled by a materialized view on every insert into
-- events_store. No backfill: nothing materialized before this migration has been released (as 0008).

CREATE TABLE IF NOT EXISTS ${database}.profile_activity_store
(
    type       LowCardinality(String) COMMENT 'event type: track, page, identify, …',
    event      LowCardinality(String) COMMENT 'track event name; empty for other types',
    channel    LowCardinality(String) COMMENT 'channel of the events',
    day        Date COMMENT 'UTC day of the events',
    profile_id String COMMENT 'profile id as stitched',
    first_at   SimpleAggregateFunction(min, DateTime64(3, 'UTC')) COMMENT 'least event timestamp of this kind on this day',
    last_at    SimpleAggregateFunction(max, DateTime64(3, 'UTC')) COMMENT 'greatest event timestamp of this kind on this day'
)
ENGINE = AggregatingMergeTree
ORDER BY (type, event, channel, day, profile_id)
COMMENT 'Per kind of event, UTC day and profile: first and last event time (duplicate-insensitive); query the profile_activity view';

CREATE MATERIALIZED VIEW IF NOT EXISTS ${database}.profile_activity_from_events
TO ${database}.profile_activity_store
AS SELECT type, event, channel, toDate(timestamp) AS day, profile_id, min(timestamp) AS first_at, max(timestamp) AS last_at
FROM ${database}.events_store
GROUP BY type, event, channel, day, profile_id
COMMENT 'Fills profile_activity_store from every insert into events_store (min/max per kind, day and profile)';

CREATE VIEW IF NOT EXISTS ${database}.profile_activity AS
SELECT
    if(a.surviving_profile_id != '', a.surviving_profile_id, s.profile_id) AS profile_id,
    s.type AS type,
    s.event AS event,
    s.channel AS channel,
    s.day AS day,
    min(s.first_at) AS first_at,
    max(s.last_at) AS last_at
FROM ${database}.profile_activity_store AS s
LEFT JOIN ${database}.profile_aliases AS a ON a.absorbed_profile_id = s.profile_id
GROUP BY profile_id, type, event, channel, day
COMMENT 'Per current profile (merged-away ids resolved), kind of event (type, event, channel) and UTC day: first_at and last_at, the least and greatest event time. "Did K since T": day >= toDate(T) AND last_at > T. Exact (min/max over duplicate-insensitive rows)';
