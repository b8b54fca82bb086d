import fs from 'node:fs';
import path from 'node:path';
import type { ClickHouseClientConfigOptions, ClickHouseSettings } from '@clickhouse/client';
import { Session } from 'chdb';
import { createChdbConnection } from 'chdb/connection';
import { writeEmbeddedAccessConfig } from './embedded-access';
import { InternalError } from '../errors';
import { refuseSecondStatement } from './caller-sql';
import { quoteIdentifier, splitStatements } from './sql-text';

/**
 * Embedded ClickHouse (chDB) behind the same `Connection` contract `@clickhouse/client` uses
 * for HTTP, so callers write the same SQL in both modes.
 *
 * Three differences from a server had to be closed here:
 *
 * 1. One data directory per process. chDB binds a single on-disk path per process and rejects
 *    a second one while the first is open. Only the profile-materializer opens the embedded
 *    store; the other processes reach ClickHouse through its read API or use a server
 *    (CLICKHOUSE_URL). Opening another path in the same process fails here with a message
 *    saying so, instead of chDB's low-level one. Several connections on the SAME path are
 *    fine: they share the engine (tests use this to give every test its own database).
 *
 * 2. Settings are per session, not per request. chDB applies `clickhouse_settings` as `SET`
 *    statements on its session, where they stay: a single `readonly: 1` query would leave the
 *    whole process unable to write. So each distinct set of settings gets its own chDB session
 *    (sessions on one path share data but not settings), created once with the settings
 *    applied, and every request is routed to the session matching its settings. Settings that
 *    vary per request (say, a dedup token) would need a session each; that is refused beyond
 *    a small bound rather than leaking sessions.
 *
 * 3. Current database. HTTP requests carry `database`; a chDB session has `USE`. Every session
 *    is pinned to the configured database when it is created, and statements are refused when
 *    they hold more than one statement (chDB would run `USE other; SELECT …` and stay in
 *    `other`; a ClickHouse server refuses multi-statements too).
 *
 * 4. Concurrency. A chDB session runs its requests one after another; two sessions on the same
 *    path run at once (two single-threaded scans: 370 ms on one session, 180 ms on two, the
 *    time of one alone). A server runs concurrent requests concurrently, and callers rely on it (the
 *    materializer inserts while a profile refresh reads), so each settings set gets a small
 *    pool of sessions: a request goes to an idle one, a new one opens while the pool is not
 *    full, else the request joins the least busy. chDB still runs parameterised queries one at
 *    a time process-wide (its binding serialises them: libchdb's parameter state is shared).
 */
export type Connection = NonNullable<ClickHouseClientConfigOptions['connection']>;
type Params<K extends 'query' | 'exec' | 'command' | 'insert'> = Parameters<Connection[K]>[0];

/** Distinct settings sets one connection may hold (each with a pool of chDB sessions). */
const maxSettingsSets = 8;

/** Sessions per settings set: enough for a write beside a read on two cores; more only queue. */
const defaultPoolSize = 3;

/**
 * Settings that only mean something to the HTTP layer, or that chDB maps onto its own query
 * options; chDB handles them per request, so they do not select a session. Mirrors the list
 * in `chdb/dist/connection/chdb-connection.js`.
 */
const perRequestSettings: ReadonlySet<string> = new Set([
  'default_format',
  'wait_end_of_query',
  'send_progress_in_http_headers',
  'http_response_buffer_size',
  'http_headers_progress_interval_ms',
  'http_send_progress_interval_ms',
  'enable_http_compression',
  'http_zlib_compression_level',
  'http_response_compression_method',
  'http_native_compression_disable_checksumming_on_decompress',
]);

let openDataPath: string | null = null;
let openConnections = 0;
/**
 * The first session of the engine, opened with the access config (embedded-access.ts): chDB
 * reads `--config-file` when its engine starts, and every later session on the path shares it.
 */
