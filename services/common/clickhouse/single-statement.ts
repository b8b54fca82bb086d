import type { ClickHouseClientConfigOptions } from '@clickhouse/client';

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
