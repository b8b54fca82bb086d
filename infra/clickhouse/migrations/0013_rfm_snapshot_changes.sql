-- Profiles whose RFM changed between two complete snapshots (0010), so the profile-materializer
-- can publish a fresh ProfileUpdate for each: a profile's scores and label move when other
-- people's purchases shift the quintiles or its recency crosses a boundary, without any event of
-- its own.
--
-- Why staged: a snapshot writes its diff against the previous complete snapshot here (one
-- INSERT … SELECT, before its catalogue row), and the materializer pages through it by profile
-- id. So a million changed profiles are never held in the process, the diff is computed once
-- rather than once per page, and paging can resume after a failed publish even though the
-- previous snapshot's rows are dropped two snapshots later. Rows are dropped by TTL.

CREATE TABLE IF NOT EXISTS ${database}.rfm_snapshot_changes
(
    version    UInt64 COMMENT 'snapshot (rfm_snapshots_store.version) whose rows differ from the previous complete snapshot',
    profile_id String COMMENT 'profile newly in, gone from, or with a different row in that snapshot (recency_days aside)',
    created_at DateTime DEFAULT now() COMMENT 'when the diff was staged'
)
ENGINE = MergeTree
ORDER BY (version, profile_id)
TTL created_at + INTERVAL 1 DAY
COMMENT 'Internal: profiles whose RFM changed between consecutive snapshots, staged for their ProfileUpdates (see docs/rfm.md); not for users';
