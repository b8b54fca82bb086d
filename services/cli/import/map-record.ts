import type { EventType } from '../../../schemas';
import type { RecordValue } from './read-records';
import { parseAmount, parseNumber } from './values/parse-amount';
import { isTimeZone, parseCalendarDate, parseDateTime } from './values/parse-date';
import type { Parsed } from './values/parsed';

/**
 * Turns one file record into a Segment message, by a mapping from kumiki fields to the
 * file's columns (`--map email=Email --map order_id=OrderNo`, or a mapping file).
 *
 * Targets: `userId`, `anonymousId`, `messageId`, `timestamp`, `type`, `event`;
 * `traits.<name>` and `properties.<name>`; and bare names as shortcuts — the Segment
 * e-commerce order fields (order_id, revenue, total, currency, products, …) are properties,
 * anything else is a trait (email, phone, first_name, loyalty_id …).
 *
 * A record with an order_id becomes a track `Order Completed` (the person's traits ride in
 * `context.traits`, where the identity stitcher reads them); any other record becomes an
 * identify. `--type` and `--event` override both. Empty cells count as absent.
 *
 * Values are read by type (values/): `timestamp` as a date-time, the order amounts as amounts
 * (¥1,200 and 1,200円 too), `quantity` as a number, anything else as text; a mapping file may
 * give any field a type (`{ "column": "生年月日", "type": "date" }`). A cell that cannot be read
 * as its type rejects the line with the reason, never becomes zero. Text is kept as written, in
 * Unicode NFC (the canonical composition every Japanese input method produces). An amount
 * written in yen sets the event's currency to JPY (and a currency column saying otherwise
 * rejects the line); `currency` is the currency of amounts written without one.
 */
export const topLevelTargets = ['userId', 'anonymousId', 'messageId', 'timestamp', 'type', 'event'] as const;
export const orderProperties = new Set([
  'order_id',
  'checkout_id',
  'revenue',
  'total',
  'subtotal',
  'tax',
  'shipping',
  'discount',
  'coupon',
  'currency',
  'products',
  'affiliation',
  'value',
]);
const amountProperties = new Set(['revenue', 'total', 'subtotal', 'tax', 'shipping', 'discount', 'value', 'price']);

export const valueTypes = ['text', 'number', 'amount', 'date', 'datetime'] as const;
/** How a cell is read: as text, a number, an amount (number or money), a calendar date (`YYYY-MM-DD`), a date-time. */
export type ValueType = (typeof valueTypes)[number];

export type Mapping = ReadonlyMap<string, string>;

export interface MapOptions {
  readonly type?: 'identify' | 'track';
  /** Event name of track records; default `Order Completed`. */
  readonly event?: string;
  /** Types of targets that do not take their default type. */
  readonly types?: ReadonlyMap<string, ValueType>;
  /** IANA time zone of date-times written without one; default UTC. */
  readonly timeZone?: string;
  /** ISO 4217 currency of amounts written without one. */
  readonly currency?: string;
}

/** Everything a mapping file says: columns, types, and the import's settings. */
export interface MappingFile {
  readonly mapping: Map<string, string>;
  readonly types: Map<string, ValueType>;
  readonly locale?: string;
  readonly timeZone?: string;
  readonly currency?: string;
}

/** Settings a locale implies when not given: `ja-JP` reads dates in Asia/Tokyo and amounts in JPY. */
export const localeDefaults: Readonly<Record<string, { timeZone: string; currency: string }>> = {
  'ja-JP': { timeZone: 'Asia/Tokyo', currency: 'JPY' },
};

/** The time zone and currency of an import: given ones first, then the locale's; checked. */
export function importSettings(given: {
  locale?: string | undefined;
  timeZone?: string | undefined;
  currency?: string | undefined;
}): { timeZone?: string; currency?: string } {
  let defaults: { timeZone?: string; currency?: string } = {};
  if (given.locale !== undefined) {
    const known = Object.keys(localeDefaults).find((name) => name.toLowerCase() === given.locale!.toLowerCase());
    if (known === undefined)
      throw new MappingError(`locale ${given.locale}: kumiki knows ${Object.keys(localeDefaults).join(', ')}`);
    defaults = localeDefaults[known]!;
  }
  const timeZone = given.timeZone ?? defaults.timeZone;
  const currency = given.currency ?? defaults.currency;
  if (timeZone !== undefined && !isTimeZone(timeZone))
    throw new MappingError(`time zone ${timeZone}: not an IANA time zone name such as Asia/Tokyo or UTC`);
  if (currency !== undefined && !/^[A-Za-z]{3}$/.test(currency))
    throw new MappingError(`currency ${currency}: must be a 3-letter ISO 4217 code such as JPY`);
  return {
    ...(timeZone !== undefined ? { timeZone } : {}),
    ...(currency !== undefined ? { currency: currency.toUpperCase() } : {}),
  };
}

