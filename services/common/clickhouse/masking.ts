import { createHmac } from 'node:crypto';
import type { ClickHouse } from './client-factory';
import { quoteIdentifier } from './sql-text';

/**
 * The masked database (`masked_<database>`): the public tables as SQL SECURITY DEFINER views in
 * which every identifier value and every personal trait is a pseudonym, `pii_` and 24 hex digits
 * of sipHash128Keyed with the PII key. The same value always gives the same pseudonym, in every
 * view and whether it is an identifier or a trait's string, so analysts can still count and join; without the key it cannot be reversed or tested.
 * The key sits in `<database>.masking_key`, which the views read as their definer and masked
 * sessions cannot read at all.
 *
 * JSON text columns (traits, properties, context) are rewritten key by key, to a depth of three
 * objects or arrays: a key on the personal list gets its value pseudonymised, and so does any
 * string value that holds an email address, whatever its key (a URL or path with one in it too);
 * deeper nesting is dropped.
 */
export const defaultPersonalKeys: readonly string[] = [
  'email',
  'phone',
  'phone_number',
  'phoneNumber',
  'mobile',
  'name',
  'full_name',
  'fullName',
  'first_name',
  'firstName',
  'last_name',
  'lastName',
  'username',
  'address',
  'postal_code',
  'postalCode',
  'zip',
  'birthday',
  'birthdate',
  'user_id',
  'userId',
  'anonymous_id',
  'anonymousId',
  'device_id',
  'deviceId',
  'customer_id',
  'ip',
  // Segment's context.device: its id and advertisingId identify a person's phone.
  'device',
];

export function maskedDatabaseOf(database: string): string {
  return `masked_${database}`;
}

/** A JSON string holding an email address anywhere (`"ann@x.io"`, `"/account/ann@x.io/orders"`). */
const emailPattern = String.raw`'^".*[^"@\s/?&=]+@[^"@\s/?&=]+\.[^"@\s/?&=]+.*"$'`;
/** The same in plain text (a page path). */
const emailInText = String.raw`'[^@\s/?&=]+@[^@\s/?&=]+\.[^@\s/?&=]+'`;

function pseudonym(value: string): string {
  return `concat('pii_', substring(lower(hex(sipHash128Keyed(__pii_key, ${value}))), 1, 24))`;
}

function sqlString(text: string): string {
  return `'${text.replace(/\\/g, '\\\\').replace(/'/g, "\\'")}'`;
}

/** A masked JSON value (raw JSON text in, raw JSON text out). */
function maskValue(raw: string, key: string | undefined, depth: number, personal: string): string {
  const branches: string[] = [];
  // A string is hashed as its text, as identifier values are, so a personal trait and the same
  // identifier get the same pseudonym; other JSON (numbers, objects) as its JSON text.
  if (key !== undefined)
    branches.push(
      `lower(${key}) IN ${personal}`,
      `toJSONString(${pseudonym(`if(startsWith(${raw}, '"'), JSONExtractString(${raw}), ${raw})`)})`,
    );
  branches.push(
    `startsWith(${raw}, '{')`,
    maskObject(raw, depth - 1, personal),
    `startsWith(${raw}, '[')`,
    maskArray(raw, depth - 1, personal),
    `match(${raw}, ${emailPattern})`,
    `toJSONString(${pseudonym(`JSONExtractString(${raw})`)})`,
    raw,
  );
  return `multiIf(${branches.join(', ')})`;
}

function maskObject(json: string, depth: number, personal: string): string {
  if (depth <= 0) return `'{}'`;
  const p = `__o${depth}`;
  return `concat('{', arrayStringConcat(arrayMap(${p} -> concat(toJSONString(${p}.1), ':', ${maskValue(`${p}.2`, `${p}.1`, depth, personal)}), JSONExtractKeysAndValuesRaw(${json})), ','), '}')`;
}

function maskArray(json: string, depth: number, personal: string): string {
  if (depth <= 0) return `'[]'`;
  const x = `__a${depth}`;
  return `concat('[', arrayStringConcat(arrayMap(${x} -> ${maskValue(x, undefined, depth, personal)}, JSONExtractArrayRaw(${json})), ','), ']')`;
}

/** A JSON object text column, masked. */
export function maskedJson(column: string, personalKeys: readonly string[]): string {
  const personal = `(${personalKeys.map((k) => sqlString(k.toLowerCase())).join(', ')})`;
  return `if(isValidJSON(${column}), ${maskObject(column, 3, personal)}, ${pseudonym(column)})`;
}

/** The two 64-bit halves of the pseudonym key, derived from the PII key. */
export function pseudonymKey(piiKey: Buffer): [string, string] {
  const derived = createHmac('sha256', piiKey).update('kumiki clickhouse pseudonyms').digest();
  return [derived.readBigUInt64BE(0).toString(), derived.readBigUInt64BE(8).toString()];
}

/**
 * Creates (or replaces) the masked database's views and writes the key. Idempotent; run at every
 * start after the migrations, since the personal keys are configuration.
 */
export async function applyMasking(
  ch: ClickHouse,
  options: { readonly piiKey: Buffer; readonly personalKeys: readonly string[] },
): Promise<void> {
  const raw = quoteIdentifier(ch.database);
  const masked = quoteIdentifier(maskedDatabaseOf(ch.database));
  const [k0, k1] = pseudonymKey(options.piiKey);
  await ch.command(
    `CREATE TABLE IF NOT EXISTS ${raw}.masking_key (id UInt8, k0 UInt64, k1 UInt64) ENGINE = ReplacingMergeTree ORDER BY id`,
  );
  await ch.command(`INSERT INTO ${raw}.masking_key SELECT 0, {k0:UInt64}, {k1:UInt64}`, { k0, k1 });
  await ch.command(`OPTIMIZE TABLE ${raw}.masking_key FINAL`);
  await ch.command(`CREATE DATABASE IF NOT EXISTS ${masked}`);
  const json = (c: string) => maskedJson(c, options.personalKeys);
  const views: Record<string, string> = {
    // A page path can carry an address (`/account/ann@x.io`): such a path becomes a pseudonym whole.
    events: `* REPLACE (${pseudonym('user_id')} AS user_id, ${pseudonym('anonymous_id')} AS anonymous_id, ${pseudonym('device_id')} AS device_id, if(match(page_path, ${emailInText}), ${pseudonym('page_path')}, page_path) AS page_path, ${json('properties')} AS properties, ${json('traits')} AS traits, ${json('context')} AS context)`,
    identities: `* REPLACE (${pseudonym('identifier_value')} AS identifier_value)`,
    identity_links: `* REPLACE (${pseudonym('identifier_value')} AS identifier_value)`,
    // search_text folds every trait value for search: not pseudonymisable piecewise, so left out.
    profiles: `* EXCEPT (search_text) REPLACE (${json('traits')} AS traits, arrayMap(__i -> concat(splitByChar(':', __i)[1], ':', ${pseudonym("substring(__i, position(__i, ':') + 1)")}), identifiers) AS identifiers)`,
    profile_aliases: '*',
    profile_activity: '*',
    rfm: '*',
    predictions: '*',
    segments: '*',
    segment_members: '*',
  };
  for (const [view, select] of Object.entries(views)) {
    await ch.command(
      `CREATE OR REPLACE VIEW ${masked}.${quoteIdentifier(view)} SQL SECURITY DEFINER AS
       WITH (SELECT (k0, k1) FROM ${raw}.masking_key FINAL LIMIT 1) AS __pii_key
       SELECT ${select} FROM ${raw}.${quoteIdentifier(view)}`,
    );
  }
}
