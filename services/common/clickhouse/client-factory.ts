import fs from 'node:fs';
import path from 'node:path';
import { Readable } from 'node:stream';
import {
  ClickHouseLogLevel,
  createClient,
  type ClickHouseClient,
  type ClickHouseSettings,
  type Logger as ClientLogger,
} from '@clickhouse/client';
import type { z } from 'zod';
import type { clickhouseEnvShape } from '../config';
import type { Logger } from '../logger';
import { ConfigError, errorMessage, type ErrorContext } from '../errors';
import { isUntrustedCertificate, readCaFile, untrustedPeerError } from '../tls-files';
import { encodeRows, type EncodedRows } from './encoded-rows';
import { toKumikiError, type ClickHouseMode } from './errors';
import { quoteIdentifier } from './sql-text';

/** The ClickHouse part of a service's parsed configuration (see `clickhouseEnvShape`). */
export type ClickHouseConfig = Readonly<z.output<z.ZodObject<typeof clickhouseEnvShape>>>;

/** Values for typed placeholders in the SQL: `WHERE profile_id = {id:String}`. */
export type QueryParams = Record<string, unknown>;

export interface QueryOptions {
  /**
   * Runs with `readonly = 1`: only reads, no settings changes from inside the SQL (so the
   * limits in `settings` cannot be lifted), no table functions such as file() or url().
   */
  readonly readOnly?: boolean;
  /** Per-request settings, e.g. `{ max_execution_time: 10, max_result_rows: '10000' }`. */
  readonly settings?: ClickHouseSettings;
  readonly signal?: AbortSignal;
}

export interface InsertOptions<T> extends Omit<QueryOptions, 'readOnly'> {
  /** Send rows as JSONCompactEachRow with these columns (every row must have them all). */
  readonly columns?: readonly (keyof T & string)[];
}

export interface HealthReport {
  readonly healthy: boolean;
  readonly mode: ClickHouseMode;
  readonly latencyMs: number;
  readonly error?: string;
}

/**
 * kumiki's handle on ClickHouse, the same for embedded chDB and a server.
 *
 * The helpers (`query`, `command`, `insert`) throw only KumikiErrors from failures:
 * DependencyUnavailableError (retriable) when ClickHouse cannot be reached, ClickHouseQueryError
 * (not retriable; carries ClickHouse's code, type and message) when it refused the statement.
 * `client` is the underlying `@clickhouse/client`, already bound to `database`, for what the
 * helpers do not cover (streaming); errors from it are ClickHouse's own — pass them through
 * `toKumikiError(error, handle.mode)`.
 */
export interface ClickHouse {
  readonly mode: ClickHouseMode;
  readonly database: string;
  readonly client: ClickHouseClient;
  /** Rows as objects (JSONEachRow). ClickHouse returns 64-bit integers as strings. */
  query<T = Record<string, unknown>>(sql: string, params?: QueryParams, options?: QueryOptions): Promise<T[]>;
  /**
   * A long result as JSONEachRow bytes, chunk by chunk (whole lines), without holding it or
   * parsing it: for answers that grow with the data and go straight on (a segment's members).
   * Same parameters and settings as `query`.
   */
  streamRows(sql: string, params?: QueryParams, options?: QueryOptions): AsyncIterable<Buffer>;
  /** A statement without a result (DDL, INSERT … SELECT). One statement per call. */
  command(sql: string, params?: QueryParams, options?: Omit<QueryOptions, 'readOnly'>): Promise<void>;
  /**
   * Inserts rows into a table of `database`; an empty list is a no-op. As JSONEachRow, or with
   * `columns` as JSONCompactEachRow (values only, in that order): measured about a third faster
   * on chDB for wide rows (bench/materializer-throughput.ts), the hot path's choice.
   */
  insert<T extends object>(table: string, rows: readonly T[], options?: InsertOptions<T>): Promise<void>;
  /** Inserts rows serialised by `encodeRows` (see encoded-rows.ts); none is a no-op. */
  insertEncoded(table: string, rows: EncodedRows, options?: Omit<QueryOptions, 'readOnly'>): Promise<void>;
  /** `SELECT 1`; never throws. */
  health(): Promise<HealthReport>;
  isHealthy(): Promise<boolean>;
  /** Safe to call twice. */
  close(): Promise<void>;
}

