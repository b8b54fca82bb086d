-- Privacy requests (services/profile-materializer/privacy/, docs/privacy.md).
--
-- Where a request's state lives: the request itself and its phases are records on
-- kumiki.privacy.requests (the log: the stitcher resolves, this service completes); these tables
-- hold what the read API answers and the checkpoints that let a request interrupted by a crash
-- carry on where it stopped. Every write is a whole row under a higher version, so reads are
-- exact via FINAL (or argMax by version).
--
-- Raw identifiers are kept only in privacy_request_subjects, and for an erase only while it runs:
-- the erase deletes the person's rows there with everything else (it has profile_id and
-- identifier columns, the convention every table holding a person follows, see
-- infra/clickhouse/README.md), and its own rows last. privacy_requests_store names the
-- identifier by type and keyed hash only (HMAC-SHA256 with the server's privacy key).

CREATE TABLE IF NOT EXISTS ${database}.privacy_requests_store
(
    request_id      String COMMENT 'request id (pr_… from the read API, or the producer''s)',
    type            LowCardinality(String) COMMENT 'erase, suppress, suppress_and_erase, unsuppress or export',
    status          LowCardinality(String) COMMENT 'pending, running, completed or failed',
    step            LowCardinality(String) DEFAULT '' COMMENT 'last step done (checkpoint of a running request)',
    identifier_type LowCardinality(String) COMMENT 'type of the identifier the request named',
    identifier_hash String COMMENT 'keyed hash (HMAC-SHA256, 128 bits, hex) of type:value as given; never the value',
    requested_at    DateTime64(3, 'UTC') COMMENT 'when the request was made; the deadline runs from here',
    requested_by    String DEFAULT '' COMMENT 'who made it (operator, API key or system)',
    reason          String DEFAULT '' COMMENT 'free text given with the request',
    deadline_at     DateTime64(3, 'UTC') COMMENT 'requested_at + 30 days',
    resolved_at     Nullable(DateTime64(3, 'UTC')) COMMENT 'when the identity stitcher resolved the person',
    completed_at    Nullable(DateTime64(3, 'UTC')) COMMENT 'when it completed or failed',
    outcome         String DEFAULT '' COMMENT 'one line: what happened, or why it failed',
    subject         String DEFAULT '{}' COMMENT 'JSON: the person resolved, as keyed hashes and counts (never raw values)' CODEC(ZSTD(3)),
    progress        String DEFAULT '{}' COMMENT 'JSON: checkpoints and figures of the steps done so far' CODEC(ZSTD(3)),
    report          String DEFAULT '' COMMENT 'JSON: the signed report, once completed (docs/privacy.md)' CODEC(ZSTD(3)),
    updated_at      DateTime64(3, 'UTC') DEFAULT now64(3) COMMENT 'when this row was written',
    version         UInt64 COMMENT 'ReplacingMergeTree version; every change of a request writes a higher one'
)
ENGINE = ReplacingMergeTree(version)
ORDER BY request_id
COMMENT 'Privacy requests and their state; read FINAL. GET /v1/privacy/requests/{id} answers from it';

CREATE TABLE IF NOT EXISTS ${database}.privacy_request_subjects
(
    request_id       String COMMENT 'request id',
    role             LowCardinality(String) COMMENT 'requested (the identifier as given), profile (current profile), merged (a profile merged into it), identifier',
    profile_id       String DEFAULT '' COMMENT 'profile id (profile, merged; the owner for identifier rows)',
    identifier_type  LowCardinality(String) DEFAULT '' COMMENT 'identifier type (requested, identifier)',
    identifier_value String DEFAULT '' COMMENT 'identifier value (requested: as given; identifier: normalised)',
    linked_by        String DEFAULT '' COMMENT 'messageId of the event that linked the identifier',
    linked_at        Nullable(DateTime64(3, 'UTC')) COMMENT 'event time of that link',
    rule             String DEFAULT '' COMMENT 'identity rule that made the link'
)
ENGINE = ReplacingMergeTree
ORDER BY (request_id, role, profile_id, identifier_type, identifier_value)
COMMENT 'The person each privacy request is about, raw, as the identity graph resolved them; an erase deletes them with the rest of the person';

-- Keyed hashes of every profile id and identifier an erase removed, so that a replay (of
-- kumiki.events.stitched, kumiki.identity.changes or kumiki.segments.changes) never writes the
-- person back. Loaded whole by the profile-materializer at start.
CREATE TABLE IF NOT EXISTS ${database}.privacy_erased
(
    hash       String COMMENT 'keyed hash (HMAC-SHA256, 128 bits, hex) of an erased profile id or type:value identifier; never the value',
    kind       LowCardinality(String) COMMENT 'profile or identifier',
    request_id String COMMENT 'the erase that removed it',
    erased_at  DateTime64(3, 'UTC') COMMENT 'when the identity stitcher forgot the person: records stitched up to then may be theirs'
)
ENGINE = ReplacingMergeTree
ORDER BY (kind, hash)
COMMENT 'Keyed hashes of erased profile ids and identifiers (never the values); read whole at start';
