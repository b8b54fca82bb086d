import { FixedOffsetZone, IANAZone, type Zone } from 'luxon';
import { eraNamed, eraNamePattern, gregorianAdoption, type JapaneseEra } from './japanese-eras';
import type { Parsed } from './parsed';

/**
 * Dates and date-times as files write them, Japanese ones included. The text is NFKC-folded
 * first (full-width digits and separators, `㋿` → 令和), and a weekday in brackets, `(水)` or
 * `（水曜日）`, is ignored. Accepted, year first only (`03/02/2024` is ambiguous and refused):
 *
 * | form | examples |
 * |---|---|
 * | ISO-8601 | `2024-05-01`, `2024-05-01T10:30:00+09:00`, `2024-05-01 10:30Z` |
 * | slashes or dots | `2024/5/1`, `2024/05/01 10:30`, `2024.5.1 9:05:30` |
 * | 年月日 | `2024年5月1日`, `2024年5月1日 10時30分`, `2024年5月1日(水) 午後3時` |
 * | compact | `20240501`, `20240501103000` |
 * | Japanese eras | `令和6年5月1日`, `令和元年5月1日`, `R6.5.1`, `H31/4/30`, `平31.4.30`, `昭和64年1月7日` |
 *
 * Eras: 明治 (from 1873, when Japan took the Gregorian calendar), 大正, 昭和, 平成, 令和, by name,
 * Latin letter (M T S H R, either case) or first kanji; 元年 is year 1. A date before its era
 * began (`令和元年4月30日`) is refused; a date after the next era began is read by arithmetic
 * (`平成31年5月1日` is 2019-05-01), as forms printed before an era change keep being filled in.
 *
 * Times: `H:MM`, `H:MM:SS(.fff)`, `H時M分S秒`, with `午前`/`午後`. A time zone written in the value
 * (`Z`, `+09:00`, `+0900`, `JST`, `UTC`) wins; otherwise the import's time zone applies
 * (`--time-zone`, default Asia/Tokyo with `--locale ja-JP`), otherwise UTC.
 */
export interface CalendarDate {
  readonly year: number;
  readonly month: number;
  readonly day: number;
}

interface DateTimeParts extends CalendarDate {
  readonly hour: number;
  readonly minute: number;
  readonly second: number;
  readonly millisecond: number;
  /** Zone written in the value, if any. */
  readonly zone: Zone | undefined;
}

/** Epoch ms of a date or date-time; `timeZone` (IANA) applies when the value names none. */
export function parseDateTime(raw: string, timeZone?: string): Parsed<number> {
  const parts = dateTimeParts(raw);
  if (!parts.ok) return parts;
  const p = parts.value;
  const invalid = invalidField(p);
  if (invalid !== undefined) return { ok: false, reason: `${quote(raw)} is not a real date or time (${invalid})` };
  const zone = p.zone ?? (timeZone === undefined ? FixedOffsetZone.utcInstance : IANAZone.create(timeZone));
  return { ok: true, value: instantOf(wallClockMs(p), zone) };
}

/** The calendar date written in the value (`YYYY-MM-DD`); a time, if written, is ignored. */
export function parseCalendarDate(raw: string): Parsed<string> {
  const parts = dateTimeParts(raw);
  if (!parts.ok) return parts;
  const { year, month, day } = parts.value;
  return { ok: true, value: `${String(year).padStart(4, '0')}-${pad(month)}-${pad(day)}` };
}

/** True for an IANA time zone name luxon knows (`Asia/Tokyo`, `UTC`). */
export function isTimeZone(name: string): boolean {
  return IANAZone.isValidZone(name);
}

const ERA_DATE = new RegExp(
  `^(${eraNamePattern})\\s?(元|\\d{1,2})(?:年(\\d{1,2})月(\\d{1,2})日|([./-])(\\d{1,2})\\5(\\d{1,2})(?!\\d))`,
  'i',
);
const KANJI_DATE = /^(\d{4})年(\d{1,2})月(\d{1,2})日/;
const PUNCTUATED_DATE = /^(\d{4})([./-])(\d{1,2})\2(\d{1,2})(?!\d)/;
const COMPACT = /^(\d{4})(\d{2})(\d{2})(?:(\d{2})(\d{2})(\d{2}))?$/;
const TIME =
  /^(?:(午前|午後)\s?)?(\d{1,2})(?::(\d{2})(?::(\d{2})(?:[.,](\d{1,9}))?)?|時(?:(\d{1,2})分(?:(\d{1,2})秒)?)?)/;
