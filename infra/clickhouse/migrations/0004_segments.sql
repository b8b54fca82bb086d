-- Saved segments and their members. Both are rewritten as whole rows with a higher version;
-- deletion and exit are rows too (deleted = 1, is_member = 0), so replays stay idempotent.
-- Exact via FINAL (segments and segment_members views).

CREATE TABLE IF NOT EXISTS ${database}.segments_store
(
    segment_id String COMMENT 'segment id',
    name       String COMMENT 'name given at creation',
    kind       LowCardinality(String) COMMENT 'sql or rule',
    sql        String COMMENT 'SQL returning profile ids: as given, or compiled from the rule',
    rule       String DEFAULT '' COMMENT 'JSON text of the rule; empty for SQL segments',
    purpose    LowCardinality(String) DEFAULT '' COMMENT 'consent purpose members must have granted; empty for none',
    created_at DateTime64(3, 'UTC') COMMENT 'when the segment was created',
    updated_at DateTime64(3, 'UTC') COMMENT 'when this row was written',
    deleted    UInt8 DEFAULT 0 COMMENT '1 once the segment is deleted',
    version    UInt64 COMMENT 'ReplacingMergeTree version; increases with every change'
)
ENGINE = ReplacingMergeTree(version)
ORDER BY segment_id
COMMENT 'Storage for segments; query the segments view';

CREATE TABLE IF NOT EXISTS ${database}.segment_members_store
(
    segment_id String COMMENT 'segment id',
    profile_id String COMMENT 'profile id',
    is_member  UInt8 COMMENT '1 after entering, 0 after exiting',
    since      DateTime64(3, 'UTC') COMMENT 'when the profile last entered the segment',
    changed_at DateTime64(3, 'UTC') COMMENT 'when it last entered or exited',
    version    UInt64 COMMENT 'ReplacingMergeTree version; increases with every enter or exit of the profile'
)
ENGINE = ReplacingMergeTree(version)
ORDER BY (segment_id, profile_id)
COMMENT 'Storage for segment_members, enters and exits; query the segment_members view';
