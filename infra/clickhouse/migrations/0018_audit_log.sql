-- The audit trail (docs/access.md): one row per AuditRecord of kumiki.audit, written by the
-- profile-materializer's audit sink. Append-only: no kumiki route writes to it but that sink, and
-- /v1/sql is read-only. A replay of the topic rewrites the same (writer_id, sequence) rows, which
-- ReplacingMergeTree folds into one; readers that need exactness read FINAL. Tampering with a row
-- (or deleting one) breaks the hash chain, which `kumiki audit verify` walks.

CREATE TABLE IF NOT EXISTS ${database}.audit_log
(
    record_id         String COMMENT 'unique id of the record',
    writer_id         String COMMENT 'process that wrote it; each writer has its own chain',
    sequence          UInt64 COMMENT 'position in the writer chain, from 1 without gaps',
    at                DateTime64(3, 'UTC') COMMENT 'when the call was answered',
    service           LowCardinality(String) COMMENT 'service that answered',
    key_id            String COMMENT 'key that authenticated or was presented; empty when unknown',
    key_name          String COMMENT 'name of the key',
    role              LowCardinality(String) COMMENT 'role of the key',
    source            String COMMENT 'source address',
    action            String COMMENT 'method and route pattern',
    scope             LowCardinality(String) COMMENT 'scope the route needs',
    resource          String COMMENT 'what was read or changed',
    outcome           LowCardinality(String) COMMENT 'allowed, denied or failed',
    status            UInt16 COMMENT 'HTTP status',
    code              LowCardinality(String) COMMENT 'error code; empty on success',
    profile_ids       Array(String) COMMENT 'profiles whose data the answer carried',
    identifier_hashes Array(String) COMMENT 'keyed hashes of identifiers the call named',
    sql_text          String COMMENT 'SQL with string literals replaced by keyed hashes',
    sql_hash          String COMMENT 'keyed hash of the SQL as sent',
    tables            Array(String) COMMENT 'tables and views read',
    rows              Int64 COMMENT 'rows returned; -1 when not applicable',
    pii_returned      UInt8 COMMENT '1 when raw identifiers or personal traits were returned',
    previous_hash     String COMMENT 'hash of the writer previous record',
    hash              String COMMENT 'SHA-256 of previous_hash and this record',
    INDEX audit_profiles profile_ids TYPE bloom_filter GRANULARITY 4,
    INDEX audit_identifiers identifier_hashes TYPE bloom_filter GRANULARITY 4
)
ENGINE = ReplacingMergeTree
ORDER BY (writer_id, sequence)
COMMENT 'Audit trail of every credentialed API call (append-only; hash-chained per writer)';

CREATE TABLE IF NOT EXISTS ${database}.security_alerts
(
    alert_id String COMMENT 'unique id',
    at       DateTime64(3, 'UTC') COMMENT 'when the rule fired',
    rule     LowCardinality(String) COMMENT 'detection rule',
    severity LowCardinality(String) COMMENT 'low, medium or high',
    subject  String COMMENT 'address:<ip> or key:<id>',
    detail   String COMMENT 'explanation (no secret, no raw identifier)',
    service  LowCardinality(String) COMMENT 'service that raised it'
)
ENGINE = ReplacingMergeTree
ORDER BY (at, alert_id)
COMMENT 'Security alerts of the detection rules (kumiki.security.alerts)';
