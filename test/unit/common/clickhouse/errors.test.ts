import { ClickHouseError } from '@clickhouse/client';
import {
  DependencyUnavailableError,
  InternalError,
  InvalidInputError,
  isRetriable,
} from '../../../../services/common/errors';
import { localPaths } from '../../../../services/common/paths';
import { embeddedDataPath } from '../../../../services/common/clickhouse/client-factory';
import { splitSettings } from '../../../../services/common/clickhouse/embedded-connection';
import { ClickHouseQueryError, toKumikiError } from '../../../../services/common/clickhouse/errors';

const systemError = (code: string, message = `connect ${code} 127.0.0.1:8123`): Error =>
  Object.assign(new Error(message), { code });

describe('toKumikiError', () => {
  it('turns a statement ClickHouse refused into a non-retriable ClickHouseQueryError with its code, type and message', () => {
    const error = toKumikiError(
      new ClickHouseError({ code: '60', type: 'UNKNOWN_TABLE', message: 'Table kumiki.nope does not exist. ' }),
      'server',
      { operation: 'query' },
    );
    expect(error).toBeInstanceOf(ClickHouseQueryError);
    expect(error).toMatchObject({
      code: '60',
      type: 'UNKNOWN_TABLE',
      message: 'Table kumiki.nope does not exist.',
      isRetriable: false,
    });
    expect((error as ClickHouseQueryError).context).toEqual({
      operation: 'query',
      clickhouseCode: '60',
      clickhouseType: 'UNKNOWN_TABLE',
    });
  });

  it("takes chDB's refusal to bind a parameter value as a refused query, not a bug", () => {
    // A read API call with params { "a": [-9007199254740992] } was answered 500 (found by fuzzing).
    const refused = Object.assign(
      new Error(
        'Refusing to serialize unsafe integer -9007199254740992 (beyond ±2^53): pass a bigint or string to preserve precision',
      ),
      { name: 'ChdbBindError' },
    );
    // As the client hands it over: wrapped, the refusal its cause's cause.
    const error = toKumikiError(
      new Error('query failed', { cause: new Error('bind', { cause: refused }) }),
      'embedded',
      {
        operation: 'query',
      },
    );
    expect(error).toBeInstanceOf(ClickHouseQueryError);
    expect(error).toMatchObject({ code: '457', type: 'BAD_QUERY_PARAMETER', isRetriable: false });
    expect(error.message).toBe(refused.message);
  });

  it('recognises ClickHouse errors by shape, whichever copy of the client created them', () => {
    const fromChdb = Object.assign(new Error('Cannot execute query in readonly mode.'), {
      name: 'ClickHouseError',
      code: '164',
      type: 'READONLY',
    });
    expect(toKumikiError(fromChdb, 'embedded')).toMatchObject({ code: '164', type: 'READONLY' });
  });

  it('keeps the whole message where clickhouse-js cut it at an upper-case token', () => {
    const raw = new Error(
      'Code: 62. DB::Exception: Syntax error: failed at position 8 (FROM) (line 1, col 8): FROM t. Expected one of: expression. (SYNTAX_ERROR) (version 24.8.1.1)',
    );
    const cut = Object.assign(
      new ClickHouseError({ code: '62', type: 'FROM', message: 'Syntax error: failed at position 8 ' }),
      { cause: raw },
    );
    expect(toKumikiError(cut, 'embedded')).toMatchObject({
      code: '62',
      message: 'Syntax error: failed at position 8 (FROM) (line 1, col 8): FROM t. Expected one of: expression.',
    });
  });

  it.each([
    ['202', 'TOO_MANY_SIMULTANEOUS_QUERIES'],
    ['252', 'TOO_MANY_PARTS'],
    ['242', 'TABLE_IS_READ_ONLY'],
  ])('treats ClickHouse code %s (%s) as a passing condition: retriable', (code, type) => {
    const error = toKumikiError(new ClickHouseError({ code, type, message: 'try later' }), 'server');
    expect(error).toBeInstanceOf(DependencyUnavailableError);
    expect(isRetriable(error)).toBe(true);
  });

  it.each(['ECONNREFUSED', 'ECONNRESET', 'ETIMEDOUT', 'ENOTFOUND', 'UND_ERR_SOCKET'])(
    'treats %s as unreachable: retriable',
    (code) => {
      const error = toKumikiError(systemError(code), 'server');
      expect(error).toBeInstanceOf(DependencyUnavailableError);
      expect(error.message).toBe(`ClickHouse is unreachable: connect ${code} 127.0.0.1:8123`);
    },
  );

  it('recognises an exception chDB cut short at a NUL byte in the SQL', () => {
    // A segment with the SQL "\u0000" was answered 500: the message ends where the NUL was (found by fuzzing).
    const error = toKumikiError(
      new Error('Code: 62. DB::Exception: Unrecognized token: Syntax error: failed at position 13 ('),
      'embedded',
    );
    expect(error).toBeInstanceOf(ClickHouseQueryError);
    expect(error).toMatchObject({
      code: '62',
      type: '',
      message: 'Unrecognized token: Syntax error: failed at position 13 (',
      isRetriable: false,
    });
  });

  it('looks inside AggregateError (happy eyeballs) and causes', () => {
    const aggregate = new AggregateError([systemError('ECONNREFUSED'), systemError('ECONNREFUSED')], 'connect failed');
    expect(toKumikiError(aggregate, 'embedded')).toBeInstanceOf(DependencyUnavailableError);
    expect(
      toKumikiError(new Error('request failed', { cause: systemError('EHOSTUNREACH') }), 'embedded'),
    ).toBeInstanceOf(DependencyUnavailableError);
    expect(toKumikiError(new Error('Timeout error.'), 'embedded')).toBeInstanceOf(DependencyUnavailableError);
  });

  it('reads an unexplained failure from a server as unavailability (writes are idempotent, so retrying is safe) but from chDB as a bug', () => {
    expect(toKumikiError(new Error('<html>502 Bad Gateway</html>'), 'server')).toBeInstanceOf(
      DependencyUnavailableError,
    );
    expect(toKumikiError(new Error('something odd'), 'embedded')).toBeInstanceOf(InternalError);
  });

  it('passes KumikiErrors and JavaScript bugs through unchanged', () => {
    const invalid = new InvalidInputError('bad');
    const bug = new TypeError('x is undefined');
    expect(toKumikiError(invalid, 'server')).toBe(invalid);
    expect(toKumikiError(bug, 'server')).toBe(bug);
  });
});

describe('splitSettings (embedded sessions)', () => {
  it('puts readonly last, sorts the rest and quotes strings as SQL literals', () => {
    expect(
      splitSettings({ readonly: '1', max_result_rows: '1000', max_execution_time: 10, log_comment: "it's" }),
    ).toEqual({
      sessionSettings: [
        ['log_comment', "'it''s'"],
        ['max_execution_time', '10'],
        ['max_result_rows', "'1000'"],
        ['readonly', "'1'"],
      ],
      perRequest: {},
    });
  });

  it('keeps HTTP-only and format settings per request, out of the session key', () => {
    expect(splitSettings({ wait_end_of_query: 1, default_format: 'JSON', max_threads: undefined })).toEqual({
      sessionSettings: [],
      perRequest: { wait_end_of_query: 1, default_format: 'JSON' },
    });
  });

  it('refuses a setting name that is not an identifier', () => {
    expect(() => splitSettings({ 'x = 1; DROP TABLE t; --': 1 } as never)).toThrow(RangeError);
  });
});

describe('embeddedDataPath', () => {
  it('is the clickhouse directory of the local state', () => {
    expect(embeddedDataPath('.kumiki')).toBe(localPaths('.kumiki', '/cache').clickhouseData);
  });
});