export interface ClickHouseOptions {
  /** Per-request timeout against a server; embedded queries are not bounded by it. */
  readonly requestTimeoutMs?: number;
  /** Name reported to the server (system.query_log `http_user_agent`). */
  readonly application?: string;
}

/**
 * Settings every request runs with, in both modes, so that results do not depend on the mode
 * (chDB's defaults differ from a server's):
 * - 64-bit integers (count(), sums of UInt64) come back as JSON strings: JavaScript numbers
 *   cannot hold every UInt64, and a server quotes them by default;
 * - DateTime columns accept ISO 8601 (`Date#toISOString()`) and epoch milliseconds on insert.
 */
export const defaultSettings: ClickHouseSettings = Object.freeze({
  output_format_json_quote_64bit_integers: 1,
  date_time_input_format: 'best_effort',
});

/** Where embedded ClickHouse keeps its data: `localPaths(home).clickhouseData`. */
export function embeddedDataPath(home: string): string {
  return path.join(path.resolve(home), 'clickhouse');
}

/**
 * Opens ClickHouse as configured and makes sure the database exists:
 * - CLICKHOUSE_URL unset → embedded chDB under `<KUMIKI_HOME>/clickhouse`. One data directory
 *   per process (see embedded-connection.ts); only the profile-materializer should do this.
 * - CLICKHOUSE_URL set → that server over HTTP(S) with CLICKHOUSE_USER / CLICKHOUSE_PASSWORD,
 *   an https certificate verified against CLICKHOUSE_CA_FILE when set (the system's CAs when not).
 * Fails with DependencyUnavailableError when the server cannot be reached: callers that
 * want to wait for it wrap this in `withRetry`. Refused credentials or an untrusted certificate
 * fail with a ConfigError naming the settings to fix (retrying cannot help).
 */
export async function createClickHouse(
  config: ClickHouseConfig & { readonly CLICKHOUSE_ENCRYPTION_KEY_FILE?: string | undefined },
  logger: Logger,
  options: ClickHouseOptions = {},
): Promise<ClickHouse> {
  const database = config.CLICKHOUSE_DATABASE;
  quoteIdentifier(database); // the config schema already insists on a plain identifier
  const log = logger.child({ component: 'clickhouse', database });
  if (config.CLICKHOUSE_URL === undefined) {
    const dataPath = embeddedDataPath(config.KUMIKI_HOME);
    let connection: Awaited<ReturnType<typeof import('./embedded-connection').openEmbeddedConnection>>;
    try {
      // Loaded only here: chDB maps its ~540 MB native engine as soon as it is required, and a
      // process that talks to a ClickHouse server should not pay for that.
      const { openEmbeddedConnection } = require('./embedded-connection') as typeof import('./embedded-connection');
      connection = await openEmbeddedConnection({
        dataPath,
        database,
        sessionDefaults: defaultSettings,
        ...(config.CLICKHOUSE_ENCRYPTION_KEY_FILE
          ? { encryptionKeyHex: fs.readFileSync(config.CLICKHOUSE_ENCRYPTION_KEY_FILE, 'utf8').trim() }
          : {}),
      });
    } catch (error) {
      throw toKumikiError(error, 'embedded', { operation: 'open', dataPath });
    }
    const client = createClient({ connection, application: options.application ?? 'kumiki', log: clientLog(log) });
    log.info({ mode: 'embedded', dataPath }, 'ClickHouse opened (embedded chDB)');
    const embedded = connection;
    return wrapClient(client, 'embedded', database, log, (sql, params, settings) =>
      embedded.streamRows(sql, params, settings),
    );
  }

  const url = config.CLICKHOUSE_URL;
  const common = {
    url,
    username: config.CLICKHOUSE_USER,
    password: config.CLICKHOUSE_PASSWORD,
    request_timeout: options.requestTimeoutMs ?? 30_000,
    application: options.application ?? 'kumiki',
    clickhouse_settings: { ...defaultSettings },
    log: clientLog(log),
    ...serverTls(config),
  };
  // A request naming a database that does not exist fails, so create it through `default` first.
  const bootstrap = createClient(common);
  try {
    await bootstrap.command({ query: `CREATE DATABASE IF NOT EXISTS ${quoteIdentifier(database)}` });
  } catch (error) {
    throw (
      serverRefusal(error, config) ??
      toKumikiError(error, 'server', { operation: 'create database', url: redactUrl(url) })
    );
  } finally {
    await bootstrap.close();
  }
  const client = createClient({ ...common, database });
  log.info({ mode: 'server', url: redactUrl(url) }, 'ClickHouse connected (server)');
  return wrapClient(client, 'server', database, log);
}