let anchor: Session | null = null;

/** The data directory embedded ClickHouse has open in this process, if any. */
export function openEmbeddedDataPath(): string | null {
  return openDataPath;
}

export interface EmbeddedConnectionOptions {
  /** chDB data directory; created if missing. */
  readonly dataPath: string;
  /** Created if missing; every session is pinned to it. */
  readonly database: string;
  /** Applied to every session when it opens, before any request's own settings. */
  readonly sessionDefaults?: ClickHouseSettings;
  /** chDB sessions per settings set, i.e. requests that run at once (default 3). */
  readonly poolSize?: number;
  /** AES-256 key (hex) of the encrypted disk new tables are stored on; none: plain disk. */
  readonly encryptionKeyHex?: string;
}

/** Opens (or joins) this process's embedded ClickHouse and makes sure `database` exists. */
export async function openEmbeddedConnection(options: EmbeddedConnectionOptions): Promise<EmbeddedConnection> {
  const dataPath = path.resolve(options.dataPath);
  const database = quoteIdentifier(options.database);
  if (openDataPath !== null && openDataPath !== dataPath) {
    throw new InternalError(
      `embedded ClickHouse (chDB) is already open at ${openDataPath} in this process and chDB allows one data directory per process; ` +
        `cannot also open ${dataPath}. Only the profile-materializer opens the embedded store: other processes must use its read API ` +
        'or a ClickHouse server (set CLICKHOUSE_URL).',
      { openDataPath, requestedDataPath: dataPath },
    );
  }
  fs.mkdirSync(dataPath, { recursive: true });
  if (anchor === null) {
    const configFile = writeEmbeddedAccessConfig(dataPath, {
      ...(options.encryptionKeyHex ? { encryptionKeyHex: options.encryptionKeyHex } : {}),
    });
    anchor = new Session(dataPath, { connectionArgs: [`--config-file=${configFile}`] });
  }
  openDataPath = dataPath;
  openConnections += 1;
  const connection = new EmbeddedConnection(
    dataPath,
    database,
    splitSettings(options.sessionDefaults ?? {}).sessionSettings,
    options.poolSize,
  );
  try {
    await connection.open();
    return connection;
  } catch (error) {
    await connection.close();
    throw error;
  }
}

/** A chDB session of a pool and how many requests it is running. */
interface PooledSession {
  readonly ready: Promise<Connection>;
  busy: number;
}

export class EmbeddedConnection implements Connection {
  /** Sessions per settings set ('' = the defaults only), see point 4 above. */
  readonly #pools = new Map<string, PooledSession[]>();
  #closed = false;

  constructor(
    readonly dataPath: string,
    /** Backquoted database name. */
    private readonly database: string,
    private readonly defaults: ReadonlyArray<readonly [string, string]> = [],
    private readonly poolSize = defaultPoolSize,
  ) {}

  async open(): Promise<void> {
    const session = chdbSession(this.dataPath);
    this.#pools.set('', [{ ready: Promise.resolve(session), busy: 0 }]);
    await session.command({ query: `CREATE DATABASE IF NOT EXISTS ${this.database}` });
    await session.command({ query: `USE ${this.database}` });
    for (const [name, value] of this.defaults) await session.command({ query: `SET ${name} = ${value}` });
  }

  query(params: Params<'query'>): ReturnType<Connection['query']> {
    refuseMultiStatement(params.query);
    return this.run(params.clickhouse_settings, async (session, perRequest) => {
      if (writtenByCaller(params.clickhouse_settings)) await refuseSecondStatement(session, params.query);
      return session.query({ ...params, clickhouse_settings: perRequest });
    });
  }

  exec(params: Params<'exec'>): ReturnType<Connection['exec']> {
    refuseMultiStatement(params.query);
    return this.run(params.clickhouse_settings, async (session, perRequest) => {
      if (writtenByCaller(params.clickhouse_settings)) await refuseSecondStatement(session, params.query);
      return session.exec({ ...params, clickhouse_settings: perRequest });
    });
  }

