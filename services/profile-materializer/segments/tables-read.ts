import type { ClickHouse } from '../../common/clickhouse/client-factory';
import type { CompiledQuery } from './compile-rule';
import { evaluationParams } from './segment-query';
import { segmentCheckSettings, type SegmentLimits } from './validate-segment-sql';

/**
 * Which tables and views of its database a query reads, as ClickHouse resolves them — never by
 * reading the SQL text:
 *
 * 1. the TABLE nodes of the analyzer's query tree (`EXPLAIN QUERY TREE`): FROM, JOIN, IN, CTEs and
 *    scalar subqueries, each name resolved to `database.table` by ClickHouse itself;
 * 2. closed over view definitions: a view reads what its SELECT reads (`system.tables.as_select`,
 *    analysed the same way; a parameterized view with a neutral value of each parameter's type,
 *    `defaultValueOfTypeName`).
 *
 * Table functions (`numbers(…)`) read no table. Objects of other databases (system tables) are
 * left out: no derived-data source writes them. The same SQL runs on chDB and on a server
 * (the analyzer is on by default since ClickHouse 24.3); chDB has no system.query_log, so the
 * tables of an executed query cannot be read back from there.
 */
export interface TablesReadOptions {
  readonly now: number;
  readonly limits: SegmentLimits;
  /** Direct reads per view, shared between calls (a refresh analyses each view once). */
  readonly views?: Map<string, readonly string[]>;
}

export async function tablesRead(ch: ClickHouse, query: CompiledQuery, options: TablesReadOptions): Promise<string[]> {
  const views = options.views ?? new Map<string, readonly string[]>();
  const found = new Set<string>();
  let next = await namesInTree(ch, query.sql, { ...query.params, ...evaluationParams(options.now) }, options.limits);
  while (next.length > 0) {
    const fresh = next.filter((name) => !found.has(name));
    for (const name of fresh) found.add(name);
    next = (await readsOfDefinitions(ch, fresh, views, options.limits)).flat();
  }
  return [...found].sort();
}

/** Tables of `ch.database` named by TABLE nodes of the query tree (`table_name: db.name`). */
async function namesInTree(
  ch: ClickHouse,
  sql: string,
  params: Record<string, unknown>,
  limits: SegmentLimits,
): Promise<string[]> {
  const rows = await ch.query<{ explain: string }>(`EXPLAIN QUERY TREE\n${sql}`, params, {
    readOnly: true,
    settings: segmentCheckSettings(limits),
  });
  const names = new Set<string>();
  for (const { explain } of rows) {
    const match = /\bTABLE id: \d+\b.*\btable_name: ([^,\s]+)/.exec(explain);
    if (!match) continue;
    const qualified = match[1]!;
    const dot = qualified.indexOf('.');
    if (unquote(qualified.slice(0, dot)) === ch.database) names.add(unquote(qualified.slice(dot + 1)));
  }
  return [...names];
}

function unquote(identifier: string): string {
  return identifier.startsWith('`') && identifier.endsWith('`')
    ? identifier.slice(1, -1).replace(/``/g, '`')
    : identifier;
}

/** For each of `names` that is a view, the tables its definition reads; none for tables (memoised in `views`). */
async function readsOfDefinitions(
  ch: ClickHouse,
  names: readonly string[],
  views: Map<string, readonly string[]>,
  limits: SegmentLimits,
): Promise<Array<readonly string[]>> {
  const unknown = names.filter((name) => !views.has(name));
  if (unknown.length > 0) {
    const rows = await ch.query<{
      name: string;
      engine: string;
      as_select: string;
      parameters: string[][];
    }>(
      `SELECT name, engine, as_select,
              arrayMap(p -> [toString(p.1), toString(p.2)], parameterized_view_parameters) AS parameters
       FROM system.tables WHERE database = currentDatabase() AND name IN {names:Array(String)}`,
      { names: unknown },
    );
    for (const row of rows) {
      if (row.engine === 'View') {
        const params: Record<string, string> = {};
        for (const [name = '', type = 'String'] of row.parameters) params[name] = await neutralValue(ch, type);
        views.set(row.name, await namesInTree(ch, row.as_select, params, limits));
      } else {
        views.set(row.name, []);
      }
    }
  }
  return names.map((name) => views.get(name) ?? []);
}

/** A value of a parameter type (as text, the way query parameters travel): its type's default. */
async function neutralValue(ch: ClickHouse, type: string): Promise<string> {
  const [row] = await ch.query<{ value: string }>('SELECT toString(defaultValueOfTypeName({type:String})) AS value', {
    type,
  });
  return row?.value ?? '';
}
