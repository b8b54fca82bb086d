/**
 * What a key may do (scopes) and the built-in roles that bundle them — the one list.
 *
 * A route names exactly one scope (`requireScope`); `pii:read` is never a route's scope on its
 * own but decides whether identifiers and personal traits come back raw or pseudonymised.
 */
export const scopes = [
  'sql:read',
  'profile:read',
  'pii:read',
  'segment:read',
  'segment:write',
  'destination:read',
  'destination:write',
  'privacy:read',
  'privacy:write',
  'audit:read',
  'keys:write',
] as const;

export type Scope = (typeof scopes)[number];

export const roles = {
  admin: scopes,
  analyst: ['sql:read', 'profile:read', 'segment:read'],
  marketer: ['profile:read', 'segment:read', 'segment:write', 'destination:read', 'destination:write'],
  'privacy-officer': ['profile:read', 'pii:read', 'privacy:read', 'privacy:write', 'audit:read'],
} as const satisfies Record<string, readonly Scope[]>;

export type Role = keyof typeof roles;

export const roleNames = Object.keys(roles) as Role[];

export function isScope(value: unknown): value is Scope {
  return typeof value === 'string' && (scopes as readonly string[]).includes(value);
}

export function isRole(value: unknown): value is Role {
  return typeof value === 'string' && Object.hasOwn(roles, value);
}

export function scopesOf(role: Role): ReadonlySet<Scope> {
  return new Set(roles[role]);
}
