import { ApiError } from '../../common/error-codes';

/** ClickHouse DateTime64(3, 'UTC') text (`2026-05-01 10:15:00.000`) → ISO 8601. */
export function isoTime(text: string): string {
  return `${text.replace(' ', 'T')}Z`;
}

/**
 * Cursors of the console's paged lists: the sort key of the last row shown, opaque to clients
 * (base64url JSON), so a page is a key range and never an OFFSET that rows arriving between two
 * pages would shift.
 */
export function encodeCursor(key: readonly (string | number)[]): string {
  return Buffer.from(JSON.stringify(key)).toString('base64url');
}

export function decodeCursor(cursor: string | undefined, arity: number): (string | number)[] | undefined {
  if (cursor === undefined || cursor === '') return undefined;
  try {
    const key = JSON.parse(Buffer.from(cursor, 'base64url').toString('utf8')) as unknown;
    if (Array.isArray(key) && key.length === arity && key.every((k) => typeof k === 'string' || typeof k === 'number'))
      return key as (string | number)[];
  } catch {
    // reported below
  }
  throw new ApiError('KUMIKI_INVALID_EVENT', 'cursor is not one this API handed out', 'cursor');
}

/** `?limit=` bounded to 1…max, `fallback` when absent or not a number. */
export function pageLimit(raw: unknown, fallback: number, max: number): number {
  const asked = Math.floor(Number(raw ?? fallback));
  return Number.isFinite(asked) ? Math.min(Math.max(asked, 1), max) : fallback;
}
