import { snapshotSpacingMs } from '../../../../services/profile-materializer/rfm/rfm-snapshot';

describe('RFM snapshot spacing', () => {
  it('keeps the configured interval while snapshots are quick', () => {
    expect(snapshotSpacingMs(5_000, 0)).toBe(5_000);
    expect(snapshotSpacingMs(5_000, 200)).toBe(5_000);
    expect(snapshotSpacingMs(5_000, 500)).toBe(5_000);
  });

  it('waits ten times the last snapshot once that is longer, so snapshots take a tenth of the time at most', () => {
    expect(snapshotSpacingMs(5_000, 501)).toBe(5_010);
    expect(snapshotSpacingMs(5_000, 3_000)).toBe(30_000);
    expect(snapshotSpacingMs(200, 3_000)).toBe(30_000);
  });
});