export class MappingError extends Error {}

/** Parses `field=Column` pairs (later pairs win); throws MappingError naming the bad pair. */
export function parseMapPairs(pairs: readonly string[]): Map<string, string> {
  const mapping = new Map<string, string>();
  for (const pair of pairs) {
    const equals = pair.indexOf('=');
    if (equals <= 0 || equals === pair.length - 1)
      throw new MappingError(`--map ${pair}: expected field=Column, e.g. --map email=Email`);
    mapping.set(checkTarget(pair.slice(0, equals).trim()), pair.slice(equals + 1).trim());
  }
  return mapping;
}

/**
 * A mapping file: a JSON object from kumiki field to column, `{ "email": "Email", "order_id":
 * "OrderNo" }`, or, with settings, `{ "locale": "ja-JP", "timeZone": "Asia/Tokyo", "currency":
 * "JPY", "fields": { … } }`. A field's column may carry a type: `{ "column": "生年月日", "type": "date" }`.
 */
export function parseMappingFile(text: string, file: string): MappingFile {
  let json: unknown;
  try {
    json = JSON.parse(text);
  } catch (error) {
    throw new MappingError(`${file}: not JSON (${(error as Error).message})`);
  }
  if (!isObject(json)) throw new MappingError(`${file}: must be a JSON object from kumiki field to column name`);
  const withSettings = isObject(json.fields);
  const fields = withSettings ? (json.fields as Record<string, unknown>) : json;
  const settings: Record<string, string> = {};
  if (withSettings) {
    for (const [key, value] of Object.entries(json)) {
      if (key === 'fields') continue;
      if (!['locale', 'timeZone', 'currency'].includes(key))
        throw new MappingError(`${file}: ${key} is not a setting (locale, timeZone, currency, fields)`);
      if (typeof value !== 'string') throw new MappingError(`${file}: ${key} must be a string`);
      settings[key] = value;
    }
  }
  const mapping = new Map<string, string>();
  const types = new Map<string, ValueType>();
  for (const [target, spec] of Object.entries(fields)) {
    const column = typeof spec === 'string' ? spec : isObject(spec) ? spec.column : undefined;
    if (typeof column !== 'string' || column === '')
      throw new MappingError(`${file}: the column of ${target} must be a non-empty string`);
    mapping.set(checkTarget(target), column);
    if (isObject(spec) && spec.type !== undefined) {
      if (!(valueTypes as readonly unknown[]).includes(spec.type))
        throw new MappingError(`${file}: the type of ${target} must be one of ${valueTypes.join(', ')}`);
      types.set(target, spec.type as ValueType);
    }
  }
  return { mapping, types, ...settings };
}

