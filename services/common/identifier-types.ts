/**
 * The identifier types every installation has (DESIGN.md, "Identity resolution"), by name.
 * The identity rules (identity-stitcher) give each its priority and limit and may add more;
 * other services need only the names, e.g. to refuse a privacy request for a type that cannot exist.
 */
export const builtInIdentifierTypes = [
  'user_id',
  'customer_id',
  'email',
  'phone',
  'device_id',
  'anonymous_id',
] as const;

export type BuiltInIdentifierType = (typeof builtInIdentifierTypes)[number];

/** What an identifier type name may look like: lower-case letters, digits and `_`, at most 40. */
export const identifierTypeName = /^[a-z][a-z0-9_]{0,39}$/;
