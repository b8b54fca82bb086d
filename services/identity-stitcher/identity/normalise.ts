import { parsePhoneNumberFromString, type CountryCode } from 'libphonenumber-js';
import { foldIdentifierText } from '../../common/identifier-text';
import { builtInBlockedValues, type IdentityRules } from './identity-rules';

/**
 * Normalisation turns what producers send into the one spelling the graph compares, or
 * `undefined` when the value is not an identifier at all. Every type is first folded by
 * `foldIdentifierText` (NFKC, invisible characters removed, trimmed), so a full-width
 * `ｔａｒｏ＠ｅｘａｍｐｌｅ．ｃｏｍ` typed at a Japanese till and `Taro@Example.com ` from the web are one
 * email, and `ＬＰ－００１２` is the loyalty id `LP-0012`. A blocked value ("null", "anonymous",
 * an all-zero id …) is the most common way two strangers get merged, so the check runs on
 * every identifier of every type, after folding.
 */
export class IdentifierNormaliser {
  private readonly blocked: ReadonlySet<string>;
  private readonly region: CountryCode;

  constructor(rules: Pick<IdentityRules, 'blockedValues' | 'phoneDefaultRegion'>) {
    this.blocked = new Set(
      [...builtInBlockedValues, ...rules.blockedValues].map((value) => foldIdentifierText(value).toLowerCase()),
    );
    this.region = rules.phoneDefaultRegion;
  }

  /** True for values that must never be identifiers. `value` is already trimmed. */
  isBlocked(value: string): boolean {
    return this.blocked.has(value.toLowerCase()) || ALL_ZERO_OR_DASH.test(value);
  }

  /** The spelling of a value of identifier type `type`: email and phone by their rules, any other type as an id. */
  spell(type: string, raw: unknown): string | undefined {
    return type === 'email' ? this.email(raw) : type === 'phone' ? this.phone(raw) : this.id(raw);
  }

  /** Opaque ids (user, customer, device, anonymous, external): folded, case kept. */
  id(raw: unknown): string | undefined {
    const text = scalarText(raw);
    if (text === undefined) return undefined;
    const value = foldIdentifierText(text);
    if (value.length === 0 || value.length > MAX_LENGTH || this.isBlocked(value)) return undefined;
    return value;
  }

  /** Emails: folded and lower-cased; must look like local@domain.tld. */
  email(raw: unknown): string | undefined {
    if (typeof raw !== 'string') return undefined;
    const value = foldIdentifierText(raw).toLowerCase();
    if (value.length > MAX_LENGTH || !EMAIL.test(value) || this.isBlocked(value)) return undefined;
    return value;
  }

  /** Phones: E.164 (`+14155552671`), read with the default region when no country code is given. */
  phone(raw: unknown): string | undefined {
    const text = scalarText(raw);
    if (text === undefined) return undefined;
    const trimmed = foldIdentifierText(text);
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
