-- Two indexes by profile id, for what the profile-materializer asks on every profile refresh
-- (several times a second while it is behind): "which profiles were merged into these" and
-- "which identifiers do these profiles hold".
--
-- Why: profile_aliases is argMax per absorbed profile (0005), and identities_store is sorted by
-- identifier; a filter on the surviving profile, or on the owning profile, can only be applied
-- after every alias has been aggregated, or every identifier read FINAL: a cost that grows with
-- the whole table on each refresh. Here each question is a primary-key read whose answer only
-- names candidates. Each candidate is then read from its own table by that table's key (absorbed
-- profile; identifier) and kept only if it still says what was asked. So stale pairs (an absorbed
-- profile that moved on when its survivor was itself absorbed; an identifier re-linked or erased
-- since) cost a lookup, never a wrong answer.
--
-- Filled by materialized views on every insert into the stores. No backfill: nothing materialized
-- before this migration has been released (as 0008), and migrations hold only idempotent DDL.

CREATE TABLE IF NOT EXISTS ${database}.profile_aliases_by_survivor
(
    surviving_profile_id String COMMENT 'profile that absorbed (some time)',
    absorbed_profile_id  String COMMENT 'profile merged into it (it may have moved on since: read its current survivor from profile_aliases)'
)
ENGINE = ReplacingMergeTree
ORDER BY (surviving_profile_id, absorbed_profile_id)
COMMENT 'Internal index of profile_aliases_store by surviving profile (candidates only, see migration 0014); query the profile_aliases view';

CREATE MATERIALIZED VIEW IF NOT EXISTS ${database}.profile_aliases_by_survivor_from_aliases
TO ${database}.profile_aliases_by_survivor
AS SELECT surviving_profile_id, absorbed_profile_id
FROM ${database}.profile_aliases_store
COMMENT 'Fills profile_aliases_by_survivor from every insert into profile_aliases_store';


CREATE TABLE IF NOT EXISTS ${database}.identities_by_profile
(
    profile_id       String COMMENT 'profile an identifier was linked to (some time)',
    identifier_type  LowCardinality(String) COMMENT 'identifier type',
    identifier_value String COMMENT 'identifier value (it may belong elsewhere or be erased since: read identities_store FINAL)'
)
ENGINE = ReplacingMergeTree
ORDER BY (profile_id, identifier_type, identifier_value)
COMMENT 'Internal index of identities_store by profile (candidates only, see migration 0014); query the identities view';

CREATE MATERIALIZED VIEW IF NOT EXISTS ${database}.identities_by_profile_from_identities
TO ${database}.identities_by_profile
AS SELECT profile_id, identifier_type, identifier_value
FROM ${database}.identities_store
COMMENT 'Fills identities_by_profile from every insert into identities_store';
