-- Parameter values of a segment's SQL. A rule compiles to SQL with typed placeholders
-- ({p1:String}, …; never values spliced into the text), and the values are kept beside it so the
-- stored SQL can be read and run as it is (with {now:DateTime64(3, 'UTC')} supplied). Written
-- with the rest of the segment row (whole rows, higher version), so still exact via FINAL.

ALTER TABLE ${database}.segments_store
    ADD COLUMN IF NOT EXISTS params String DEFAULT '{}' COMMENT 'JSON object of the values of the typed placeholders in sql (p1, p2, …, purpose); {} for SQL segments. {now:DateTime64(3, ''UTC'')} is supplied at evaluation' CODEC(ZSTD(3));

CREATE OR REPLACE VIEW ${database}.segments AS
SELECT segment_id, name, kind, sql, params, rule, purpose, created_at, updated_at
FROM ${database}.segments_store FINAL
WHERE deleted = 0
COMMENT 'Saved segments, deleted ones hidden: sql with its params (JSON), the rule (JSON) for rule segments, the required consent purpose. Exact (FINAL)';
