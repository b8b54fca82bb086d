import { z } from 'zod';
import type { CountryCode } from 'libphonenumber-js';
import { getCountries } from 'libphonenumber-js';
import { builtInIdentifierTypes, identifierTypeName, type BuiltInIdentifierType } from '../../common/identifier-types';

/**
 * The identity rules, in one place: which identifier types exist, how strong each is
 * (priority: 1 is strongest) and how many of each one profile may hold (limit). Also the
 * values that are never identifiers and where customer/loyalty ids are found.
 *
 * Defaults follow DESIGN.md and issue 4; an operator overrides any part with a JSON file
 * (IDENTITY_RULES_FILE) of the same shape, checked by `identityRulesSchema` at start.
 *
 * Priority decides who wins a conflict: when an event's identifiers would join profiles
 * into one that breaks a limit, identifiers are taken strongest first and the weaker
 * conflicting ones are refused. Ties in priority are broken by type name, then value, so
 * the outcome never depends on the order identifiers were found in an event.
 */
export interface IdentifierTypeRule {
  /** Type name as it appears in records: lower-case letters, digits and `_`. */
  readonly name: string;
  /** 1 is the strongest; smaller numbers win conflicts. */
  readonly priority: number;
  /** Most identifiers of this type one profile may hold. */
  readonly limit: number;
}

export interface IdentityRules {
  readonly types: readonly IdentifierTypeRule[];
  /** Extra types found in `context.externalIds` that are not listed in `types` get this rule. */
  readonly unknownType: { readonly priority: number; readonly limit: number; readonly accept: boolean };
  /** Values never taken as identifiers (compared trimmed and lower-cased), on top of the built-in list. */
  readonly blockedValues: readonly string[];
  /** Region used to read phone numbers written without a country code (ISO 3166 alpha-2). */
  readonly phoneDefaultRegion: CountryCode;
  /** Trait names (in traits or context.traits) holding a customer or loyalty id. */
  readonly customerIdTraits: readonly string[];
  /** `context.externalIds[].type` (normalised) → identifier type, e.g. loyalty_id → customer_id. */
  readonly externalIdTypes: Readonly<Record<string, string>>;
}

/** Values producers send when they mean "no id"; never identifiers whatever the config says. */
export const builtInBlockedValues: readonly string[] = [
  '',
  'null',
  'undefined',
  'nil',
  'none',
  'nan',
  'anonymous',
  '0',
  '-1',
  '[object object]',
];

/** Priority and limit of each built-in type (DESIGN.md, "Identity resolution"). */
const builtInTypeRules: Readonly<Record<BuiltInIdentifierType, Omit<IdentifierTypeRule, 'name'>>> = {
  user_id: { priority: 1, limit: 1 },
  customer_id: { priority: 2, limit: 1 },
  email: { priority: 3, limit: 5 },
  phone: { priority: 4, limit: 5 },
  device_id: { priority: 5, limit: 20 },
  anonymous_id: { priority: 6, limit: 1000 },
};

export const defaultIdentityRules: IdentityRules = {
  types: builtInIdentifierTypes.map((name) => ({ name, ...builtInTypeRules[name] })),
  unknownType: { priority: 7, limit: 20, accept: true },
  blockedValues: [],
  phoneDefaultRegion: 'US',
  customerIdTraits: ['customerId', 'customer_id', 'loyaltyId', 'loyalty_id', 'loyaltyCardId', 'loyalty_card_id'],
  externalIdTypes: {
    customer_id: 'customer_id',
    customerid: 'customer_id',
    loyalty_id: 'customer_id',
    loyaltyid: 'customer_id',
    loyalty_card_id: 'customer_id',
    email: 'email',
    phone: 'phone',
    device_id: 'device_id',
    user_id: 'user_id',
    anonymous_id: 'anonymous_id',
  },
};

const typeName = z.string().regex(identifierTypeName, 'must be lower-case letters, digits and _ (max 40)');
const countries = new Set<string>(getCountries());

export const identityRulesSchema = z
  .object({
    types: z
      .array(
        z.object({ name: typeName, priority: z.number().int().min(1), limit: z.number().int().min(1).max(65_535) }),
      )
      .min(1)
      .optional(),
    unknownType: z
      .object({ priority: z.number().int().min(1), limit: z.number().int().min(1).max(65_535), accept: z.boolean() })
      .optional(),
    blockedValues: z.array(z.string()).optional(),
    phoneDefaultRegion: z
      .string()
      .refine((code) => countries.has(code), 'must be an ISO 3166 alpha-2 region libphonenumber knows, e.g. US, GB, JP')
      .optional(),
    customerIdTraits: z.array(z.string().min(1)).optional(),
    externalIdTypes: z.record(z.string(), typeName).optional(),
  })
  .strict();

export type IdentityRulesOverrides = z.input<typeof identityRulesSchema>;

/** Defaults with the given overrides laid over them; `types` entries replace defaults of the same name. */
export function resolveIdentityRules(overrides: IdentityRulesOverrides = {}): IdentityRules {
  const parsed = identityRulesSchema.parse(overrides);
  const types = new Map(defaultIdentityRules.types.map((rule) => [rule.name, rule]));
  for (const rule of parsed.types ?? []) types.set(rule.name, rule);
  const rules: IdentityRules = {
    types: [...types.values()],
    unknownType: parsed.unknownType ?? defaultIdentityRules.unknownType,
    blockedValues: parsed.blockedValues ?? defaultIdentityRules.blockedValues,
    phoneDefaultRegion:
      (parsed.phoneDefaultRegion as CountryCode | undefined) ?? defaultIdentityRules.phoneDefaultRegion,
    customerIdTraits: parsed.customerIdTraits ?? defaultIdentityRules.customerIdTraits,
    externalIdTypes: { ...defaultIdentityRules.externalIdTypes, ...(parsed.externalIdTypes ?? {}) },
  };
  if (rules.types.length > MAX_IDENTIFIER_TYPES)
    throw new Error(`at most ${MAX_IDENTIFIER_TYPES} identifier types are supported`);
  return Object.freeze(rules);
}

/**
 * Per-profile counts are kept in a fixed-stride typed array, so the number of distinct types
 * (configured plus those first seen in externalIds) is bounded. Identifiers of further
 * unknown types are ignored (and counted in a metric).
 */
export const MAX_IDENTIFIER_TYPES = 16;

/** Rule names written on links and changes, for `kumiki explain`. */
export const linkRules = {
  /** Identifiers that appear in the same event belong to the same person. */
  sameEvent: 'same-event',
  /** An alias call: previousId and userId are the same person. */
  alias: 'alias',
  /** A profile holding an identifier was merged into the surviving one. */
  merge: 'merge',
} as const;