const ZONE = /^(Z|UTC|GMT|JST|[+-]\d{2}(?::?\d{2})?)$/i;
const PRINTABLE_ASCII = /^[\x20-\x7e]*$/;
const WEEKDAY = /\s?\([月火水木金土日](?:曜日?)?\)/;

function dateTimeParts(raw: string): Parsed<DateTimeParts> {
  let text = (PRINTABLE_ASCII.test(raw) ? raw : raw.normalize('NFKC'))
    .trim()
    .replace(/\s+/g, ' ')
    .replace(/\s*([年月日時分秒])\s*/g, '$1')
    .replace(WEEKDAY, '');
  const compact = COMPACT.exec(text);
  if (compact) {
    const [, year, month, day, hour, minute, second] = compact;
    text = `${year}-${month}-${day}${hour === undefined ? '' : ` ${hour}:${minute}:${second}`}`;
  }
  const date = datePart(text, raw);
  if (!date.ok) return date;
  let rest = text.slice(date.value.length).trim();
  if (/^T/i.test(rest)) rest = rest.slice(1);
  let hour = 0;
  let minute = 0;
  let second = 0;
  let millisecond = 0;
  const time = TIME.exec(rest);
  if (time) {
    hour = Number(time[2]);
    minute = Number(time[3] ?? time[6] ?? 0);
    second = Number(time[4] ?? time[7] ?? 0);
    millisecond = time[5] ? Number(time[5].slice(0, 3).padEnd(3, '0')) : 0;
    if (time[1] !== undefined) {
      if (hour > 12) return { ok: false, reason: `${quote(raw)} has ${time[1]} with an hour above 12` };
      hour = (hour % 12) + (time[1] === '午後' ? 12 : 0);
    }
    rest = rest.slice(time[0].length).trim();
  }
  let zone: Zone | undefined;
  if (rest !== '') {
    const written = ZONE.exec(rest);
    if (!written || !time) return unreadable(raw);
    zone = zoneOf(written[1]!);
  }
  const { year, month, day } = date.value.date;
  // Fields spelled out: an object spread here cost more than the rest of the parse.
  return { ok: true, value: { year, month, day, hour, minute, second, millisecond, zone } };
}

function datePart(text: string, raw: string): Parsed<{ date: CalendarDate; length: number }> {
  const era = ERA_DATE.exec(text);
  if (era) {
    const date = eraDate(
      eraNamed(era[1]!)!,
      era[2] === '元' ? 1 : Number(era[2]),
      Number(era[3] ?? era[6]),
      Number(era[4] ?? era[7]),
      raw,
    );
    return date.ok ? { ok: true, value: { date: date.value, length: era[0].length } } : date;
  }
  const western = KANJI_DATE.exec(text) ?? PUNCTUATED_DATE.exec(text);
  if (!western) return unreadable(raw);
  const numbers = western.slice(1).filter((part) => /^\d+$/.test(part));
  const [year, month, day] = numbers.map(Number) as [number, number, number];
  return { ok: true, value: { date: { year, month, day }, length: western[0].length } };
}

function eraDate(era: JapaneseEra, eraYear: number, month: number, day: number, raw: string): Parsed<CalendarDate> {
  if (eraYear < 1) return { ok: false, reason: `${quote(raw)}: an era year starts at 1 (元年)` };
  const date = { year: era.start.year + eraYear - 1, month, day };
  if (compareDates(date, era.start) < 0)
    return { ok: false, reason: `${quote(raw)} is before ${era.name} began (${isoDate(era.start)})` };
  if (compareDates(date, gregorianAdoption) < 0)
    return {
      ok: false,
      reason: `${quote(raw)} is before ${isoDate(gregorianAdoption)}, when Japan took the Gregorian calendar`,
    };
  return { ok: true, value: date };
}

