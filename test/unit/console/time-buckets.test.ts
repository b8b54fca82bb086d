import { bucketsOf, pivot } from '../../../console/src/ui/time-buckets';

describe('chart time buckets', () => {
  it('lists every bucket of the window, aligned as toStartOfInterval aligns them in UTC', () => {
    expect(bucketsOf('2026-05-01T10:03:30.000Z', 3 * 60_000, 60_000)).toEqual([
      '2026-05-01T10:01:00.000Z',
      '2026-05-01T10:02:00.000Z',
      '2026-05-01T10:03:00.000Z',
    ]);
  });

  it('puts rows into their bucket and zero where there are none', () => {
    const buckets = ['2026-05-01T10:01:00.000Z', '2026-05-01T10:02:00.000Z'];
    expect(
      pivot(
        buckets,
        [
          { at: '2026-05-01T10:02:00.000Z', series: 'web', count: 5 },
          { at: '2026-05-01T10:02:00.000Z', series: 'web', count: 1 },
          { at: '2026-05-01T09:00:00.000Z', series: 'web', count: 9 },
        ],
        ['web', 'store'],
      ),
    ).toEqual([
      { at: '2026-05-01T10:01:00.000Z', web: 0, store: 0 },
      { at: '2026-05-01T10:02:00.000Z', web: 6, store: 0 },
    ]);
  });
});
