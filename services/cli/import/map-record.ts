import type { EventType } from '../../../schemas';
import type { RecordValue } from './read-records';

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
const numericProperties = new Set([
  'revenue',
  'total',
  'subtotal',
  'tax',
  'shipping',
  'discount',
  'value',
  'price',
  'quantity',
]);

export type Mapping = ReadonlyMap<string, string>;

export interface MapOptions {
  readonly type?: 'identify' | 'track';
  /** Event name of track records; default `Order Completed`. */
  readonly event?: string;
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

/** A mapping file: a JSON object from kumiki field to column, `{ "email": "Email", "order_id": "OrderNo" }`. */
export function parseMappingFile(text: string, file: string): Map<string, string> {
  let json: unknown;
  try {
    json = JSON.parse(text);
  } catch (error) {
    throw new MappingError(`${file}: not JSON (${(error as Error).message})`);
  }
  if (typeof json !== 'object' || json === null || Array.isArray(json))
    throw new MappingError(`${file}: must be a JSON object from kumiki field to column name`);
  const mapping = new Map<string, string>();
  for (const [target, column] of Object.entries(json)) {
    if (typeof column !== 'string' || column === '')
      throw new MappingError(`${file}: the column of ${target} must be a non-empty string`);
    mapping.set(checkTarget(target), column);
  }
  return mapping;
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
  const traits: Record<string, unknown> = {};
  const properties: Record<string, unknown> = {};
  for (const [target, raw] of pairs) {
    if (raw === '' || raw === null || raw === undefined) continue;
    if ((topLevelTargets as readonly string[]).includes(target)) {
      top[target] = typeof raw === 'string' ? raw.trim() : typeof raw === 'number' ? String(raw) : JSON.stringify(raw);
      continue;
    }
    const [bucket, name] = target.startsWith('traits.')
      ? [traits, target.slice('traits.'.length)]
      : target.startsWith('properties.')
        ? [properties, target.slice('properties.'.length)]
        : orderProperties.has(target)
          ? [properties, target]
          : [traits, target];
    if (bucket === properties) {
      const value = propertyValue(name, raw);
      if (value.ok === false) return { ok: false, field: `properties.${name}`, reason: value.reason };
      bucket[name] = value.value;
    } else bucket[name] = raw;
  }
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

function propertyValue(name: string, raw: RecordValue): { ok: true; value: unknown } | { ok: false; reason: string } {
  if (typeof raw !== 'string') return { ok: true, value: raw };
  const text = raw.trim();
  if (name === 'products') {
    try {
      const parsed: unknown = JSON.parse(text);
      if (Array.isArray(parsed)) return { ok: true, value: parsed };
    } catch {
      // reported below
    }
    return { ok: false, reason: 'products must be a JSON array of products' };
  }
  if (numericProperties.has(name)) {
    const number = Number(text.replace(/^(-?\d{1,3}(?:,\d{3})+(?:\.\d+)?)$/, (m) => m.replace(/,/g, '')));
    if (text === '' || !Number.isFinite(number))
      return { ok: false, reason: `${name} must be a number, got ${JSON.stringify(text.slice(0, 40))}` };
    return { ok: true, value: number };
  }
  return { ok: true, value: text };
}
