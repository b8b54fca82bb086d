import type { ClickHouseSettings } from '@clickhouse/client';
import { createChdbConnection } from 'chdb/connection';
import { InternalError } from '../errors';
import type { Connection } from './embedded-connection';
import { splitSettings } from './embedded-connection';
import { MASKED_ROLE } from './embedded-access';
import { readOnlyRefusal, refusalOfAst, refuseSecondStatement } from './caller-sql';
import { quoteIdentifier } from './sql-text';

type Params<K extends 'query' | 'exec' | 'command'> = Parameters<Connection[K]>[0];

/**
 * Embedded ClickHouse as a key without `pii:read` sees it: every request gets a chDB session of
 * its own, which takes the masked role (embedded-access.ts), makes the masked database current,
 * applies the request's settings with `readonly = 1` last, runs the one statement and is closed.
 * A session is never reused, so a statement that changed its role or settings cannot outlive
 * itself. Before running, the statement is parsed by ClickHouse (`EXPLAIN AST`) and must be a
 * query (SELECT, UNION, INTERSECT/EXCEPT), one statement, without INTO OUTFILE: clickhouse-local, which chDB is,
 * writes INTO OUTFILE to the host's files even at readonly = 1, and a ClickHouse server refuses
 * it over HTTP anyway.
 */
export class MaskedEmbeddedConnection implements Connection {
  #closed = false;

  constructor(
    private readonly dataPath: string,
    private readonly database: string,
    private readonly defaults: ClickHouseSettings,
  ) {}

  query(params: Params<'query'>): ReturnType<Connection['query']> {
    return this.run(params, (session, perRequest) => session.query({ ...params, clickhouse_settings: perRequest }));
  }

  exec(params: Params<'exec'>): ReturnType<Connection['exec']> {
    return this.run(params, (session, perRequest) => session.exec({ ...params, clickhouse_settings: perRequest }));
  }

  command(params: Params<'command'>): ReturnType<Connection['command']> {
    return this.run(params, (session, perRequest) => session.command({ ...params, clickhouse_settings: perRequest }));
  }

  insert(): ReturnType<Connection['insert']> {
    return Promise.reject(new InternalError('the masked ClickHouse connection is read-only'));
  }

  async ping(): ReturnType<Connection['ping']> {
    return this.#closed ? { success: false, error: new Error('closed') } : { success: true };
  }

  async close(): Promise<void> {
    this.#closed = true;
  }

  private async run<T>(
    params: Params<'query'>,
    request: (session: Connection, perRequest: ClickHouseSettings) => Promise<T>,
  ): Promise<T> {
    if (this.#closed) throw new InternalError('masked ClickHouse connection is closed');
    const { sessionSettings, perRequest } = splitSettings({
      ...this.defaults,
      ...params.clickhouse_settings,
      readonly: '1',
    });
    const session = createChdbConnection({ path: this.dataPath }) as unknown as Connection;
    try {
      await session.command({ query: `SET ROLE ${MASKED_ROLE}` });
      await session.command({ query: `USE ${quoteIdentifier(this.database)}` });
      for (const [name, value] of sessionSettings) await session.command({ query: `SET ${name} = ${value}` });
      await refuseUnlessQuery(session, params);
      return await request(session, perRequest);
    } finally {
      await session.close();
    }
  }
}

/**
 * What ClickHouse's parser says the statement is; only one query without an output file passes.
 * The EXPLAIN below would run a second statement of the text, so that is refused first.
 */
async function refuseUnlessQuery(session: Connection, params: Params<'query'>): Promise<void> {
  await refuseSecondStatement(session, params.query);
  const result = await session.query({
    query: `EXPLAIN AST ${params.query}`,
    ...(params.query_params ? { query_params: params.query_params } : {}),
    clickhouse_settings: { default_format: 'TabSeparatedRaw' },
  });
  let text = '';
  for await (const chunk of result.stream) text += chunk.toString();
  const refusal = refusalOfAst(text);
  if (refusal !== undefined) throw readOnlyRefusal(refusal);
}
