import { parseAmount, parseNumber } from '../../../../services/cli/import/values/parse-amount';
import { parseCalendarDate, parseDateTime } from '../../../../services/cli/import/values/parse-date';

describe('amounts as Japanese files write them', () => {
  it.each([
    ['1200', 1200, false],
    ['1,200', 1200, false],
    ['1,234,567.5', 1234567.5, false],
    ['¥1,200', 1200, true],
    ['￥1,200', 1200, true],
    ['￥１，２００', 1200, true],
    ['1,200円', 1200, true],
    ['１，２００円', 1200, true],
    ['1200 円', 1200, true],
    ['\\3,980', 3980, true],
    ['JPY 500', 500, true],
    ['500JPY', 500, true],
    ['-¥1,200', -1200, true],
    ['¥-1,200', -1200, true],
    ['△1,200', -1200, false],
    ['▲300円', -300, true],
    ['(1,200)', -1200, false],
    ['−45.5', -45.5, false],
    ['+19.90', 19.9, false],
    ['１２．５', 12.5, false],
    ['0', 0, false],
  ])('%s is %d (yen: %s)', (text, value, yen) => {
    expect(parseAmount(text)).toEqual({ ok: true, value: { value, yen } });
  });

  it.each([
    ['1,20'],
    ['12,34,567'],
    ['1.200,50'],
    ['ten'],
    ['¥'],
    ['円'],
    ['--5'],
    ['(-5)'],
    ['¥¥100'],
    ['$12'],
    ['1万円'],
    [''],
  ])('%j is refused, never read as zero', (text) => {
    const parsed = parseAmount(text);
    expect(parsed).toEqual({ ok: false, reason: expect.stringContaining('is not an amount') });
  });

  it('reads plain numbers without currency marks', () => {
    expect(parseNumber('１２')).toEqual({ ok: true, value: 12 });
    expect(parseNumber('3,000')).toEqual({ ok: true, value: 3000 });
    expect(parseNumber('¥3')).toEqual({ ok: false, reason: '"¥3" is not a number' });
  });
});

