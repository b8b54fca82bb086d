import { dateTime64Text } from '../../../../services/common/clickhouse/datetime64';

const reference = (ms: number): string => new Date(Math.floor(ms)).toISOString().replace('T', ' ').replace('Z', '');

describe('DateTime64(3) text', () => {
  it('matches the ISO form for every kind of date, including leap days, year ends and before 1970', () => {
    const edges = [
      0,
      -1,
      999,
      1_000,
      Date.UTC(2024, 1, 29, 23, 59, 59, 999),
      Date.UTC(2100, 1, 28, 12),
      Date.UTC(2000, 1, 29),
      Date.UTC(1999, 11, 31, 23, 59, 59, 999),
      Date.UTC(1900, 0, 1),
      Date.UTC(2299, 11, 31, 23, 59, 59, 999),
      Date.UTC(1969, 11, 31, 23, 59, 59, 1),
      1_795_450_325_057.6,
    ];
    for (const ms of edges) expect({ ms, text: dateTime64Text(ms) }).toEqual({ ms, text: reference(ms) });
    let seed = 42;
    for (let i = 0; i < 20_000; i++) {
      seed = (seed * 1_103_515_245 + 12_345) % 2 ** 31;
      const ms = Date.UTC(1900, 0, 1) + (seed / 2 ** 31) * (Date.UTC(2300, 0, 1) - Date.UTC(1900, 0, 1));
      expect(dateTime64Text(ms)).toBe(reference(ms));
      expect(dateTime64Text(ms + 1)).toBe(reference(ms + 1)); // same second, remembered text
    }
  });

  it('writes years outside 1000–9999 as Date does', () => {
    expect(dateTime64Text(Date.UTC(10_000, 0, 1))).toBe(reference(Date.UTC(10_000, 0, 1)));
    expect(dateTime64Text(-62_198_755_200_000)).toBe(reference(-62_198_755_200_000));
  });
});
