import { DependencyUnavailableError, InternalError, KumikiError, type ErrorContext } from '../errors';

/**
 * A statement ClickHouse refused: a syntax error, an unknown table or column, a type
 * mismatch, a read-only violation, a limit the query hit. Retrying the same SQL cannot help,
 * so it is not retriable; the read API returns it as a 400 with ClickHouse's own code,
 * type and message, which are what a user needs to fix their query.
 */
export class ClickHouseQueryError extends KumikiError {
  readonly isRetriable = false;

  constructor(
    /** ClickHouse's numeric error code as a string, e.g. '62' (SYNTAX_ERROR), '164' (READONLY). */
    readonly code: string,
    /** ClickHouse's symbolic error name, e.g. 'SYNTAX_ERROR'; '' when ClickHouse gave none. */
    readonly type: string,
    message: string,
    context: ErrorContext = {},
    options?: { cause?: unknown },
  ) {
    super(message, { ...context, clickhouseCode: code, clickhouseType: type }, options);
  }
}

/**
 * ClickHouse error codes that describe the server's state rather than the statement:
 * overload, lost replicas or Keeper, network trouble between nodes. The same statement
 * may succeed later, so they become DependencyUnavailableError. Everything else ClickHouse
 * reports is a verdict on the statement. (Codes from ClickHouse `src/Common/ErrorCodes.cpp`.)
 */
const transientClickHouseCodes: ReadonlySet<string> = new Set([
  '202', // TOO_MANY_SIMULTANEOUS_QUERIES
  '203', // NO_FREE_CONNECTION
  '209', // SOCKET_TIMEOUT
  '210', // NETWORK_ERROR
  '242', // TABLE_IS_READ_ONLY (replica lost its Keeper session)
  '252', // TOO_MANY_PARTS (back off and let merges catch up)
  '279', // ALL_CONNECTION_TRIES_FAILED
  '319', // UNKNOWN_STATUS_OF_INSERT
  '999', // KEEPER_EXCEPTION
]);

/** Socket-level failures: the server is not reachable (or stopped answering) right now. */
const networkErrorCodes: ReadonlySet<string> = new Set([
  'ECONNREFUSED',
  'ECONNRESET',
  'ECONNABORTED',
  'ETIMEDOUT',
  'EHOSTUNREACH',
  'ENETUNREACH',
  'ENOTFOUND',
  'EAI_AGAIN',
  'EPIPE',
  'ERR_SOCKET_CONNECTION_TIMEOUT',
]);

/** Where the error happened; it changes how an error ClickHouse did not describe is read. */
export type ClickHouseMode = 'embedded' | 'server';

/**
 * Turns whatever the ClickHouse client threw into a KumikiError that says whether to retry:
 * - ClickHouse reported an error → ClickHouseQueryError (or DependencyUnavailableError for
 *   the transient codes above);
 * - the socket failed or timed out → DependencyUnavailableError;
 * - anything else from a server → DependencyUnavailableError: an HTTP proxy's 502 page or a
 *   cut-off response leaves the outcome unknown, and kumiki's writes are idempotent, so trying
 *   again is safe;
 * - anything else from embedded chDB → InternalError (there is no network in between, so an
 *   error that is not a ClickHouse exception is a bug).
 * JavaScript's own TypeError/RangeError/SyntaxError are bugs and pass through unchanged.
 */
