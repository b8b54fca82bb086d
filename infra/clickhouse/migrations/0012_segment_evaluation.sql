-- Segment evaluation (services/profile-materializer/segments/evaluation/).
--
-- kumiki.segments.changes is the write-ahead log of membership and segment_members_store the
-- state folded from it: every enter/exit row records the topic partition and offset of the
-- SegmentChange it came from, and its version is that offset + 1. A profile's changes all go to
-- one partition (key = profile id), so within a (segment_id, profile_id) key a later change has
-- a higher offset, hence a higher version, and re-applying a change writes an identical row.
-- Rows written before this migration keep source_partition = -1 (they came from no change).

ALTER TABLE ${database}.segment_members_store
    ADD COLUMN IF NOT EXISTS source_partition Int32 DEFAULT -1 COMMENT 'partition of kumiki.segments.changes holding the change this row applies; -1 for none';

ALTER TABLE ${database}.segment_members_store
    ADD COLUMN IF NOT EXISTS source_offset Int64 DEFAULT -1 COMMENT 'offset of that change; recovery re-applies the changes after the highest offset per partition';

-- Diffs of a scheduled sweep, staged in ClickHouse (INSERT … SELECT) so that a sweep over a
-- large segment never holds its members in the process: the evaluator pages through a run's
-- rows by profile id. Rows of finished or abandoned runs are dropped by TTL.
CREATE TABLE IF NOT EXISTS ${database}.segment_sweep_diffs
(
    run_id     String COMMENT 'one sweep of one segment',
    segment_id String COMMENT 'segment id',
    profile_id String COMMENT 'profile id',
    entered    UInt8 COMMENT '1: qualifies and is not a member; 0: a member that no longer qualifies',
    created_at DateTime DEFAULT now() COMMENT 'when the diff was staged'
)
ENGINE = MergeTree
ORDER BY (run_id, profile_id)
TTL created_at + INTERVAL 1 DAY
COMMENT 'Internal: staged membership diffs of scheduled segment sweeps (see segments evaluation); not for users';