function invalidField(p: DateTimeParts): string | undefined {
  if (p.month < 1 || p.month > 12) return `there is no month ${p.month}`;
  const days = new Date(wallClockMs({ year: p.year, month: p.month + 1, day: 0 })).getUTCDate();
  if (p.day < 1 || p.day > days) return `${p.year}-${pad(p.month)} has no day ${p.day}`;
  if (p.hour > 23 || p.minute > 59 || p.second > 59)
    return `there is no time ${p.hour}:${pad(p.minute)}:${pad(p.second)}`;
  return undefined;
}

/** The wall-clock time as epoch ms read as UTC (any year: Date.UTC would take 0–99 as 1900–1999). */
function wallClockMs(p: CalendarDate & Partial<DateTimeParts>): number {
  const date = new Date(0);
  date.setUTCFullYear(p.year, p.month - 1, p.day);
  date.setUTCHours(p.hour ?? 0, p.minute ?? 0, p.second ?? 0, p.millisecond ?? 0);
  return date.getTime();
}

/**
 * The instant of a wall-clock time (as epoch ms of that time read as UTC) in a zone. The zone's
 * offset is tried at the wall-clock time and corrected once; a time that a daylight-saving change
 * skips is read with the offset before the change (02:30 on a spring-forward night is 03:30), and
 * a time that happens twice when clocks go back is the later one.
 */
function instantOf(local: number, zone: Zone): number {
  const first = offsetAt(zone, local);
  const guess = local - first * MINUTE;
  const second = offsetAt(zone, guess);
  if (second === first) return guess;
  const corrected = local - second * MINUTE;
  return offsetAt(zone, corrected) === second ? corrected : local - Math.min(first, second) * MINUTE;
}

/**
 * A zone's UTC offset in minutes at an instant. luxon asks Intl for each (about 15 µs), and an
 * import asks once per row: offsets are cached per zone and UTC hour, when the offset is the same
 * at both ends of the hour (no zone changes its offset twice within an hour).
 */
function offsetAt(zone: Zone, ms: number): number {
  if (zone.isUniversal) return zone.offset(ms);
  const hour = Math.floor(ms / HOUR);
  const key = `${zone.name}\u0000${hour}`;
  const cached = offsetCache.get(key);
  if (cached !== undefined) return cached;
  const start = zone.offset(hour * HOUR);
  if (start !== zone.offset(hour * HOUR + HOUR - 1)) return zone.offset(ms);
  if (offsetCache.size >= OFFSET_CACHE_SIZE) offsetCache.clear();
  offsetCache.set(key, start);
  return start;
}

const MINUTE = 60_000;
const HOUR = 3_600_000;
const OFFSET_CACHE_SIZE = 100_000;
const offsetCache = new Map<string, number>();

function zoneOf(written: string): Zone {
  const upper = written.toUpperCase();
  if (upper === 'Z' || upper === 'UTC' || upper === 'GMT') return FixedOffsetZone.utcInstance;
  if (upper === 'JST') return FixedOffsetZone.instance(9 * 60);
  const sign = written.startsWith('-') ? -1 : 1;
  const digits = written.slice(1).replace(':', '');
  return FixedOffsetZone.instance(sign * (Number(digits.slice(0, 2)) * 60 + Number(digits.slice(2) || 0)));
}

function compareDates(a: CalendarDate, b: CalendarDate): number {
  return a.year - b.year || a.month - b.month || a.day - b.day;
}

function isoDate(date: CalendarDate): string {
  return `${date.year}-${pad(date.month)}-${pad(date.day)}`;
}

function pad(value: number): string {
  return String(value).padStart(2, '0');
}

function quote(raw: string): string {
  return JSON.stringify(raw.slice(0, 40));
}

function unreadable(raw: string): { ok: false; reason: string } {
  return {
    ok: false,
    reason: `${quote(raw)} is not a date kumiki reads (e.g. 2024-05-01, 2024/5/1, 2024年5月1日, 令和6年5月1日, R6.5.1)`,
  };
}