export function toKumikiError(error: unknown, mode: ClickHouseMode, context: ErrorContext = {}): Error {
  if (error instanceof KumikiError) return error;
  if (error instanceof TypeError || error instanceof RangeError || error instanceof SyntaxError) return error;
  const reported = clickHouseException(error);
  if (reported) {
    const message = reported.message.trim();
    if (transientClickHouseCodes.has(reported.code)) {
      return new DependencyUnavailableError(
        `ClickHouse is temporarily unable to serve: ${message}`,
        { ...context, clickhouseCode: reported.code, clickhouseType: reported.type },
        { cause: error },
      );
    }
    return new ClickHouseQueryError(reported.code, reported.type, message, context, { cause: error });
  }
  const message = error instanceof Error ? error.message : String(error);
  // chDB refuses to bind a parameter value it cannot write exactly (an integer beyond 2^53, a
  // number that is not finite, a name that is not an identifier): a verdict on the query's
  // parameters, as ClickHouse's own BAD_QUERY_PARAMETER is, not a bug of kumiki's.
  const bind = causeNamed(error, 'ChdbBindError');
  if (bind) return new ClickHouseQueryError('457', 'BAD_QUERY_PARAMETER', bind.message, context, { cause: error });
  if (isNetworkError(error) || mode === 'server') {
    return new DependencyUnavailableError(
      `ClickHouse is unreachable: ${message}`,
      { ...context, mode },
      { cause: error },
    );
  }
  return new InternalError(`embedded ClickHouse failed: ${message}`, { ...context, mode }, { cause: error });
}

/** The error or the first of its causes with this name (the client wraps chDB's errors). */
function causeNamed(error: unknown, name: string): Error | undefined {
  for (let current = error, depth = 0; current instanceof Error && depth < 8; depth++) {
    if (current.name === name) return current;
    current = current.cause;
  }
  return undefined;
}

/**
 * ClickHouse exceptions are recognised by shape, not class: chDB throws the ClickHouseError of
 * `@clickhouse/client-common` while `@clickhouse/client` bundles its own copy, so `instanceof`
 * would miss one of them.
 */
function clickHouseException(error: unknown): { code: string; type: string; message: string } | undefined {
  if (!(error instanceof Error)) return undefined;
  const { code, type } = error as Error & { code?: unknown; type?: unknown };
  if (typeof code !== 'string' || !/^\d+$/.test(code)) return cutShortException(error);
  return { code, type: typeof type === 'string' ? type : '', message: fullMessage(error) ?? error.message };
}

/**
 * chDB hands its exception text over as a C string: a NUL byte in the SQL it quotes ends the
 * message before its `(TYPE)`, so clickhouse-js does not recognise it and passes a plain Error
 * on. Its `Code: N. DB::Exception:` start still says what it is.
 */
function cutShortException(error: Error): { code: string; type: string; message: string } | undefined {
  const match = /^Code: (?<code>\d+)\. DB::Exception: (?<message>.*)$/s.exec(error.message);
  if (!match?.groups) return undefined;
  return { code: match.groups.code!, type: '', message: match.groups.message! };
}

/**
 * clickhouse-js cuts the message at the first `(UPPER_CASE)` group, which for a syntax error is
 * often the token ClickHouse complains about (`… failed at position 7 (FROM)`), dropping the
 * part that explains it. When the raw exception text is still in the cause chain (chDB keeps
 * it), take the whole message from there.
 */
function fullMessage(error: Error): string | undefined {
  let current: unknown = error;
  for (let depth = 0; current instanceof Error && depth < 5; depth++) {
    const match = /DB::Exception: (?<message>.+?)\s*\((?<type>[A-Z0-9_]{3,})\)(?:\s*\(version [^)]*\))?\.?\s*$/s.exec(
      current.message,
    );
    if (match?.groups?.message) return match.groups.message;
    current = (current as { cause?: unknown }).cause;
  }
  return undefined;
}

function isNetworkError(error: unknown, depth = 0): boolean {
  if (!(error instanceof Error) || depth > 3) return false;
  const { code, errors, cause } = error as Error & { code?: unknown; errors?: unknown; cause?: unknown };
  if (typeof code === 'string' && (networkErrorCodes.has(code) || code.startsWith('UND_ERR_'))) return true;
  // clickhouse-js' own request timeout and a server that closed the socket mid-request.
  if (/^Timeout error\.?$/.test(error.message) || /socket hang up/i.test(error.message)) return true;
  // Node's happy-eyeballs connect reports an AggregateError with one error per address.
  if (Array.isArray(errors) && errors.some((inner) => isNetworkError(inner, depth + 1))) return true;
  return isNetworkError(cause, depth + 1);
}