/** The client's TLS settings for a server: the CA of CLICKHOUSE_CA_FILE, read once here. */
export function serverTls(config: Pick<ClickHouseConfig, 'CLICKHOUSE_CA_FILE'>): { tls?: { ca_cert: Buffer } } {
  if (!config.CLICKHOUSE_CA_FILE) return {};
  return { tls: { ca_cert: Buffer.from(readCaFile('CLICKHOUSE_CA_FILE', config.CLICKHOUSE_CA_FILE)) } };
}

/**
 * ClickHouse's codes for refused credentials: UNKNOWN_USER, WRONG_PASSWORD, REQUIRED_PASSWORD
 * and (since 21.x) AUTHENTICATION_FAILED. Older servers answer in a format the client does not
 * parse into a code, so the text is read too.
 */
const refusedCredentials = /^(192|193|194|516)$/;
const refusedCredentialsText = /^Code: (192|193|194|516)\b/;

/** A ConfigError naming the settings to fix when the server refused the connection for them. */
function serverRefusal(error: unknown, config: ClickHouseConfig): ConfigError | undefined {
  const url = redactUrl(config.CLICKHOUSE_URL ?? '');
  if (isUntrustedCertificate(error))
    return untrustedPeerError(
      `the ClickHouse server at ${url}`,
      'CLICKHOUSE_CA_FILE',
      config.CLICKHOUSE_CA_FILE,
      error,
    );
  const code = (error as { code?: unknown } | null)?.code;
  const message = errorMessage(error).trim();
  if ((typeof code === 'string' && refusedCredentials.test(code)) || refusedCredentialsText.test(message))
    return new ConfigError([
      `CLICKHOUSE_USER / CLICKHOUSE_PASSWORD: the ClickHouse server at ${url} refused user ${JSON.stringify(config.CLICKHOUSE_USER)}: ${message}`,
    ]);
  return undefined;
}

/** How an embedded connection streams (chDB has its own streaming sessions); servers stream over HTTP. */
type Streamer = (sql: string, params: QueryParams, settings: ClickHouseSettings) => AsyncIterable<Buffer>;