function isObject(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

function checkTarget(target: string): string {
  if (!/^(?:(?:traits|properties)\.)?[A-Za-z_][A-Za-z0-9_]*$/.test(target)) {
    throw new MappingError(`${target}: a kumiki field is a name like email, order_id, traits.plan or properties.store`);
  }
  return target;
}

export type MappedRecord =
  | { ok: true; message: Record<string, unknown>; type: EventType }
  | { ok: false; field: string; reason: string };

export function mapRecord(
  values: Readonly<Record<string, RecordValue>>,
  mapping: Mapping | undefined,
  options: MapOptions = {},
): MappedRecord {
  const pairs: [string, RecordValue][] = mapping
    ? [...mapping].flatMap(([target, column]) =>
        column in values ? [[target, values[column]!] as [string, RecordValue]] : [],
      )
    : Object.entries(values);
  const top: Record<string, string> = {};
  // Without a prototype, a field named __proto__ is set like any other (JSON keeps it as a key).
  const traits: Record<string, unknown> = Object.create(null);
  const properties: Record<string, unknown> = Object.create(null);
  let yenField: string | undefined;
  let amounts = 0;
  for (const [target, raw] of pairs) {
    if (raw === '' || raw === null || raw === undefined) continue;
    const topLevel = (topLevelTargets as readonly string[]).includes(target);
    const [bucket, name, field] = topLevel
      ? [top, target, target]
      : target.startsWith('traits.')
        ? [traits, target.slice('traits.'.length), target]
        : target.startsWith('properties.')
          ? [properties, target.slice('properties.'.length), target]
          : orderProperties.has(target)
            ? [properties, target, `properties.${target}`]
            : [traits, target, `traits.${target}`];
    const type = options.types?.get(target) ?? defaultType(name, bucket === properties, topLevel);
    const value = readValue(raw, type, name, options.timeZone);
    if (!value.ok) return { ok: false, field, reason: value.reason };
    if (type === 'amount') {
      amounts += 1;
      if (value.value.yen) yenField ??= field;
    }
    if (topLevel) {
      const text = value.value.value;
      top[target] =
        typeof text === 'string' ? text.trim() : typeof text === 'number' ? String(text) : JSON.stringify(text);
    } else {
      const cell = value.value.value;
      // Properties are trimmed (ids, amounts); traits are kept as written.
      bucket[name] = bucket === properties && typeof cell === 'string' ? cell.trim() : cell;
    }
  }
  if (properties.currency !== undefined) properties.currency = currencyCode(properties.currency);
  if (yenField !== undefined) {
    if (properties.currency === undefined) properties.currency = 'JPY';
    else if (properties.currency !== 'JPY')
      return {
        ok: false,
        field: 'properties.currency',
        reason: `currency is ${JSON.stringify(properties.currency)}, but ${yenField} is written in yen`,
      };
  } else if (amounts > 0 && properties.currency === undefined && options.currency !== undefined)
    properties.currency = options.currency;
  const type =
    options.type ??
    (top.type === 'track' || top.type === 'identify' ? top.type : undefined) ??
    (properties.order_id !== undefined ? 'track' : 'identify');
  if (top.type !== undefined && top.type !== 'track' && top.type !== 'identify')
    return { ok: false, field: 'type', reason: `type must be identify or track, got ${JSON.stringify(top.type)}` };
  const message: Record<string, unknown> = {
    userId: top.userId,
    anonymousId: top.anonymousId,
    messageId: top.messageId,
    timestamp: top.timestamp,
    context: {
      library: { name: 'kumiki-import' },
      ...(type === 'track' && Object.keys(traits).length > 0 ? { traits } : {}),
    },
  };
  if (type === 'track') {
    message.event = top.event ?? options.event ?? 'Order Completed';
    message.properties = properties;
  } else message.traits = traits;
  return { ok: true, message, type };
}

function defaultType(name: string, isProperty: boolean, topLevel: boolean): ValueType {
  if (topLevel) return name === 'timestamp' ? 'datetime' : 'text';
  if (!isProperty) return 'text';
  return amountProperties.has(name) ? 'amount' : name === 'quantity' ? 'number' : 'text';
}

/** One cell as its type; `yen` says an amount was written in yen. */
function readValue(
  raw: RecordValue,
  type: ValueType,
  name: string,
  timeZone: string | undefined,
): Parsed<{ value: unknown; yen: boolean }> {
  if (typeof raw !== 'string') {
    if (type === 'text' || ((type === 'number' || type === 'amount') && typeof raw === 'number'))
      return { ok: true, value: { value: nfc(raw), yen: false } };
    return { ok: false, reason: `${JSON.stringify(raw)} is not ${type === 'datetime' ? 'a date-time' : `a ${type}`}` };
  }
  switch (type) {
    case 'text':
      if (name === 'products') return productsOf(raw.trim());
      return { ok: true, value: { value: raw.normalize('NFC'), yen: false } };
    case 'number': {
      const number = parseNumber(raw);
      return number.ok ? { ok: true, value: { value: number.value, yen: false } } : number;
    }
    case 'amount': {
      const amount = parseAmount(raw);
      return amount.ok ? { ok: true, value: amount.value } : amount;
    }
    case 'date': {
      const date = parseCalendarDate(raw);
      return date.ok ? { ok: true, value: { value: date.value, yen: false } } : date;
    }
    case 'datetime': {
      const ms = parseDateTime(raw, timeZone);
      return ms.ok ? { ok: true, value: { value: new Date(ms.value).toISOString(), yen: false } } : ms;
    }
  }
}

function productsOf(text: string): Parsed<{ value: unknown; yen: boolean }> {
  try {
    const parsed: unknown = JSON.parse(text);
    if (Array.isArray(parsed)) return { ok: true, value: { value: nfc(parsed as RecordValue), yen: false } };
  } catch {
    // reported below
  }
  return { ok: false, reason: 'products must be a JSON array of products' };
}

/** Currency cells as Japanese files write them: 円, ¥ or ￥ are JPY; codes are upper-cased. */
function currencyCode(value: unknown): unknown {
  if (typeof value !== 'string') return value;
  const text = value.normalize('NFKC').trim();
  if (/^(?:円|¥|\\|jpy)$/i.test(text)) return 'JPY';
  return /^[A-Za-z]{3}$/.test(text) ? text.toUpperCase() : text;
}

/** Strings in NFC, at any depth (NDJSON cells may be objects). */
function nfc(value: RecordValue): RecordValue {
  if (typeof value === 'string') return value.normalize('NFC');
  if (Array.isArray(value)) return value.map(nfc);
  if (value !== null && typeof value === 'object')
    return Object.fromEntries(Object.entries(value).map(([key, inner]) => [key.normalize('NFC'), nfc(inner)]));
  return value;
}
