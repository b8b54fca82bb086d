import type { Parsed } from './parsed';

/**
 * Numbers and money as files write them, Japanese ones included. The text is NFKC-folded first
 * (full-width digits, `，` and `．`, `￥` → `¥`) and spaces are ignored. Then:
 * - digits with an optional fraction (`.`), thousands grouped by `,` only in threes (`1,200`,
 *   `1,234,567.5`; `1,20` is refused: it is not clear what it means);
 * - a sign: `-`, `−`, `+`, or the Japanese accounting marks `△` and `▲` for negative, or
 *   accounting brackets `(1,200)`;
 * - for amounts, the yen: `¥` or `\` before the number (CP932 files store the yen sign as the
 *   backslash byte, which Japanese Windows displays as ¥), `円` or `JPY` after it (or `JPY`
 *   before it). An amount written in yen says so (`yen: true`): the import sets its currency.
 */
export interface Amount {
  readonly value: number;
  /** Written with ¥, \, 円 or JPY. */
  readonly yen: boolean;
}

export function parseAmount(raw: string): Parsed<Amount> {
  return readNumber(raw, true);
}

/** A plain number (no currency marks). */
export function parseNumber(raw: string): Parsed<number> {
  const read = readNumber(raw, false);
  return read.ok ? { ok: true, value: read.value.value } : read;
}

const PRINTABLE_ASCII = /^[\x20-\x7e]*$/;
const NUMBER = /^(?:\d{1,3}(?:,\d{3})+|\d+)?(?:\.\d+)?(?:e[+-]?\d+)?$/i;

function readNumber(raw: string, money: boolean): Parsed<Amount> {
  let text = (PRINTABLE_ASCII.test(raw) ? raw : raw.normalize('NFKC')).replace(/\s+/g, '');
  let negative = false;
  let yen = false;
  const bracketed = /^\((.+)\)$/.exec(text);
  if (bracketed) {
    negative = true;
    text = bracketed[1]!;
  }
  let signs = 0;
  for (;;) {
    const sign = /^[-−+△▲]/.exec(text)?.[0];
    const yenMark = money ? /^(?:[¥\\]|JPY)/i.exec(text)?.[0] : undefined;
    if (sign !== undefined) {
      signs += 1;
      if (sign !== '+') negative = !negative;
      text = text.slice(sign.length);
    } else if (yenMark !== undefined && !yen) {
      yen = true;
      text = text.slice(yenMark.length);
    } else break;
  }
  if (money && !yen) {
    const suffix = /(?:円|JPY)$/i.exec(text)?.[0];
    if (suffix !== undefined) {
      yen = true;
      text = text.slice(0, -suffix.length);
    }
  }
  if (signs > 1 || (bracketed && signs > 0) || !/\d/.test(text) || !NUMBER.test(text)) {
    const kind = money ? 'an amount (e.g. 1200, 1,200.50, ¥1,200, 1,200円)' : 'a number';
    return { ok: false, reason: `${JSON.stringify(raw.slice(0, 40))} is not ${kind}` };
  }
  const value = Number(text.replace(/,/g, ''));
  return { ok: true, value: { value: negative && value !== 0 ? -value : value, yen } };
}
