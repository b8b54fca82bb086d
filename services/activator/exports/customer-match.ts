import { createHash } from 'node:crypto';
import { parsePhoneNumberFromString } from 'libphonenumber-js';

/**
 * Identifiers as ad platforms' customer-match uploads take them: normalised, then SHA-256 in
 * lower-case hex. Emails trimmed and lower-cased; phones in E.164 (`+` and digits); other types
 * trimmed. The stitcher stores identifiers normalised already, so this is mostly a no-op that
 * guards against values it did not write. A value that cannot be normalised is left out.
 */
export function normaliseIdentifier(type: string, value: string): string | undefined {
  const trimmed = value.trim();
  if (trimmed === '') return undefined;
  if (type === 'email') {
    const email = trimmed.toLowerCase();
    return /^[^\s@]+@[^\s@]+$/.test(email) ? email : undefined;
  }
  if (type === 'phone') {
    // Already E.164 (as the stitcher stores phones): no parse, which costs more than the hash.
    if (/^\+[1-9]\d{6,14}$/.test(trimmed)) return trimmed;
    const parsed = parsePhoneNumberFromString(trimmed.startsWith('+') ? trimmed : `+${trimmed}`);
    return parsed?.isValid() ? parsed.number : undefined;
  }
  return trimmed;
}

export function sha256Hex(text: string): string {
  return createHash('sha256').update(text, 'utf8').digest('hex');
}

/** A member's hashed identifiers of the given types (`type:value` strings in), by type. */
export function hashedIdentifiers(identifiers: readonly string[], types: readonly string[]): Record<string, string[]> {
  const out: Record<string, string[]> = {};
  for (const typed of identifiers) {
    const colon = typed.indexOf(':');
    if (colon <= 0) continue;
    const type = typed.slice(0, colon);
    if (!types.includes(type)) continue;
    const normalised = normaliseIdentifier(type, typed.slice(colon + 1));
    if (normalised === undefined) continue;
    const hashes = (out[type] ??= []);
    const hash = sha256Hex(normalised);
    if (!hashes.includes(hash)) hashes.push(hash);
  }
  return out;
}

/**
 * A member's lines in the export's format. CSV has one column per identifier type (the header
 * is `csvHeader`) and as many rows as the member's most numerous type, each row the next value
 * of every type (empty when it has no more); a delta adds an `action` column (add, remove).
 * NDJSON has one object per member with each type's hashes in an array.
 */
export function memberLines(
  format: 'csv' | 'ndjson',
  hashed: Readonly<Record<string, readonly string[]>>,
  types: readonly string[],
  action: 'add' | 'remove' | undefined,
): string {
  if (format === 'ndjson') {
    const record: Record<string, unknown> = action === undefined ? {} : { action };
    for (const type of types) record[type] = hashed[type] ?? [];
    return `${JSON.stringify(record)}\n`;
  }
  const rows = Math.max(0, ...types.map((type) => hashed[type]?.length ?? 0));
  let out = '';
  for (let row = 0; row < rows; row++) {
    const cells = types.map((type) => hashed[type]?.[row] ?? '');
    if (action !== undefined) cells.push(action);
    out += `${cells.join(',')}\n`;
  }
  return out;
}

export function csvHeader(types: readonly string[], delta: boolean): string {
  return `${[...types, ...(delta ? ['action'] : [])].join(',')}\n`;
}
