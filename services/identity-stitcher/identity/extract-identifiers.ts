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
export function extractIdentifiers(source: IdentitySource, rules: IdentityRules, normalise: IdentifierNormaliser): Extraction {
  const found: FoundIdentifier[] = [];
  add(found, 'user_id', normalise.id(source.userId));
  add(found, 'anonymous_id', normalise.id(source.anonymousId));
  add(found, 'device_id', normalise.id(record(source.context.device)?.id));

  const traitSources = [source.type === 'group' ? undefined : source.traits, record(source.context.traits)];
  for (const traits of traitSources) {
    if (!traits) continue;
    add(found, 'email', normalise.email(traits.email));
    add(found, 'phone', normalise.phone(traits.phone));
    for (const name of rules.customerIdTraits) add(found, 'customer_id', normalise.id(traits[name]));
  }

  if (source.context.externalIds !== undefined) {
    for (const external of externalIds(source.context.externalIds)) {
      const type = rules.externalIdTypes[external.type] ?? external.type;
      if (type === 'email') add(found, type, normalise.email(external.id));
      else if (type === 'phone') add(found, type, normalise.phone(external.id));
      else add(found, type, normalise.id(external.id));
    }
  }

  const previousId = source.type === 'alias' ? normalise.id(source.previousId) : undefined;
  return { identifiers: found, previousId };
}

/**
 * Appends the identifier unless it is already there. A linear scan: an event carries a
 * handful of identifiers, and this runs for every event, where a Map and a key string per
 * identifier cost more than the comparisons.
 */
function add(found: FoundIdentifier[], type: string, value: string | undefined): void {
  if (value === undefined) return;
  for (const known of found) if (known.value === value && known.type === type) return;
  found.push({ type, value });
}

function record(value: unknown): Record<string, unknown> | undefined {
  return value !== null && typeof value === 'object' && !Array.isArray(value) ? (value as Record<string, unknown>) : undefined;
}

/** `externalIds` entries with a usable type name (snake_case, lower-case). */
function externalIds(raw: unknown): { type: string; id: unknown }[] {
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
