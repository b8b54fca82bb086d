-- RFM snapshots: the public rfm view reads the latest complete snapshot instead of computing
-- RFM from all events at every read (0006), which took ~13 s on 10M events.
--
-- A snapshot is rfm_as_of(as_of = T) for every purchaser, written by the profile-materializer
-- (rfm/rfm-snapshot.ts) on a schedule and soon after batches that carry orders, refunds or
-- merges. Exactness: a snapshot is exact as of its computed_at (it is the exact rfm_as_of of that
-- instant, quintiles among all purchasers of that instant); between snapshots it is stale by at
-- most the refresh delay. rfm_as_of stays for exact point-in-time reads (segments use it).
--
-- Why not rfm_store (0003): it replaces rows per profile_id, so a snapshot half written would
-- already replace rows of the previous one, and a profile that stopped being a purchaser would
-- keep its old row. Here every snapshot is its own partition, complete or invisible:
--   1. its rows go to rfm_snapshot_rows_store under version = T (its own partition);
--   2. only then is (version, computed_at, purchasers) written to rfm_snapshots_store;
--   3. the rfm view reads the rows of the highest version in rfm_snapshots_store, so a snapshot
--      that failed half-way is never read; it and snapshots older than the previous one are
--      dropped by partition afterwards.
-- Each snapshot holds one row per purchaser (rfm_as_of groups by profile_id), so reads need no
-- FINAL. Profiles merged away after the snapshot are hidden through profile_aliases.

CREATE TABLE IF NOT EXISTS ${database}.rfm_snapshot_rows_store
(
    version          UInt64 COMMENT 'snapshot: computed_at in epoch milliseconds',
    profile_id       String COMMENT 'surviving profile at computed_at',
    last_purchase_at DateTime64(3, 'UTC') COMMENT 'time of the latest counted purchase',
    recency_days     UInt32 COMMENT 'whole days from last purchase to computed_at',
    frequency        UInt32 COMMENT 'distinct orders in the window',
    monetary         Decimal(18, 2) COMMENT 'net revenue in the reporting currency',
    monetary_cents   Int64 COMMENT 'monetary in cents',
    r_score          UInt8 COMMENT 'recency score 1 to 5 by quintile (5 = most recent)',
    f_score          UInt8 COMMENT 'frequency score 1 to 5 by quintile',
    m_score          UInt8 COMMENT 'monetary score 1 to 5 by quintile',
    label            LowCardinality(String) COMMENT 'RFM label (docs/rfm.md)',
    computed_at      DateTime64(3, 'UTC') COMMENT 'as_of of the snapshot'
)
ENGINE = MergeTree
PARTITION BY version
ORDER BY (label, profile_id)
COMMENT 'RFM snapshots, one partition per snapshot; query the rfm view (latest complete snapshot)';

CREATE TABLE IF NOT EXISTS ${database}.rfm_snapshots_store
(
    version     UInt64 COMMENT 'snapshot: computed_at in epoch milliseconds; its rows are in rfm_snapshot_rows_store',
    computed_at DateTime64(3, 'UTC') COMMENT 'as_of of the snapshot',
    purchasers  UInt64 COMMENT 'rows written for the snapshot'
)
ENGINE = ReplacingMergeTree
ORDER BY version
COMMENT 'Complete RFM snapshots: written after all rows of the snapshot, so max(version) names one that is whole';

CREATE OR REPLACE VIEW ${database}.rfm AS
SELECT profile_id, last_purchase_at, recency_days, frequency, monetary, monetary_cents, r_score, f_score, m_score, label, computed_at
FROM ${database}.rfm_snapshot_rows_store
WHERE version = (SELECT max(version) FROM ${database}.rfm_snapshots_store)
  AND profile_id NOT IN (SELECT absorbed_profile_id FROM ${database}.profile_aliases)
COMMENT 'RFM per current profile from the latest complete snapshot (exact as of computed_at, refreshed on a schedule and after purchases, refunds and merges): last_purchase_at, recency_days, frequency (orders), monetary (net revenue in the reporting currency), r/f/m_score 1-5 by quintile among purchasers, label. For an exact figure at any instant use rfm_as_of(as_of = …)';