describe('dates as Japanese files write them', () => {
  const tokyo = 'Asia/Tokyo';
  // Midnight of a day in Tokyo, as epoch ms.
  const jst = (date: string, time = '00:00:00.000'): number => Date.parse(`${date}T${time}+09:00`);

  it.each([
    // Era boundaries, exactly.
    ['平成31年4月30日', '2019-04-30'],
    ['令和元年5月1日', '2019-05-01'],
    ['令和1年5月1日', '2019-05-01'],
    ['昭和64年1月7日', '1989-01-07'],
    ['平成元年1月8日', '1989-01-08'],
    ['大正15年12月24日', '1926-12-24'],
    ['昭和元年12月25日', '1926-12-25'],
    ['明治45年7月29日', '1912-07-29'],
    ['大正元年7月30日', '1912-07-30'],
    ['明治6年1月1日', '1873-01-01'],
    // Abbreviations and spellings.
    ['R6.5.1', '2024-05-01'],
    ['r6.5.1', '2024-05-01'],
    ['R06/05/01', '2024-05-01'],
    ['H31.4.30', '2019-04-30'],
    ['S60-3-15', '1985-03-15'],
    ['平31.4.30', '2019-04-30'],
    ['令6年5月1日', '2024-05-01'],
    ['㋿6年5月1日', '2024-05-01'],
    ['㍻31年4月30日', '2019-04-30'],
    ['令和６年５月１日', '2024-05-01'],
    ['令和 6年 5月 1日', '2024-05-01'],
    // An era name kept after the era ended (pre-printed forms): read by arithmetic.
    ['平成31年5月1日', '2019-05-01'],
    ['平成32年1月1日', '2020-01-01'],
    // Western calendar.
    ['2024/5/1', '2024-05-01'],
    ['2024/05/01', '2024-05-01'],
    ['2024.5.1', '2024-05-01'],
    ['2024-5-1', '2024-05-01'],
    ['2024年5月1日', '2024-05-01'],
    ['２０２４年５月１日', '2024-05-01'],
    ['2024年5月1日(水)', '2024-05-01'],
    ['2024年5月1日（水曜日）', '2024-05-01'],
    ['20240501', '2024-05-01'],
    ['2024-02-29', '2024-02-29'],
  ])('%s is the day %s', (text, day) => {
    expect(parseCalendarDate(text)).toEqual({ ok: true, value: day });
    expect(parseDateTime(text, 'UTC')).toEqual({ ok: true, value: Date.parse(`${day}T00:00:00Z`) });
  });

  it('puts a date without a time at midnight in the time zone, as the time zone database has it', () => {
    expect(parseDateTime('令和元年5月1日', tokyo)).toEqual({ ok: true, value: jst('2019-05-01') });
    // Tokyo kept local mean time (+09:18:59) until 1888.
    expect(parseDateTime('明治6年1月1日', tokyo)).toEqual({ ok: true, value: Date.UTC(1872, 11, 31, 14, 41, 1) });
  });

  it.each([
    ['2024/5/1 9:05', jst('2024-05-01', '09:05:00.000')],
    ['2024/05/01 09:05:30', jst('2024-05-01', '09:05:30.000')],
    ['2024-05-01 10:30:00.250', jst('2024-05-01', '10:30:00.250')],
    ['2024年5月1日 10時30分', jst('2024-05-01', '10:30:00.000')],
    ['2024年5月1日 10時30分15秒', jst('2024-05-01', '10:30:15.000')],
    ['2024年5月1日(水) 午後3時', jst('2024-05-01', '15:00:00.000')],
    ['2024/5/1 午前0:15', jst('2024-05-01', '00:15:00.000')],
    ['2024/5/1 午後12:15', jst('2024-05-01', '12:15:00.000')],
    ['令和6年5月1日 18:00', jst('2024-05-01', '18:00:00.000')],
    ['R6.5.1 8:00', jst('2024-05-01', '08:00:00.000')],
    ['20240501103000', jst('2024-05-01', '10:30:00.000')],
    // A zone written in the value wins over the import's.
    ['2024-05-01T10:00:00Z', Date.UTC(2024, 4, 1, 10)],
    ['2024-05-01T10:00:00+02:00', Date.UTC(2024, 4, 1, 8)],
    ['2024/5/1 10:00 +0900', Date.UTC(2024, 4, 1, 1)],
    ['2024/5/1 10:00 JST', Date.UTC(2024, 4, 1, 1)],
    ['2024/5/1 10:00 UTC', Date.UTC(2024, 4, 1, 10)],
  ])('%s in Asia/Tokyo is %d', (text, ms) => {
    expect(parseDateTime(text, tokyo)).toEqual({ ok: true, value: ms });
  });

  it('reads a date-time without a zone in the import time zone, else in UTC', () => {
    expect(parseDateTime('2024/5/1 9:00', 'Europe/Berlin')).toEqual({ ok: true, value: Date.UTC(2024, 4, 1, 7) });
    expect(parseDateTime('2024/1/15 9:00', 'Europe/Berlin')).toEqual({ ok: true, value: Date.UTC(2024, 0, 15, 8) });
    expect(parseDateTime('2024/5/1 9:00')).toEqual({ ok: true, value: Date.UTC(2024, 4, 1, 9) });
    expect(parseDateTime('令和6年5月1日')).toEqual({ ok: true, value: Date.UTC(2024, 4, 1) });
    expect(parseDateTime('0099-01-01')).toEqual({ ok: true, value: Date.parse('0099-01-01T00:00:00Z') });
  });

  it('reads wall-clock times around daylight-saving changes as the time zone database has them', () => {
    const berlin = 'Europe/Berlin';
    expect(parseDateTime('2024/3/31 1:59', berlin)).toEqual({ ok: true, value: Date.UTC(2024, 2, 31, 0, 59) });
    // 02:30 does not exist that night: read as 03:30 summer time.
    expect(parseDateTime('2024/3/31 2:30', berlin)).toEqual({ ok: true, value: Date.UTC(2024, 2, 31, 1, 30) });
    expect(parseDateTime('2024/3/31 3:00', berlin)).toEqual({ ok: true, value: Date.UTC(2024, 2, 31, 1) });
    // 02:30 happens twice when clocks go back: the later one.
    expect(parseDateTime('2024/10/27 2:30', berlin)).toEqual({ ok: true, value: Date.UTC(2024, 9, 27, 1, 30) });
    expect(parseDateTime('2024/10/27 3:30', berlin)).toEqual({ ok: true, value: Date.UTC(2024, 9, 27, 2, 30) });
    expect(parseDateTime('2024/7/1 12:00', 'America/New_York')).toEqual({ ok: true, value: Date.UTC(2024, 6, 1, 16) });
  });

  it.each([
    ['令和元年4月30日', 'is before 令和 began (2019-05-01)'],
    ['平成元年1月7日', 'is before 平成 began (1989-01-08)'],
    ['令和0年5月1日', 'an era year starts at 1 (元年)'],
    ['明治5年12月1日', 'when Japan took the Gregorian calendar'],
    ['2024/2/30', 'is not a real date or time'],
    ['2023年2月29日', 'is not a real date or time'],
    ['2024/13/1', 'is not a real date or time'],
    ['2024/5/1 25:00', 'is not a real date or time'],
    ['2024/5/1 午後13:00', 'with an hour above 12'],
    ['03/02/2024', 'is not a date kumiki reads'],
    ['5/1', 'is not a date kumiki reads'],
    ['last tuesday', 'is not a date kumiki reads'],
    ['2024/5/1 soon', 'is not a date kumiki reads'],
    ['X6.5.1', 'is not a date kumiki reads'],
    ['', 'is not a date kumiki reads'],
  ])('%j is refused: %s', (text, reason) => {
    expect(parseDateTime(text, tokyo)).toEqual({ ok: false, reason: expect.stringContaining(reason) });
  });

  it("agrees with ICU's Japanese calendar on every 9th day from 1873 to 2040", () => {
    // Node's Intl formats dates in the Japanese calendar from ICU's own era data: an independent check.
    const format = new Intl.DateTimeFormat('ja-JP-u-ca-japanese', {
      era: 'long',
      year: 'numeric',
      month: 'numeric',
      day: 'numeric',
      timeZone: 'UTC',
    });
    const mismatches: string[] = [];
    let checked = 0;
    for (let ms = Date.UTC(1873, 0, 1); ms < Date.UTC(2040, 0, 1); ms += 9 * 86_400_000) {
      const parts = Object.fromEntries(format.formatToParts(new Date(ms)).map((part) => [part.type, part.value]));
      const year = parts.year === '1' ? '元' : parts.year;
      for (const text of [
        `${parts.era}${year}年${parts.month}月${parts.day}日`,
        `${parts.era}${parts.year}.${parts.month}.${parts.day}`,
      ]) {
        checked += 1;
        const read = parseDateTime(text);
        if (!read.ok || read.value !== ms) mismatches.push(`${text}: ${JSON.stringify(read)}`);
      }
    }
    expect(checked).toBeGreaterThan(13_000);
    expect(mismatches).toEqual([]);
  });
});
