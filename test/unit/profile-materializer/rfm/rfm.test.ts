import {
  computeRfm,
  DAY_MS,
  quintileScores,
  type RfmEvent,
  type RfmSettings,
} from '../../../../services/profile-materializer/rfm/rfm';
import { labelGrid, rfmLabel, rfmLabels } from '../../../../services/profile-materializer/rfm/rfm-labels';
import {
  divRoundHalfAway,
  microsToDecimalString,
  parseRates,
  toMicros,
} from '../../../../services/profile-materializer/rfm/money';

const settings: RfmSettings = {
  purchaseEvents: ['Order Completed'],
  refundEvents: ['Order Refunded'],
  windowDays: 365,
  rates: parseRates('EUR=1.10,JPY=0.0067', 'USD'),
  reportingCurrency: 'USD',
};
const asOf = Date.UTC(2026, 10, 23, 12, 0, 0);
let seq = 0;
function ev(
  profileId: string,
  event: string,
  daysAgo: number,
  orderId: string | null,
  amount: number | string | null,
  currency: string | null = null,
  messageId?: string,
): RfmEvent {
  seq += 1;
  return {
    messageId: messageId ?? `m${String(seq).padStart(6, '0')}`,
    profileId,
    event,
    timestamp: asOf - daysAgo * DAY_MS,
    orderId,
    amountMicros: amount === null ? null : toMicros(amount),
    currency,
  };
}

describe('money', () => {
  it('reads amounts exactly into micro-units', () => {
    expect(toMicros(19.99)).toBe(19_990_000n);
    expect(toMicros('0.1')).toBe(100_000n);
    expect(toMicros('-3.5')).toBe(-3_500_000n);
    expect(toMicros(1e21)).toBe(1_000_000_000_000_000_000_000_000_000n);
    expect(toMicros(1.5e-7)).toBe(0n);
    expect(toMicros('0.0000005')).toBe(1n);
    expect(toMicros('-0.0000005')).toBe(-1n);
    expect(toMicros('.25')).toBe(250_000n);
    expect(toMicros('abc')).toBeNull();
    expect(toMicros(Number.NaN)).toBeNull();
    expect(toMicros({})).toBeNull();
    expect(microsToDecimalString(19_990_000n)).toBe('19.99');
    expect(microsToDecimalString(-1n)).toBe('-0.000001');
  });

  it('rounds half away from zero', () => {
    expect(divRoundHalfAway(15n, 10n)).toBe(2n);
    expect(divRoundHalfAway(-15n, 10n)).toBe(-2n);
    expect(divRoundHalfAway(14n, 10n)).toBe(1n);
    expect(divRoundHalfAway(-14n, 10n)).toBe(-1n);
  });

  it('parses a rate table and refuses a bad one', () => {
    expect([...parseRates('eur=1.08, JPY=0.0067', 'usd')]).toEqual([
      ['USD', 1_000_000n],
      ['EUR', 1_080_000n],
      ['JPY', 6_700n],
    ]);
    expect(() => parseRates('EUR', 'USD')).toThrow(RangeError);
    expect(() => parseRates('EUR=-1', 'USD')).toThrow(RangeError);
  });
});

describe('quintile scores', () => {
  it('gives 1 + floor(5 × strictly-worse / N), ties sharing the lower score', () => {
    expect(quintileScores([1, 2, 3, 4, 5], true)).toEqual([1, 2, 3, 4, 5]);
    expect(quintileScores([1, 1, 1, 2, 9], true)).toEqual([1, 1, 1, 4, 5]);
    expect(quintileScores([5, 4, 3, 2, 1], false)).toEqual([1, 2, 3, 4, 5]);
    expect(quintileScores([7, 7, 7], true)).toEqual([1, 1, 1]);
    expect(quintileScores([42], true)).toEqual([1]);
    expect(quintileScores([10n, 20n], true)).toEqual([1, 3]);
  });
});

