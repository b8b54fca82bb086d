-- The tables and views each segment reads, so that a derived-data source (the RFM snapshot, and
-- later others) that announces "table T changed for profiles P" has the segments reading T
-- evaluated for P at once, instead of at the next sweep (docs/segments.md, "Derived data").
--
-- Found by ClickHouse, not by reading the SQL text: the TABLE nodes of the analyzer's
-- `EXPLAIN QUERY TREE` of the segment's member query, closed over view definitions (a view reads
-- what its SELECT reads). Written when a segment is saved, and again for every live segment at
-- each start of the materializer (a migration may redefine a view, a release may compile a rule
-- differently). A table of its own rather than a column of segments_store: the start refresh
-- never rewrites a definition row, so it can never race with a delete. Exact via FINAL.

CREATE TABLE IF NOT EXISTS ${database}.segment_reads_store
(
    segment_id String COMMENT 'segment id',
    tables     Array(String) COMMENT 'tables and views of this database the member query reads, directly or through views; sorted',
    version    UInt64 COMMENT 'ReplacingMergeTree version: epoch milliseconds of the analysis, increasing per segment'
)
ENGINE = ReplacingMergeTree(version)
ORDER BY segment_id
COMMENT 'Internal: tables each segment reads, for evaluating it when derived data changes (see docs/segments.md); query the segments view';

CREATE OR REPLACE VIEW ${database}.segments AS
SELECT s.segment_id AS segment_id, s.name AS name, s.kind AS kind, s.sql AS sql, s.params AS params, s.rule AS rule,
       s.purpose AS purpose, s.created_at AS created_at, s.updated_at AS updated_at, r.tables AS reads
FROM ${database}.segments_store AS s FINAL
LEFT JOIN (SELECT segment_id, tables FROM ${database}.segment_reads_store FINAL) AS r ON r.segment_id = s.segment_id
WHERE s.deleted = 0
COMMENT 'Saved segments, deleted ones hidden: sql with its params (JSON), the rule (JSON) for rule segments, the required consent purpose, and the tables and views it reads (empty until analysed). Exact (FINAL)';
