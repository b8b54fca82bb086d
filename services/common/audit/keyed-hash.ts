import { createHmac } from 'node:crypto';

/**
 * Identifiers and profile ids in the audit trail are kept only as keyed hashes (HMAC-SHA256 with the PII key),
 * so erasing a person never needs to edit the trail, and nobody without the key can test a
 * guessed email against it. The same identifier always hashes the same: the audit report finds
 * a person's records by hashing the identifier it is asked about.
 */
export function keyedHash(key: Buffer, text: string): string {
  return createHmac('sha256', key).update(text).digest('hex');
}

/** Normalised the way the stitcher stores identifiers (email lower-cased), then hashed. */
export function identifierHash(key: Buffer, type: string, value: string): string {
  const trimmed = value.trim();
  return keyedHash(key, `${type}:${type === 'email' ? trimmed.toLowerCase() : trimmed}`);
}

/** A profile id as the audit trail keeps it (its records are found by hashing the person's ids). */
export function profileIdHash(key: Buffer, profileId: string): string {
  return keyedHash(key, `profile_id:${profileId}`);
}

/**
 * SQL as the audit trail keeps it: every string literal, single-quoted or heredoc (`$$…$$`,
 * `$tag$…$tag$`), replaced by `'h:<first 16 hex of its keyed hash>'`, so an email typed into a
 * WHERE clause is not kept raw, while equal literals still read equal. Backslash and
 * doubled-quote escapes are honoured.
 */
export function pseudonymiseSqlLiterals(key: Buffer, sql: string): string {
  const pseudonym = (literal: string): string => `'h:${keyedHash(key, literal).slice(0, 16)}'`;
  let out = '';
  let i = 0;
  while (i < sql.length) {
    const ch = sql[i]!;
    // A `$` inside a word continues an identifier (`a$b`); at a word's start it may open a heredoc.
    const tag = ch === '$' && !/\w/.test(sql[i - 1] ?? '') ? /^\$\w*\$/.exec(sql.slice(i))?.[0] : undefined;
    const close = tag === undefined ? -1 : sql.indexOf(tag, i + tag.length);
    if (tag !== undefined && close >= 0) {
      out += pseudonym(sql.slice(i + tag.length, close));
      i = close + tag.length;
      continue;
    }
    if (ch !== "'") {
      out += ch;
      i += 1;
      continue;
    }
    let j = i + 1;
    let literal = '';
    while (j < sql.length) {
      const c = sql[j]!;
      if (c === '\\' && j + 1 < sql.length) {
        literal += sql[j + 1];
        j += 2;
      } else if (c === "'" && sql[j + 1] === "'") {
        literal += "'";
        j += 2;
      } else if (c === "'") break;
      else {
        literal += c;
        j += 1;
      }
    }
    out += pseudonym(literal);
    i = j + 1;
  }
  return out;
}
