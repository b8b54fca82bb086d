import type { EventType } from '../../../schemas';
import type { IdentityRules } from './identity-rules';
import type { IdentifierNormaliser } from './normalise';

/** A normalised identifier: `type` is a rule name, `value` is in its one spelling. */
export interface FoundIdentifier {
  readonly type: string;
  readonly value: string;
}

/** The parts of an event identity comes from (context and traits already parsed from JSON). */
export interface IdentitySource {
  readonly type: EventType;
  readonly userId: string | null;
  readonly anonymousId: string | null;
  readonly previousId: string | null;
  readonly context: Readonly<Record<string, unknown>>;
  readonly traits: Readonly<Record<string, unknown>>;
}

export interface Extraction {
  /** Distinct identifiers, in the order found. */
  readonly identifiers: FoundIdentifier[];
  /**
   * `previousId` of an alias call, normalised. Its type (an earlier user_id, or an
   * anonymous_id) depends on what the graph already knows, so the graph decides.
   */
  readonly previousId: string | undefined;
}

/**
 * Where identifiers come from (Segment spec):
 * - userId → user_id, anonymousId → anonymous_id, context.device.id → device_id
 * - email / phone / customer-or-loyalty id from traits (not on group calls, whose traits
 *   describe the account) and from context.traits
 * - context.externalIds: `[{ id, type }]` (Segment) or `{ type: id }`; known types map
 *   through `externalIdTypes`, others become their own type
 */
export function extractIdentifiers(
  source: IdentitySource,
  rules: IdentityRules,
  normalise: IdentifierNormaliser,
): Extraction {
  const found = new DistinctIdentifiers();
  found.add('user_id', normalise.id(source.userId));
  found.add('anonymous_id', normalise.id(source.anonymousId));
  found.add('device_id', normalise.id(record(source.context.device)?.id));

  const traitSources = [source.type === 'group' ? undefined : source.traits, record(source.context.traits)];
  for (const traits of traitSources) {
    if (!traits) continue;
    found.add('email', normalise.email(traits.email));
    found.add('phone', normalise.phone(traits.phone));
    for (const name of rules.customerIdTraits) found.add('customer_id', normalise.id(traits[name]));
  }

  for (const external of externalIds(source.context.externalIds)) {
    const type = rules.externalIdTypes[external.type] ?? external.type;
    found.add(type, normalise.spell(type, external.id));
  }

  const previousId = source.type === 'alias' ? normalise.id(source.previousId) : undefined;
  return { identifiers: found.list, previousId };
}

/**
 * Identifiers in the order found, each once. An event carries a handful, and this runs for
 * every event: a linear scan costs less than a Map and a key string per identifier. An event
 * crafted with thousands (direct Kafka producers are not held to the collector's 32 KB) gets a
 * Set once it holds more than a few, so it cannot cost quadratic time.
 */
class DistinctIdentifiers {
  readonly list: FoundIdentifier[] = [];
  private keys: Set<string> | undefined;

  add(type: string, value: string | undefined): void {
    if (value === undefined) return;
    if (this.keys === undefined && this.list.length < LINEAR_SCAN_LIMIT) {
      for (const known of this.list) if (known.value === value && known.type === type) return;
    } else {
      this.keys ??= new Set(this.list.map((known) => keyOf(known.type, known.value)));
      const key = keyOf(type, value);
      if (this.keys.has(key)) return;
      this.keys.add(key);
    }
    this.list.push({ type, value });
  }
}

const LINEAR_SCAN_LIMIT = 16;

function keyOf(type: string, value: string): string {
  return `${type}:${value}`;
}

function record(value: unknown): Record<string, unknown> | undefined {
  return value !== null && typeof value === 'object' && !Array.isArray(value)
    ? (value as Record<string, unknown>)
    : undefined;
}

const NO_EXTERNAL_IDS: readonly { type: string; id: unknown }[] = Object.freeze([]);

/** `externalIds` entries with a usable type name (snake_case, lower-case). */
function externalIds(raw: unknown): readonly { type: string; id: unknown }[] {
  // Most events have none: no arrays to build for them.
  if (raw === undefined || raw === null) return NO_EXTERNAL_IDS;
  const entries: { type: unknown; id: unknown }[] = Array.isArray(raw)
    ? raw.map((item) => ({ type: record(item)?.type, id: record(item)?.id }))
    : Object.entries(record(raw) ?? {}).map(([type, id]) => ({ type, id }));
  const out: { type: string; id: unknown }[] = [];
  for (const entry of entries) {
    if (typeof entry.type !== 'string') continue;
    const type = externalTypeName(entry.type);
    if (type) out.push({ type, id: entry.id });
  }
  return out;
}

/** `loyaltyId`, `Loyalty ID`, `loyalty-id` → `loyalty_id`; undefined when nothing usable is left. */
export function externalTypeName(raw: string): string | undefined {
  const name = raw
    .trim()
    .replace(/([a-z0-9])([A-Z])/g, '$1_$2')
    .toLowerCase()
    .replace(/[^a-z0-9]+/g, '_')
    .replace(/^_+|_+$/g, '');
  if (!/^[a-z][a-z0-9_]{0,39}$/.test(name)) return undefined;
  return name;
}
