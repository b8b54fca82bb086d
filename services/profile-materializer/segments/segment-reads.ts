import type { ClickHouse } from '../../common/clickhouse/client-factory';
import { errorMessage, isRetriable } from '../../common/errors';
import type { Logger } from '../../common/logger';
import type { Rule } from './segment-rule';
import { segmentQuery, type SegmentSource } from './segment-query';
import { tablesRead } from './tables-read';
import { defaultSegmentLimits, type SegmentLimits } from './validate-segment-sql';

/**
 * The tables each segment reads (`segment_reads_store`, migration 0016), so that a change of
 * derived data reaches exactly the segments that read it (see DerivedDataSource).
 *
 * What is analysed is the member query evaluation runs (segmentQuery: a rule compiled, an SQL
 * segment wrapped), so the tables the wrapper adds (`profiles`) are in the list too. Written when
 * a segment is saved and refreshed for every live segment at start; versions are epoch
 * milliseconds, raised above the stored one, so the newest analysis wins (exact via FINAL).
 */

/** Analyses one segment's member query at `now`. */
export function analyseSegmentReads(
  ch: ClickHouse,
  source: SegmentSource,
  options: { now: number; limits: SegmentLimits; views?: Map<string, readonly string[]> },
): Promise<string[]> {
  return tablesRead(ch, segmentQuery(source), options);
}

export async function writeSegmentReads(
  ch: ClickHouse,
  rows: ReadonlyArray<{ segmentId: string; tables: readonly string[]; version: number }>,
): Promise<void> {
  await ch.insert(
    'segment_reads_store',
    rows.map((row) => ({ segment_id: row.segmentId, tables: row.tables, version: String(row.version) })),
  );
}

/**
 * Analyses every live segment again and stores what changed; returns how many rows it wrote.
 * ClickHouse out of reach is thrown (retriable). A segment whose query ClickHouse no longer accepts (a table it read was dropped) keeps what was
 * stored, and is logged: evaluation skips such a segment anyway, and one without a stored list is
 * evaluated after every change of derived data.
 */
export async function refreshSegmentReads(
  ch: ClickHouse,
  logger: Logger,
  options: { now?: () => number; limits?: SegmentLimits } = {},
): Promise<number> {
  const now = options.now ?? Date.now;
  const limits = options.limits ?? defaultSegmentLimits;
  // Exact via FINAL on both: the latest definition and the latest analysis of each segment.
  const rows = await ch.query<{
    segment_id: string;
    kind: string;
    sql: string;
    rule: string;
    purpose: string;
    tables: string[];
    version: string;
  }>(
    `SELECT s.segment_id AS segment_id, s.kind AS kind, s.sql AS sql, s.rule AS rule, s.purpose AS purpose,
            r.tables AS tables, toString(r.version) AS version
     FROM segments_store AS s FINAL
     LEFT JOIN (SELECT segment_id, tables, version FROM segment_reads_store FINAL) AS r ON r.segment_id = s.segment_id
     WHERE s.deleted = 0
     ORDER BY s.segment_id`,
    {},
    { settings: { join_use_nulls: 0 } },
  );
  const views = new Map<string, readonly string[]>();
  const changed: Array<{ segmentId: string; tables: string[]; version: number }> = [];
  for (const row of rows) {
    const source: SegmentSource = {
      kind: row.kind === 'rule' ? 'rule' : 'sql',
      sql: row.sql,
      rule: row.rule ? (JSON.parse(row.rule) as Rule) : null,
      purpose: row.purpose === '' ? null : row.purpose,
    };
    try {
      const at = now();
      const tables = await analyseSegmentReads(ch, source, { now: at, limits, views });
      if (tables.join('\n') !== [...row.tables].sort().join('\n') || row.tables.length === 0)
        changed.push({ segmentId: row.segment_id, tables, version: Math.max(at, Number(row.version) + 1) });
    } catch (error) {
      if (isRetriable(error)) throw error;
      logger.warn(
        { segmentId: row.segment_id, error: errorMessage(error) },
        'the tables this segment reads could not be analysed; kept as stored',
      );
    }
  }
  await writeSegmentReads(ch, changed);
  return changed.length;
}
