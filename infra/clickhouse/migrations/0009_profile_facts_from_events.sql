-- profile_facts_store and profile_statements_store (0008) filled by ClickHouse from every insert
-- into events_store, instead of by the materializer as two more inserts per chunk.
--
-- Why: measured with bench/materializer-throughput.ts, the two extra inserts (rows built and
-- serialized in Node, then parsed again) cost about a third of the write path; a materialized
-- view computes the same rows inside the events insert (0.65 s less per 200k events on chDB).
--
-- Same rows, same exactness as 0008: facts are min, max and set union (a replayed event changes
-- nothing); statements are one row per (profile, message_id) in a ReplacingMergeTree with the
-- event's version, so a replay writes the identical row. The rules are those the materializer
-- applied in Node until now: empty channels are not channels; group calls state the group's
-- traits, not the person's; an event stating neither traits nor consent makes no row.
-- Both views fire on every insert into events_store, replays included, on chDB and a server.

CREATE MATERIALIZED VIEW IF NOT EXISTS ${database}.profile_facts_from_events
TO ${database}.profile_facts_store
AS SELECT
    profile_id,
    min(timestamp) AS first_seen,
    max(timestamp) AS last_seen,
    groupUniqArrayIf(toString(channel), channel != '') AS channels
FROM ${database}.events_store
GROUP BY profile_id
COMMENT 'Fills profile_facts_store from every insert into events_store (first/last seen, channels)';

CREATE MATERIALIZED VIEW IF NOT EXISTS ${database}.profile_statements_from_events
TO ${database}.profile_statements_store
AS SELECT
    profile_id,
    message_id,
    timestamp,
    if(type = 'group' OR traits = '', '{}', traits) AS traits,
    consent,
    version
FROM ${database}.events_store
WHERE NOT (if(type = 'group' OR traits = '', '{}', traits) = '{}' AND empty(consent))
COMMENT 'Fills profile_statements_store from every insert into events_store (events stating traits or consent)';
