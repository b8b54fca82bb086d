-- Profiles and their RFM figures. The materializer writes whole snapshots (every column), never
-- partial rows: ReplacingMergeTree replaces entire rows, highest version first. A replay writes
-- the same snapshot again. Exact via FINAL (profiles and rfm views).

CREATE TABLE IF NOT EXISTS ${database}.profiles_store
(
    profile_id  String COMMENT 'profile id',
    traits      String DEFAULT '{}' COMMENT 'JSON text of merged traits; read with JSONExtractString(traits, ''email'') and friends' CODEC(ZSTD(3)),
    first_seen  DateTime64(3, 'UTC') COMMENT 'earliest event timestamp',
    last_seen   DateTime64(3, 'UTC') COMMENT 'latest event timestamp',
    consent     Map(String, Bool) COMMENT 'consent purpose to granted; a missing purpose is not granted',
    channels    Array(LowCardinality(String)) COMMENT 'channels the profile was seen on',
    identifiers Array(String) COMMENT 'identifiers as type:value',
    deleted     UInt8 DEFAULT 0 COMMENT '1 when the profile was erased (privacy request)',
    updated_at  DateTime64(3, 'UTC') DEFAULT now64(3) COMMENT 'when this snapshot was written',
    version     UInt64 COMMENT 'ReplacingMergeTree version; the materializer increases it with every snapshot of the profile'
)
ENGINE = ReplacingMergeTree(version)
ORDER BY profile_id
COMMENT 'Storage for profiles, one snapshot per profile after merges; query the profiles view';

-- RFM per profile. Frequency counts distinct order_id and monetary sums revenue once per
-- order, so an order seen twice (web and store import, or a replay) is not counted twice.
CREATE TABLE IF NOT EXISTS ${database}.rfm_store
(
    profile_id       String COMMENT 'profile id',
    last_purchase_at Nullable(DateTime64(3, 'UTC')) COMMENT 'time of the latest purchase; NULL without purchases',
    recency_days     Nullable(UInt32) COMMENT 'days from last purchase to computed_at; NULL without purchases',
    frequency        UInt32 COMMENT 'number of distinct orders',
    monetary         Decimal(18, 4) COMMENT 'revenue summed once per distinct order',
    r_score          UInt8 COMMENT 'recency score 1 to 5 by quintile (5 = most recent)',
    f_score          UInt8 COMMENT 'frequency score 1 to 5 by quintile',
    m_score          UInt8 COMMENT 'monetary score 1 to 5 by quintile',
    label            LowCardinality(String) COMMENT 'RFM segment label, e.g. Champions, Loyal, At risk, Lost',
    computed_at      DateTime64(3, 'UTC') COMMENT 'when the figures were computed',
    version          UInt64 COMMENT 'ReplacingMergeTree version; increases with every computation for the profile'
)
ENGINE = ReplacingMergeTree(version)
ORDER BY profile_id
COMMENT 'Storage for rfm, one row per profile after merges; query the rfm view';
