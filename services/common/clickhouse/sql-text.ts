/**
 * Splits SQL text into statements at `;` that are outside string literals, quoted
 * identifiers and comments. Chunks holding only whitespace and comments are dropped.
 *
 * Used for migration files (several statements per file, since ClickHouse's HTTP interface
 * runs one statement per request) and to refuse multi-statement queries in embedded mode,
 * where chDB would otherwise run them all while a ClickHouse server refuses them.
 */
export function splitStatements(sql: string): string[] {
  const statements: string[] = [];
  let start = 0;
  let hasCode = false;
  let i = 0;
  const push = (end: number): void => {
    const text = sql.slice(start, end).trim();
    if (hasCode && text) statements.push(text);
    hasCode = false;
  };
  while (i < sql.length) {
    const ch = sql[i]!;
    const next = sql[i + 1];
    if (ch === '-' && next === '-') {
      i = lineEnd(sql, i);
    } else if (ch === '#' && (next === ' ' || next === '!')) {
      i = lineEnd(sql, i); // ClickHouse also accepts `# ` and `#!` line comments.
    } else if (ch === '/' && next === '*') {
      const close = sql.indexOf('*/', i + 2);
      i = close < 0 ? sql.length : close + 2;
    } else if (ch === "'" || ch === '"' || ch === '`') {
      i = quotedEnd(sql, i, ch);
      hasCode = true;
    } else if (ch === ';') {
      push(i);
      start = i + 1;
      i += 1;
    } else {
      if (!/\s/.test(ch)) hasCode = true;
      i += 1;
    }
  }
  push(sql.length);
  return statements;
}

function lineEnd(sql: string, from: number): number {
  const newline = sql.indexOf('\n', from);
  return newline < 0 ? sql.length : newline + 1;
}

/** Index just past the closing quote; `\x` escapes and doubled quotes (`''`) stay inside. */
function quotedEnd(sql: string, open: number, quote: string): number {
  let i = open + 1;
  while (i < sql.length) {
    const ch = sql[i]!;
    if (ch === '\\') {
      i += 2;
    } else if (ch === quote) {
      if (sql[i + 1] === quote) i += 2;
      else return i + 1;
    } else {
      i += 1;
    }
  }
  return sql.length;
}

/** A database or table name that is safe to splice into SQL text (it is also backquoted). */
export function isPlainIdentifier(name: string): boolean {
  return /^[A-Za-z_][A-Za-z0-9_]*$/.test(name);
}

export function quoteIdentifier(name: string): string {
  if (!isPlainIdentifier(name)) throw new RangeError(`not a plain identifier: ${JSON.stringify(name)}`);
  return `\`${name}\``;
}

/**
 * Numbers kumiki made (a version, an epoch-ms instant, a fitted coefficient) as SQL text, for the
 * statements that read every purchaser: chDB runs parameterised queries one at a time across the
 * process, and such a statement takes seconds, during which every profile refresh's reads would
 * wait. Anything else is refused, so no caller can splice text through them.
 */
export function integerLiteral(value: number | string): string {
  const text = String(value);
  if (!/^\d{1,20}$/.test(text)) throw new RangeError(`not an unsigned integer: ${text}`);
  return text;
}

/** A finite number as a Float64 literal (shortest round-trip text). */
export function floatLiteral(value: number): string {
  if (!Number.isFinite(value)) throw new RangeError(`not a finite number: ${value}`);
  return `toFloat64(${JSON.stringify(value)})`;
}
