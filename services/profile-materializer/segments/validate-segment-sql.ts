import type { ClickHouse } from '../../common/clickhouse/client-factory';
import { ClickHouseQueryError, toKumikiError } from '../../common/clickhouse/errors';
import { splitStatements } from '../../common/clickhouse/sql-text';
import { InvalidSegmentError } from './segment-errors';
import { evaluationParams, segmentQuery, type SegmentSource } from './segment-query';

/** Bounds a segment's query must run within on current data to be saved. */
export interface SegmentLimits {
  readonly maxExecutionSeconds: number;
  readonly maxMemoryBytes: number;
}

export const defaultSegmentLimits: SegmentLimits = Object.freeze({
  maxExecutionSeconds: 30,
  maxMemoryBytes: 2 * 1024 ** 3,
});

/**
 * Checks a SQL segment with the engine, not by looking at the text:
 *  1. one statement (the only textual step: splitting at `;` outside quotes and comments, so a
 *     trailing `;` is allowed and a second statement is named);
 *  2. ClickHouse parses it (`EXPLAIN AST`) as a SELECT (`SelectWithUnionQuery`), not an INSERT,
 *     ALTER, SHOW, …;
 *  3. its result columns (`DESCRIBE (…)`) include `profile_id` of a String type;
 *  4. `checkRunsWithinLimits`: the wrapped segment query runs on current data with readonly = 1
 *     and the time and memory limits.
 * Every step runs with readonly = 1. Returns the statement to store (without a trailing `;`).
 */
export async function validateSegmentSql(
  ch: ClickHouse,
  sql: string,
  limits: SegmentLimits,
  now: number,
): Promise<string> {
  const statements = splitStatements(sql);
  if (statements.length !== 1) {
    throw InvalidSegmentError.at(
      'sql',
      statements.length === 0
        ? 'the SQL is empty'
        : `a segment is one SELECT statement; got ${statements.length} statements`,
    );
  }
  const statement = statements[0]!;
  const params = evaluationParams(now);

  const root = await astRoot(ch, statement, params, limits);
  if (root !== 'SelectWithUnionQuery') {
    throw InvalidSegmentError.at(
      'sql',
      `a segment must be a read-only SELECT; ClickHouse parses this as ${root || 'something else'}`,
    );
  }

  const columns = await engine(ch, `DESCRIBE TABLE (\n${statement}\n)`, params, limits, 'ClickHouse refused the SQL');
  const profileColumn = columns.find((c) => c.name === 'profile_id');
  if (!profileColumn) {
    throw InvalidSegmentError.at(
      'sql',
      `a segment must return a profile_id column; this SQL returns ${columns.map((c) => String(c.name)).join(', ')}`,
    );
  }
  if (!/^(LowCardinality\()?(Nullable\()?(String|FixedString\(\d+\))\)*$/.test(String(profileColumn.type))) {
    throw InvalidSegmentError.at('sql', `profile_id must be a String column; it is ${String(profileColumn.type)}`);
  }
  return statement;
}

/**
 * Runs the segment's query on current data (counting its members) within the limits, read-only.
 * Also run for rule segments: it proves the compiled SQL is accepted before it is saved.
 */
export async function checkRunsWithinLimits(
  ch: ClickHouse,
  segment: SegmentSource,
  limits: SegmentLimits,
  now: number,
): Promise<number> {
  const query = segmentQuery(segment);
  const [row] = await engine(
    ch,
    `SELECT count() AS members FROM (\n${query.sql}\n)`,
    { ...query.params, ...evaluationParams(now) },
    limits,
    'the segment query failed on current data',
    segment.kind === 'rule' ? 'rule' : 'sql',
  );
  return Number(row?.members ?? 0);
}

/**
 * The root node of ClickHouse's parse tree of the statement (`SelectWithUnionQuery`,
 * `InsertQuery`, …). EXPLAIN output is plain text lines (JSON formats would mangle its quoting),
 * so it is read as TabSeparatedRaw through the client.
 */
async function astRoot(
  ch: ClickHouse,
  statement: string,
  params: Record<string, unknown>,
  limits: SegmentLimits,
): Promise<string> {
  try {
    const result = await ch.client.query({
      query: `EXPLAIN AST ${statement}`,
      format: 'TabSeparatedRaw',
      query_params: params,
      clickhouse_settings: { ...segmentCheckSettings(limits), readonly: '1' },
    });
    const text = await result.text();
    // The first word of the first line; embedded chDB may quote the line, a server does not.
    return /[A-Za-z]\w*/.exec(text)?.[0] ?? '';
  } catch (error) {
    throw verdict(
      toKumikiError(error, ch.mode, { operation: 'explain' }),
      limits,
      'ClickHouse cannot parse the SQL',
      'sql',
    );
  }
}

/** One settings set for every query that checks a segment (embedded chDB keeps one session per set). */
export function segmentCheckSettings(limits: SegmentLimits): Record<string, string> {
  return {
    max_execution_time: String(limits.maxExecutionSeconds),
    timeout_overflow_mode: 'throw',
    max_memory_usage: String(limits.maxMemoryBytes),
  };
}

const readOnlyCodes = new Set(['164']); // READONLY
const timeoutCodes = new Set(['159', '160']); // TIMEOUT_EXCEEDED, TOO_SLOW
const limitCodes = new Set(['158', '241', '307', '396']); // TOO_MANY_ROWS, MEMORY_LIMIT_EXCEEDED, TOO_MANY_BYTES, TOO_MANY_ROWS_OR_BYTES

/** Runs read-only within the limits. */
async function engine(
  ch: ClickHouse,
  sql: string,
  params: Record<string, unknown>,
  limits: SegmentLimits,
  what: string,
  field = 'sql',
): Promise<Record<string, unknown>[]> {
  try {
    return await ch.query<Record<string, unknown>>(sql, params, {
      readOnly: true,
      settings: segmentCheckSettings(limits),
    });
  } catch (error) {
    throw verdict(error, limits, what, field);
  }
}

/** ClickHouse's verdict on the SQL as an InvalidSegmentError; anything else (unreachable: retriable) unchanged. */
function verdict(error: unknown, limits: SegmentLimits, what: string, field: string): unknown {
  if (!(error instanceof ClickHouseQueryError)) return error;
  const reason =
    error.code === '456' // UNKNOWN_QUERY_PARAMETER
      ? `SQL segments take no parameters other than {now:DateTime64(3, 'UTC')}: ${error.message}`
      : readOnlyCodes.has(error.code)
        ? `a segment must be read-only: ${error.message}`
        : timeoutCodes.has(error.code)
          ? `the segment query took longer than ${limits.maxExecutionSeconds} s on current data: ${error.message}`
          : limitCodes.has(error.code)
            ? `the segment query exceeded a limit on current data: ${error.message}`
            : `${what}: ${error.message}`;
  return new InvalidSegmentError(
    [{ path: field, message: reason }],
    { clickhouseCode: error.code, clickhouseType: error.type },
    { cause: error },
  );
}
