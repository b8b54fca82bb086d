import { parsePhoneNumberFromString, type CountryCode } from 'libphonenumber-js';
import { builtInBlockedValues, type IdentityRules } from './identity-rules';

/**
 * Normalisation turns what producers send into the one spelling the graph compares, or
 * `undefined` when the value is not an identifier at all. A blocked value ("null",
 * "anonymous", an all-zero id …) is the most common way two strangers get merged, so the
 * check runs on every identifier of every type, after trimming.
 */
export class IdentifierNormaliser {
  private readonly blocked: ReadonlySet<string>;
  private readonly region: CountryCode;

  constructor(rules: Pick<IdentityRules, 'blockedValues' | 'phoneDefaultRegion'>) {
    this.blocked = new Set(
      [...builtInBlockedValues, ...rules.blockedValues].map((value) => value.trim().toLowerCase()),
    );
    this.region = rules.phoneDefaultRegion;
  }

  /** True for values that must never be identifiers. `value` is already trimmed. */
  isBlocked(value: string): boolean {
    return this.blocked.has(value.toLowerCase()) || ALL_ZERO_OR_DASH.test(value);
  }

  /** Opaque ids (user, customer, device, anonymous, external): trimmed, case kept. */
  id(raw: unknown): string | undefined {
    const text = scalarText(raw);
    if (text === undefined) return undefined;
    const value = text.trim();
    if (value.length === 0 || value.length > MAX_LENGTH || this.isBlocked(value)) return undefined;
    return value;
  }

  /** Emails: trimmed and lower-cased; must look like local@domain.tld. */
  email(raw: unknown): string | undefined {
    if (typeof raw !== 'string') return undefined;
    const value = raw.trim().toLowerCase();
    if (value.length > MAX_LENGTH || !EMAIL.test(value) || this.isBlocked(value)) return undefined;
    return value;
  }

  /** Phones: E.164 (`+14155552671`), read with the default region when no country code is given. */
  phone(raw: unknown): string | undefined {
    const text = scalarText(raw);
    if (text === undefined) return undefined;
    const trimmed = text.trim();
    if (trimmed.length === 0 || trimmed.length > 64 || this.isBlocked(trimmed)) return undefined;
    const parsed = parsePhoneNumberFromString(trimmed, this.region);
    if (!parsed?.isValid()) return undefined;
    return parsed.number;
  }
}

const ALL_ZERO_OR_DASH = /^[0-]+$/;
// Deliberately loose: one @, something on each side, a dot in the domain, no spaces.
const EMAIL = /^[^\s@]+@[^\s@.]+(\.[^\s@.]+)+$/;
const MAX_LENGTH = 512;

function scalarText(raw: unknown): string | undefined {
  if (typeof raw === 'string') return raw;
  if (typeof raw === 'number' && Number.isFinite(raw)) return String(raw);
  if (typeof raw === 'bigint') return raw.toString();
  return undefined;
}
