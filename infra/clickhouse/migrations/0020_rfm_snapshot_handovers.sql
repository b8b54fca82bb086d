-- Snapshots whose staged RFM changes (0013) were all handed over for ProfileUpdates. A process
-- killed between writing a snapshot and publishing its changes left those profiles with their old
-- RFM on kumiki.profiles.updates for good: the next snapshot stages its diff against the latest
-- complete one, not against what was published. A starting materializer hands over again the
-- staged changes of every complete snapshot without a row here (rfm/rfm-snapshot.ts). Rows live
-- as long as the staged changes they stand for.
CREATE TABLE IF NOT EXISTS ${database}.rfm_snapshot_handovers
(
    version        UInt64 COMMENT 'snapshot (rfm_snapshots_store.version) whose staged changes were all published',
    handed_over_at DateTime DEFAULT now() COMMENT 'when the last page was published'
)
ENGINE = ReplacingMergeTree
ORDER BY version
TTL handed_over_at + INTERVAL 1 DAY
COMMENT 'Internal: RFM snapshots whose changed profiles all got their ProfileUpdate (see docs/rfm.md); not for users';
