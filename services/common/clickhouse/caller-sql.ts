import type { ClickHouseClientConfigOptions } from '@clickhouse/client';
import { ClickHouseQueryError, type ClickHouseMode, toKumikiError } from './errors';

// Checks on SQL a caller wrote (the read API's /v1/sql, segment checks) before any of it runs.

type Connection = NonNullable<ClickHouseClientConfigOptions['connection']>;

/**
 * Refuses SQL text that holds more than one statement, as ClickHouse's own parser splits it.
 * chDB runs every statement of a request's text (a ClickHouse server refuses a second one), so
 * SQL a caller wrote must be checked before any of it runs. The text goes to `formatQuery` as a
 * parameter, parsed and never run: unlike a splitter written here, the parser cannot disagree
 * with the engine about where a heredoc (`$$…$$`) or a nested comment ends. Throws ClickHouse's
 * syntax error (code 62) naming the second statement.
 */
export async function refuseSecondStatement(session: Pick<Connection, 'query'>, sql: string): Promise<void> {
  const parsed = await session.query({
    query: 'SELECT formatQuery({statement:String})',
    query_params: { statement: sql },
    clickhouse_settings: { default_format: 'TabSeparatedRaw' },
  });
  for await (const _ of parsed.stream);
}

/**
 * Why ClickHouse's `EXPLAIN AST` of a caller's statement may not run, or undefined when it may:
 * only queries (SELECT, UNION, INTERSECT/EXCEPT) without an output file. clickhouse-local, which
 * chDB is, writes INTO OUTFILE to the host's files even at readonly = 1; a server refuses it over
 * HTTP anyway.
 */
export function refusalOfAst(ast: string): string | undefined {
  const lines = ast.split('\n').filter(Boolean);
  const kind = lines[0]?.split(' ')[0] ?? '';
  if (lines.some((line) => /^ Literal /.test(line)))
    return 'INTO OUTFILE is not allowed: the read API answers with rows, it does not write files';
  if (!['SelectWithUnionQuery', 'SelectIntersectExceptQuery'].includes(kind))
    return `only queries (SELECT) may run here, not ${kind || 'this statement'}`;
  return undefined;
}

/** A refusal as a connection throws it: ClickHouse's READONLY, which the read API answers 400. */
export function readOnlyRefusal(message: string): Error {
  return Object.assign(new Error(message), { name: 'ClickHouseError', code: '164', type: 'READONLY' });
}

/** What of `ClickHouse` (client-factory.ts, which imports this module) is used here. */
interface Queryable {
  readonly mode: ClickHouseMode;
  readonly client: {
    query(params: {
      query: string;
      query_params: Record<string, unknown>;
      format: 'TabSeparatedRaw';
      clickhouse_settings: Record<string, string | number>;
    }): Promise<{ text(): Promise<string> }>;
  };
}

/**
 * Refuses a caller's statement unless it is one query without an output file (refusalOfAst),
 * parsed with the `settings` it is then run with.
 */
export async function refuseUnlessQuery(
  ch: Queryable,
  sql: string,
  params: Record<string, unknown>,
  settings: Record<string, string | number>,
): Promise<void> {
  let ast: string;
  try {
    const result = await ch.client.query({
      query: `EXPLAIN AST ${sql}`,
      query_params: params,
      format: 'TabSeparatedRaw',
      // The statement's own settings: embedded chDB keeps a session per distinct set, and few sets.
      clickhouse_settings: { ...settings, readonly: '1' },
    });
    // Embedded chDB quotes each line; a server does not.
    ast = (await result.text()).replace(/^"(.*)"$/gm, '$1');
  } catch (error) {
    throw toKumikiError(error, ch.mode, { operation: 'explain' });
  }
  const refusal = refusalOfAst(ast);
  if (refusal !== undefined) throw new ClickHouseQueryError('164', 'READONLY', refusal);
}