describe('labels', () => {
  it('maps every (R, FM) cell to one of the eleven labels, all of them used', () => {
    const grid = labelGrid();
    expect(grid).toHaveLength(25);
    expect(new Set(grid)).toEqual(new Set(rfmLabels));
    expect(rfmLabel(5, 5, 5)).toBe('Champions');
    expect(rfmLabel(5, 1, 1)).toBe('New customers');
    expect(rfmLabel(1, 1, 1)).toBe('Lost');
    expect(rfmLabel(1, 5, 4)).toBe("Can't lose them");
    expect(rfmLabel(3, 3, 2)).toBe('Need attention'); // FM = round half up of 2.5 = 3
    expect(() => rfmLabel(0, 1, 1)).toThrow(RangeError);
  });
});

describe('computeRfm', () => {
  it('computes recency, frequency, monetary, scores and labels', () => {
    const rows = computeRfm(
      [
        ev('a', 'Order Completed', 1, 'o1', 100),
        ev('a', 'Order Completed', 3, 'o2', '50.5'),
        ev('b', 'Order Completed', 200, 'o3', 10, 'EUR'),
        ev('c', 'Page Viewed', 0, null, null),
      ],
      settings,
      asOf,
    );
    expect([...rows.keys()].sort()).toEqual(['a', 'b']);
    expect(rows.get('a')).toMatchObject({
      recencyDays: 1,
      frequency: 2,
      monetaryCents: 15050n,
      monetary: 150.5,
      r: 3,
      f: 3,
      m: 3,
      label: 'Need attention',
    });
    expect(rows.get('b')).toMatchObject({
      recencyDays: 200,
      frequency: 1,
      monetaryCents: 1100n,
      r: 1,
      f: 1,
      m: 1,
      label: 'Lost',
    });
  });

  it('counts a duplicated order once, by its earliest event', () => {
    const rows = computeRfm(
      [
        ev('a', 'Order Completed', 2, 'o1', 100, null, 'x2'),
        ev('a', 'Order Completed', 2, 'o1', 100, null, 'x1'),
        ev('a', 'Order Completed', 1, 'o1', 999),
      ],
      settings,
      asOf,
    );
    expect(rows.get('a')).toMatchObject({ frequency: 1, monetaryCents: 10000n, recencyDays: 2 });
  });

  it('subtracts partial refunds, drops fully refunded orders, ignores duplicate refund messages', () => {
    const rows = computeRfm(
      [
        ev('a', 'Order Completed', 10, 'o1', 100),
        ev('a', 'Order Completed', 5, 'o2', 40),
        ev('a', 'Order Refunded', 4, 'o1', 30, null, 'r1'),
        ev('a', 'Order Refunded', 4, 'o1', 30, null, 'r1'),
        ev('x', 'Order Refunded', 3, 'o2', null), // refund of the whole order, on another profile
      ],
      settings,
      asOf,
    );
    expect(rows.get('a')).toMatchObject({ frequency: 1, monetaryCents: 7000n, recencyDays: 10 });
    expect(rows.has('x')).toBe(false);
  });

  it('keeps to the window and ignores the future', () => {
    const rows = computeRfm(
      [
        ev('a', 'Order Completed', 365, 'old', 100),
        ev('a', 'Order Completed', 364.9, 'in', 1),
        ev('b', 'Order Completed', -1, 'future', 5),
      ],
      settings,
      asOf,
    );
    expect(rows.get('a')).toMatchObject({ frequency: 1, monetaryCents: 100n, recencyDays: 364 });
    expect(rows.has('b')).toBe(false);
  });

  it('converts currencies exactly and counts unknown currencies as 0', () => {
    const rows = computeRfm(
      [ev('a', 'Order Completed', 1, 'o1', 1000, 'JPY'), ev('a', 'Order Completed', 1, 'o2', 3, 'CHF')],
      settings,
      asOf,
    );
    expect(rows.get('a')).toMatchObject({ frequency: 2, monetaryCents: 670n });
  });

  it('does not depend on input order', () => {
    const events = Array.from({ length: 200 }, (_, i) =>
      ev(`p${i % 37}`, 'Order Completed', (i * 7) % 300, `o${i % 150}`, (i * 13) % 97, i % 3 === 0 ? 'EUR' : null),
    );
    const forward = computeRfm(events, settings, asOf);
    const backward = computeRfm([...events].reverse(), settings, asOf);
    expect(backward).toEqual(forward);
  });
});
