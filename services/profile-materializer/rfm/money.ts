/**
 * Money without floating point.
 *
 * Amounts are carried as integer micro-units (1e-6 of the currency) from the moment they are
 * read out of an event; rates to the reporting currency are integer micro-units too. A
 * converted amount is `micros * rateMicros`, an integer in units of 1e-12 of the reporting
 * currency, so sums are exact and independent of the order they are added in. Only the final
 * per-profile figure is rounded, to cents, half away from zero. ClickHouse does the same with
 * Int64/Int128 arithmetic (see rfm.query.ts), which is why the two always agree to the cent.
 */

/** 1e-12 units of the reporting currency per cent. */
export const UNITS_PER_CENT = 10_000_000_000n;
export const MICROS = 1_000_000n;

const decimalPattern = /^([+-])?(\d+)(?:\.(\d*))?$/;

/**
 * An amount (number or numeric string) as integer micro-units; null when it is not a finite
 * decimal. Numbers are read through their shortest decimal form (`19.99`, not 19.9899999…);
 * digits beyond the sixth decimal are rounded half away from zero. Exponent notation is
 * expanded first, so `1e3` is 1000.
 */
export function toMicros(value: unknown): bigint | null {
  let text: string;
  if (typeof value === 'number') {
    if (!Number.isFinite(value)) return null;
    text = expandExponent(String(value));
  } else if (typeof value === 'string') {
    const trimmed = value.trim();
    if (!/^[+-]?(\d+\.?\d*|\.\d+)(e[+-]?\d+)?$/i.test(trimmed)) return null;
    const withLeadingZero = trimmed.replace(/^([+-]?)\./, '$10.');
    text = expandExponent(withLeadingZero);
  } else {
    return null;
  }
  const match = decimalPattern.exec(text);
  if (!match) return null;
  const negative = match[1] === '-';
  const whole = BigInt(match[2]!);
  const fraction = (match[3] ?? '').padEnd(7, '0');
  let micros = whole * MICROS + BigInt(fraction.slice(0, 6));
  // Half away from zero on the seventh decimal; the rest cannot change the outcome unless it
  // is exactly 5 followed by zeros, which rounds away from zero as well.
  if (Number(fraction[6]) >= 5) micros += 1n;
  return negative ? -micros : micros;
}

/** `1.5e-7` → `0.00000015`, `2E3` → `2000`; plain decimals pass through. */
function expandExponent(text: string): string {
  const match = /^([+-]?)(\d*)(?:\.(\d*))?e([+-]?\d+)$/i.exec(text);
  if (!match) return text;
  const sign = match[1] ?? '';
  const digits = `${match[2] ?? ''}${match[3] ?? ''}`;
  const pointAt = (match[2] ?? '').length + Number(match[4]);
  if (pointAt <= 0) return `${sign}0.${'0'.repeat(-pointAt)}${digits}`;
  if (pointAt >= digits.length) return `${sign}${digits}${'0'.repeat(pointAt - digits.length)}`;
  return `${sign}${digits.slice(0, pointAt)}.${digits.slice(pointAt)}`;
}

/** Micro-units as a plain decimal string (`19990000n` → `19.99`), for Decimal columns. */
export function microsToDecimalString(micros: bigint): string {
  const negative = micros < 0n;
  const abs = negative ? -micros : micros;
  const whole = abs / MICROS;
  const fraction = (abs % MICROS).toString().padStart(6, '0').replace(/0+$/, '');
  return `${negative ? '-' : ''}${whole}${fraction ? `.${fraction}` : ''}`;
}

/** Integer division rounding half away from zero (divisor > 0). */
export function divRoundHalfAway(value: bigint, divisor: bigint): bigint {
  const half = divisor / 2n;
  return value >= 0n ? (value + half) / divisor : -((-value + half) / divisor);
}

/** 1e-12 units → whole cents, half away from zero. */
export function unitsToCents(units: bigint): bigint {
  return divRoundHalfAway(units, UNITS_PER_CENT);
}

/** Cents → the number shown to users and published (`12345n` → 123.45). */
export function centsToAmount(cents: bigint): number {
  return Number(cents) / 100;
}

/**
 * Parses a rate table `EUR=1.08,JPY=0.0067` (1 unit of the currency = that many units of the
 * reporting currency) into micro-units per currency code (upper-cased). The reporting currency
 * itself is always 1.
 */
export function parseRates(text: string, reportingCurrency: string): Map<string, bigint> {
  const rates = new Map<string, bigint>([[normaliseCurrency(reportingCurrency)!, MICROS]]);
  for (const part of text
    .split(',')
    .map((p) => p.trim())
    .filter(Boolean)) {
    const [code, rate, ...rest] = part.split('=');
    const currency = normaliseCurrency(code);
    const micros = toMicros(rate);
    if (rest.length > 0 || !currency || micros === null || micros <= 0n) {
      throw new RangeError(`bad currency rate ${JSON.stringify(part)}: expected CODE=positive decimal, e.g. EUR=1.08`);
    }
    rates.set(currency, micros);
  }
  return rates;
}

/** Currency codes are compared trimmed and upper-cased; '' and non-strings mean "none given". */
export function normaliseCurrency(value: unknown): string | null {
  if (typeof value !== 'string') return null;
  const code = value.trim().toUpperCase();
  return code === '' ? null : code;
}
