-- The identity graph as the stitcher publishes it on kumiki.identity.changes, plus provenance.
-- All three tables are written idempotently: a replayed change writes an identical row (same
-- key, same version), and ReplacingMergeTree keeps one per key. Readers go through the views
-- of 0005, which read FINAL or argMax(..., version).

-- Current owner of each identifier. Exact via FINAL (identities view).
CREATE TABLE IF NOT EXISTS ${database}.identities_store
(
    identifier_type  LowCardinality(String) COMMENT 'user_id, customer_id, email, phone, device_id, anonymous_id, …',
    identifier_value String COMMENT 'normalised value (email lower-cased and trimmed, phone in E.164)',
    profile_id       String COMMENT 'profile the stitcher linked the identifier to; the identities view maps merged-away ids to the survivor',
    linked_at        DateTime64(3, 'UTC') COMMENT 'when the identifier was linked to this profile',
    message_id       String DEFAULT '' COMMENT 'event that caused the link',
    deleted          UInt8 DEFAULT 0 COMMENT '1 when the identifier was erased (privacy request)',
    version          UInt64 COMMENT 'ReplacingMergeTree version: the stitcher change sequence; the highest wins'
)
ENGINE = ReplacingMergeTree(version)
ORDER BY (identifier_type, identifier_value)
COMMENT 'Storage for identities (identifier to profile); query the identities view';

-- Why identifiers share a profile (kumiki explain): one row per identifier, event and rule.
-- Rows are facts that never change, so a plain key without version suffices: replays collapse.
CREATE TABLE IF NOT EXISTS ${database}.identity_links_store
(
    identifier_type  LowCardinality(String) COMMENT 'identifier type',
    identifier_value String COMMENT 'normalised identifier value',
    profile_id       String COMMENT 'profile the identifier was linked to (or refused from) at the time',
    message_id       String COMMENT 'event that carried the identifier',
    rule             LowCardinality(String) COMMENT 'what happened: linked, merged, or refused (limit or priority conflict)',
    reason           String DEFAULT '' COMMENT 'human-readable explanation, e.g. which limit a refusal protected',
    linked_at        DateTime64(3, 'UTC') COMMENT 'event time of the link'
)
ENGINE = ReplacingMergeTree
ORDER BY (identifier_type, identifier_value, message_id, rule)
COMMENT 'Storage for identity_links, the provenance of identity links and refusals; query the identity_links view';

-- Flat alias map: absorbed profile to its surviving profile (no chains: when a survivor is
-- itself absorbed, its aliases are rewritten to the new survivor with a higher version).
-- Exact via argMax(..., version) GROUP BY absorbed_profile_id (profile_aliases view).
-- An alias is withdrawn by writing absorbed = surviving with a higher version.
CREATE TABLE IF NOT EXISTS ${database}.profile_aliases_store
(
    absorbed_profile_id  String COMMENT 'profile id merged away',
    surviving_profile_id String COMMENT 'profile it now belongs to',
    merged_at            DateTime64(3, 'UTC') COMMENT 'when the merge happened',
    message_id           String DEFAULT '' COMMENT 'event that caused the merge',
    version              UInt64 COMMENT 'ReplacingMergeTree version: the stitcher change sequence; the highest wins'
)
ENGINE = ReplacingMergeTree(version)
ORDER BY absorbed_profile_id
COMMENT 'Storage for profile_aliases (absorbed to surviving profile); query the profile_aliases view';