export function wrapClient(
  client: ClickHouseClient,
  mode: ClickHouseMode,
  database: string,
  log: Logger,
  embeddedStream?: Streamer,
): ClickHouse {
  let closed: Promise<void> | undefined;
  const fail = (error: unknown, context: ErrorContext): Error => toKumikiError(error, mode, context);

  const handle: ClickHouse = {
    mode,
    database,
    client,
    async query<T>(sql: string, params?: QueryParams, options: QueryOptions = {}): Promise<T[]> {
      try {
        const result = await client.query({
          query: sql,
          format: 'JSONEachRow',
          ...(params ? { query_params: params } : {}),
          clickhouse_settings: requestSettings(options),
          ...(options.signal ? { abort_signal: options.signal } : {}),
        });
        return await result.json<T>();
      } catch (error) {
        throw fail(error, { operation: 'query' });
      }
    },
    async *streamRows(sql: string, params: QueryParams = {}, options: QueryOptions = {}): AsyncGenerator<Buffer> {
      try {
        if (embeddedStream) {
          yield* embeddedStream(sql, params, requestSettings(options));
          return;
        }
        const result = await client.exec({
          query: `${sql}\nFORMAT JSONEachRow`,
          query_params: params,
          clickhouse_settings: requestSettings(options),
          ...(options.signal ? { abort_signal: options.signal } : {}),
        });
        // HTTP chunks may split a line; what is handed on ends at a line's end.
        let rest: Buffer = Buffer.alloc(0);
        for await (const chunk of result.stream as AsyncIterable<Buffer>) {
          const data = rest.length > 0 ? Buffer.concat([rest, chunk]) : chunk;
          const end = data.lastIndexOf(10) + 1;
          if (end > 0) yield data.subarray(0, end);
          rest = data.subarray(end);
        }
        if (rest.length > 0) yield rest;
      } catch (error) {
        throw fail(error, { operation: 'stream' });
      }
    },
    async command(sql, params, options = {}) {
      try {
        await client.command({
          query: sql,
          ...(params ? { query_params: params } : {}),
          clickhouse_settings: requestSettings(options),
          ...(options.signal ? { abort_signal: options.signal } : {}),
        });
      } catch (error) {
        throw fail(error, { operation: 'command' });
      }
    },
    async insert(table, rows, options = {}) {
      if (rows.length === 0) return;
      if (options.columns) return handle.insertEncoded(table, encodeRows(rows, options.columns), options);
      try {
        await client.insert({
          table,
          values: rows as unknown as object[],
          format: 'JSONEachRow',
          clickhouse_settings: requestSettings(options),
          ...(options.signal ? { abort_signal: options.signal } : {}),
        });
      } catch (error) {
        throw fail(error, { operation: 'insert', table, rows: rows.length });
      }
    },
    async insertEncoded(table, rows, options = {}) {
      if (rows.count === 0) return;
      try {
        const result = await client.exec({
          query: `INSERT INTO ${quoteIdentifier(table)} (${rows.columns.map(quoteIdentifier).join(', ')}) FORMAT JSONCompactEachRow`,
          values: Readable.from([rows.body]),
          clickhouse_settings: requestSettings(options),
          ...(options.signal ? { abort_signal: options.signal } : {}),
        });
        // An INSERT answers with an empty body; reading it to the end frees the connection.
        for await (const _ of result.stream) void _;
      } catch (error) {
        throw fail(error, { operation: 'insert', table, rows: rows.count });
      }
    },
    async health() {
      const started = Date.now();
      if (closed) return { healthy: false, mode, latencyMs: 0, error: 'closed' };
      try {
        const result = await client.query({ query: 'SELECT 1 AS ok', format: 'JSONEachRow' });
        const rows = await result.json<{ ok: number }>();
        const healthy = rows.length === 1 && Number(rows[0]?.ok) === 1;
        return {
          healthy,
          mode,
          latencyMs: Date.now() - started,
          ...(healthy ? {} : { error: 'unexpected answer to SELECT 1' }),
        };
      } catch (error) {
        return { healthy: false, mode, latencyMs: Date.now() - started, error: errorMessage(error) };
      }
    },
    async isHealthy() {
      return (await handle.health()).healthy;
    },
    close() {
      closed ??= client.close().then(
        () => log.info('ClickHouse closed'),
        (error: unknown) => log.warn({ err: errorMessage(error) }, 'ClickHouse close failed'),
      );
      return closed;
    },
  };
  return handle;
}

/**
 * clickhouse-js logs into pino. It logs every failed request as an error; those errors reach the
 * caller as KumikiErrors, and the caller decides whether they deserve an error line (a user's
 * bad SQL does not), so they are kept at debug here.
 */
export function clientLog(log: Logger): { LoggerClass: new () => ClientLogger; level: ClickHouseLogLevel } {
  const target = log.child({ component: 'clickhouse-js' });
  class PinoClickHouseLogger implements ClientLogger {
    trace({ module, message, args }: Parameters<ClientLogger['trace']>[0]): void {
      target.trace({ module, ...args }, message);
    }
    debug({ module, message, args }: Parameters<ClientLogger['debug']>[0]): void {
      target.debug({ module, ...args }, message);
    }
    info({ module, message, args }: Parameters<ClientLogger['info']>[0]): void {
      target.info({ module, ...args }, message);
    }
    warn({ module, message, args, err }: Parameters<ClientLogger['warn']>[0]): void {
      target.warn({ module, ...args, ...(err ? { err: errorMessage(err) } : {}) }, message);
    }
    error({ module, message, args, err }: Parameters<ClientLogger['error']>[0]): void {
      target.debug({ module, ...args, err: errorMessage(err) }, message);
    }
  }
  return { LoggerClass: PinoClickHouseLogger, level: ClickHouseLogLevel.WARN };
}

/** `readonly` goes last so that it does not forbid the other settings of the same request. */
function requestSettings(options: QueryOptions): ClickHouseSettings {
  return { ...options.settings, ...(options.readOnly ? { readonly: '1' } : {}) };
}

function redactUrl(url: string): string {
  try {
    const parsed = new URL(url);
    if (parsed.password) parsed.password = '***';
    return parsed.toString();
  } catch {
    return '(invalid url)';
  }
}