  command(params: Params<'command'>): ReturnType<Connection['command']> {
    refuseMultiStatement(params.query);
    return this.run(params.clickhouse_settings, async (session, perRequest) => {
      if (writtenByCaller(params.clickhouse_settings)) await refuseSecondStatement(session, params.query);
      return session.command({ ...params, clickhouse_settings: perRequest });
    });
  }

  /** The INSERT header is built by the client (the body is data, which may hold `;`). */
  insert(params: Params<'insert'>): ReturnType<Connection['insert']> {
    return this.run(params.clickhouse_settings, (session, perRequest) =>
      session.insert({ ...params, clickhouse_settings: perRequest }),
    );
  }

  async ping(params: Parameters<Connection['ping']>[0]): ReturnType<Connection['ping']> {
    if (this.#closed) return { success: false, error: new Error('embedded ClickHouse connection is closed') };
    const first = this.#pools.get('')?.[0];
    if (!first) return { success: false, error: new Error('embedded ClickHouse connection is not open') };
    return (await first.ready).ping(params);
  }

  /**
   * Streams a query's result as JSONEachRow bytes, chunk by chunk, on a chDB session of its own
   * that lives as long as the stream: a session runs one stream at a time, and the pool's
   * sessions answer everything else meanwhile. Values are bound as typed parameters.
   */
  async *streamRows(
    sql: string,
    params: Record<string, unknown>,
    settings: ClickHouseSettings = {},
  ): AsyncGenerator<Buffer> {
    if (this.#closed) throw new InternalError('embedded ClickHouse connection is closed', { dataPath: this.dataPath });
    refuseMultiStatement(sql);
    const { Session } = require('chdb') as typeof import('chdb');
    const session = new Session(this.dataPath);
    try {
      session.query(`USE ${this.database}`);
      for (const [name, value] of [...this.defaults, ...splitSettings(settings).sessionSettings])
        session.query(`SET ${name} = ${value}`);
      for await (const chunk of session.queryStreamBind(sql, params, { format: 'JSONEachRow' })) {
        const raw = chunk.raw();
        yield Buffer.from(raw.buffer, raw.byteOffset, raw.byteLength);
      }
    } finally {
      session.close();
    }
  }

  /** Safe to call twice; the process may open another data directory once all are closed. */
  async close(): Promise<void> {
    if (this.#closed) return;
    this.#closed = true;
    const sessions = [...this.#pools.values()].flat();
    this.#pools.clear();
    for (const { ready } of sessions) {
      try {
        await (await ready).close();
      } catch {
        // A session that failed to open has nothing to close.
      }
    }
    openConnections -= 1;
    if (openConnections <= 0) {
      openConnections = 0;
      openDataPath = null;
      anchor?.close();
      anchor = null;
    }
  }

  /** Runs one request on a session of the pool for its settings (results are materialized by chDB before they resolve). */
  private async run<T>(
    settings: ClickHouseSettings | undefined,
    request: (session: Connection, perRequest: ClickHouseSettings) => Promise<T>,
  ): Promise<T> {
    if (this.#closed) throw new InternalError('embedded ClickHouse connection is closed', { dataPath: this.dataPath });
    const { sessionSettings, perRequest } = splitSettings(settings ?? {});
    const pooled = this.pick(sessionSettings);
    pooled.busy += 1;
    try {
      return await request(await pooled.ready, perRequest);
    } finally {
      pooled.busy -= 1;
    }
  }

  /** An idle session of the settings' pool, a new one while the pool is not full, else the least busy. */
  private pick(sessionSettings: ReadonlyArray<readonly [string, string]>): PooledSession {
    const key = sessionSettings.length === 0 ? '' : JSON.stringify(sessionSettings);
    let pool = this.#pools.get(key);
    if (!pool) {
      if (this.#pools.size >= maxSettingsSets) {
        throw new InternalError(
          `embedded ClickHouse keeps chDB sessions per distinct set of clickhouse_settings and ${maxSettingsSets} sets are open; ` +
            'pass settings that vary per request (tokens, ids) inside the SQL (`SETTINGS …`) instead',
          { settings: key },
        );
      }
      pool = [];
      this.#pools.set(key, pool);
    }
    const idle = pool.find((s) => s.busy === 0);
    if (idle) return idle;
    if (pool.length < this.poolSize) {
      const pooled: PooledSession = { ready: this.openSession(sessionSettings), busy: 0 };
      pool.push(pooled);
      // A session that failed to open leaves the pool, so the next request opens a fresh one.
      pooled.ready.catch(() => {
        const at = pool.indexOf(pooled);
        if (at >= 0) pool.splice(at, 1);
      });
      return pooled;
    }
    return pool.reduce((least, s) => (s.busy < least.busy ? s : least));
  }

  private async openSession(settings: ReadonlyArray<readonly [string, string]>): Promise<Connection> {
    const session = chdbSession(this.dataPath);
    try {
      await session.command({ query: `USE ${this.database}` });
      // One statement per setting, defaults first and `readonly` last: once it is 1 nothing else may be SET.
      for (const [name, value] of [...this.defaults, ...settings])
        await session.command({ query: `SET ${name} = ${value}` });
      return session;
    } catch (error) {
      await session.close();
      throw error;
    }
  }
}

/**
 * A chDB session. chDB types it against `@clickhouse/client-common`, while `@clickhouse/client`
 * bundles its own copy of the same contract; the shapes are identical, the declarations are not.
 */
function chdbSession(dataPath: string): Connection {
  return createChdbConnection({ path: dataPath }) as unknown as Connection;
}

/** Splits settings into the session-defining ones (sorted, SQL literals) and per-request ones. */
export function splitSettings(settings: ClickHouseSettings): {
  sessionSettings: Array<readonly [string, string]>;
  perRequest: ClickHouseSettings;
} {
  const sessionSettings: Array<readonly [string, string]> = [];
  const perRequest: Record<string, unknown> = {};
  for (const [name, value] of Object.entries(settings)) {
    if (value === undefined) continue;
    if (perRequestSettings.has(name)) {
      perRequest[name] = value;
      continue;
    }
    if (!/^[A-Za-z_][A-Za-z0-9_]*$/.test(name))
      throw new RangeError(`invalid ClickHouse setting name: ${JSON.stringify(name)}`);
    sessionSettings.push([name, settingLiteral(value)]);
  }
  sessionSettings.sort(([a], [b]) => (a === 'readonly' ? 1 : b === 'readonly' ? -1 : a < b ? -1 : a > b ? 1 : 0));
  return { sessionSettings, perRequest: perRequest as ClickHouseSettings };
}

function settingLiteral(value: unknown): string {
  if (typeof value === 'number') return String(value);
  if (typeof value === 'boolean') return value ? '1' : '0';
  return `'${String(value).replace(/\\/g, '\\\\').replace(/'/g, "''")}'`;
}

/**
 * Read-only requests carry SQL a caller wrote (the read API's /v1/sql, segment checks): the
 * splitter below is fooled by text ClickHouse lexes differently, so ClickHouse's parser decides.
 */
function writtenByCaller(settings: ClickHouseSettings | undefined): boolean {
  return settings?.readonly !== undefined && String(settings.readonly) !== '0';
}

/** Same code and type a ClickHouse server gives for a multi-statement request. */
function refuseMultiStatement(sql: string): void {
  if (splitStatements(sql).length > 1) {
    throw Object.assign(new Error('Multi-statements are not allowed: send one statement per request'), {
      name: 'ClickHouseError',
      code: '62',
      type: 'SYNTAX_ERROR',
    });
  }
}
