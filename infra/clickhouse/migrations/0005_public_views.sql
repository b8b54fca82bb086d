-- The public names SQL users query (DESIGN.md, "ClickHouse") are views over the *_store tables.
-- Each view does two things so that users never have to:
--   1. exactness: it reads the store FINAL (or argMax by version), so a replayed write never
--      shows twice, whether or not ClickHouse has merged the parts yet;
--   2. merged profiles: it resolves profile ids through profile_aliases, so a profile id that
--      was merged away never shows. Per-person facts (events, identities, links) are re-attributed
--      to the surviving profile; per-profile state (profiles, rfm, segment_members) of an absorbed
--      profile is hidden, because the materializer writes the survivor its own merged row.
-- Later migrations change a view with CREATE OR REPLACE VIEW; here IF NOT EXISTS, so that a
-- process re-running this file can never undo such a change.

-- Current alias map. argMax by version is exact before and after merges. A row whose absorbed
-- and surviving ids are equal withdraws an earlier alias.
CREATE VIEW IF NOT EXISTS ${database}.profile_aliases AS
SELECT
    absorbed_profile_id,
    argMax(surviving_profile_id, version) AS surviving_profile_id,
    argMax(merged_at, version) AS merged_at,
    argMax(message_id, version) AS message_id
FROM ${database}.profile_aliases_store
GROUP BY absorbed_profile_id
HAVING absorbed_profile_id != surviving_profile_id
COMMENT 'Profile merges: absorbed_profile_id now belongs to surviving_profile_id (flat: no chains). Exact (argMax by version)';

-- The LEFT JOIN yields '' (or NULL under join_use_nulls) for events of profiles never absorbed.
CREATE VIEW IF NOT EXISTS ${database}.events AS
SELECT
    e.message_id AS message_id,
    if(a.surviving_profile_id != '', a.surviving_profile_id, e.profile_id) AS profile_id,
    e.profile_id AS stitched_profile_id,
    e.type AS type,
    e.event AS event,
    e.name AS name,
    e.timestamp AS timestamp,
    e.received_at AS received_at,
    e.channel AS channel,
    e.source AS source,
    e.user_id AS user_id,
    e.anonymous_id AS anonymous_id,
    e.device_id AS device_id,
    e.page_path AS page_path,
    e.order_id AS order_id,
    e.revenue AS revenue,
    e.currency AS currency,
    e.properties AS properties,
    e.traits AS traits,
    e.context AS context
FROM ${database}.events_store AS e FINAL
LEFT JOIN ${database}.profile_aliases AS a ON a.absorbed_profile_id = e.profile_id
COMMENT 'One row per event (deduplicated by message_id with FINAL); profile_id is the current profile (merged-away ids resolved), stitched_profile_id the one assigned at ingestion';

CREATE VIEW IF NOT EXISTS ${database}.identities AS
SELECT
    i.identifier_type AS identifier_type,
    i.identifier_value AS identifier_value,
    if(a.surviving_profile_id != '', a.surviving_profile_id, i.profile_id) AS profile_id,
    i.linked_at AS linked_at,
    i.message_id AS message_id
FROM ${database}.identities_store AS i FINAL
LEFT JOIN ${database}.profile_aliases AS a ON a.absorbed_profile_id = i.profile_id
WHERE i.deleted = 0
COMMENT 'Identifier to current profile (merged-away ids resolved; erased identifiers hidden). Exact (FINAL)';

CREATE VIEW IF NOT EXISTS ${database}.identity_links AS
SELECT
    l.identifier_type AS identifier_type,
    l.identifier_value AS identifier_value,
    if(a.surviving_profile_id != '', a.surviving_profile_id, l.profile_id) AS profile_id,
    l.profile_id AS linked_profile_id,
    l.message_id AS message_id,
    l.rule AS rule,
    l.reason AS reason,
    l.linked_at AS linked_at
FROM ${database}.identity_links_store AS l FINAL
LEFT JOIN ${database}.profile_aliases AS a ON a.absorbed_profile_id = l.profile_id
COMMENT 'Provenance of identity links and refusals: profile_id is the current profile, linked_profile_id the one at the time. Exact (FINAL)';

CREATE VIEW IF NOT EXISTS ${database}.profiles AS
SELECT profile_id, traits, first_seen, last_seen, consent, channels, identifiers, updated_at
FROM ${database}.profiles_store FINAL
WHERE deleted = 0
  AND profile_id NOT IN (SELECT absorbed_profile_id FROM ${database}.profile_aliases)
COMMENT 'One row per current profile (latest snapshot via FINAL; merged-away and erased profiles hidden)';

CREATE VIEW IF NOT EXISTS ${database}.rfm AS
SELECT profile_id, last_purchase_at, recency_days, frequency, monetary, r_score, f_score, m_score, label, computed_at
FROM ${database}.rfm_store FINAL
WHERE profile_id NOT IN (SELECT absorbed_profile_id FROM ${database}.profile_aliases)
COMMENT 'RFM per current profile (latest computation via FINAL; merged-away profiles hidden)';

CREATE VIEW IF NOT EXISTS ${database}.segments AS
SELECT segment_id, name, kind, sql, rule, purpose, created_at, updated_at
FROM ${database}.segments_store FINAL
WHERE deleted = 0
COMMENT 'Saved segments, deleted ones hidden. Exact (FINAL)';

CREATE VIEW IF NOT EXISTS ${database}.segment_members AS
SELECT segment_id, profile_id, since, changed_at
FROM ${database}.segment_members_store FINAL
WHERE is_member = 1
  AND profile_id NOT IN (SELECT absorbed_profile_id FROM ${database}.profile_aliases)
  AND segment_id NOT IN (SELECT segment_id FROM ${database}.segments_store FINAL WHERE deleted = 1)
COMMENT 'Current members of live segments (latest enter/exit via FINAL; merged-away profiles and deleted segments hidden)';
