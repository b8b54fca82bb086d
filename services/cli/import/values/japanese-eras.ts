/**
 * Japanese eras (元号) since Japan adopted the Gregorian calendar on 明治6年1月1日 (1873-01-01),
 * each with the Gregorian day it began. Era year 1 is written 元年; year N of an era is
 * `startYear + N − 1`. Earlier Meiji dates are lunisolar and cannot be converted by arithmetic.
 */
export interface JapaneseEra {
  readonly name: string;
  /** Latin and one-kanji abbreviations as files write them (R6.5.1, 平31.4.30). */
  readonly abbreviations: readonly string[];
  readonly start: { readonly year: number; readonly month: number; readonly day: number };
}

export const japaneseEras: readonly JapaneseEra[] = [
  { name: '明治', abbreviations: ['M', '明'], start: { year: 1868, month: 10, day: 23 } },
  { name: '大正', abbreviations: ['T', '大'], start: { year: 1912, month: 7, day: 30 } },
  { name: '昭和', abbreviations: ['S', '昭'], start: { year: 1926, month: 12, day: 25 } },
  { name: '平成', abbreviations: ['H', '平'], start: { year: 1989, month: 1, day: 8 } },
  { name: '令和', abbreviations: ['R', '令'], start: { year: 2019, month: 5, day: 1 } },
];

/** First day kumiki converts era dates from (the Gregorian calendar's adoption). */
export const gregorianAdoption = { year: 1873, month: 1, day: 1 } as const;

const byName = new Map<string, JapaneseEra>();
for (const era of japaneseEras) {
  byName.set(era.name, era);
  for (const abbreviation of era.abbreviations) byName.set(abbreviation.toLowerCase(), era);
}

/** The era a name or abbreviation stands for (case-insensitive for the Latin letters). */
export function eraNamed(name: string): JapaneseEra | undefined {
  return byName.get(name.toLowerCase());
}

/** Pattern of every era name and abbreviation, for the date parser. */
export const eraNamePattern = [...byName.keys()].sort((a, b) => b.length - a.length).join('|');
