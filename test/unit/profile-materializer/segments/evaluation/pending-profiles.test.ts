import {
  candidatesOf,
  PendingProfiles,
} from '../../../../../services/profile-materializer/segments/evaluation/pending-profiles';

describe('pending profiles', () => {
  it('keeps ids oldest first, widening the scope of an id handed over again', () => {
    const pending = new PendingProfiles();
    pending.hold(['a', 'b'], new Set(['rfm']), 100);
    pending.hold(['b', 'c'], new Set(['predictions']), 200);
    pending.hold(['c'], 'all', 300);
    expect(pending.size).toBe(3);
    expect(pending.oldestSince()).toBe(100);
    expect(
      pending.take(10).map(([id, p]) => [id, p.since, p.touches, p.scope === 'all' ? 'all' : [...p.scope]]),
    ).toEqual([
      ['a', 100, 1, ['rfm']],
      ['b', 100, 2, ['rfm', 'predictions']],
      ['c', 200, 2, 'all'],
    ]);
  });

  it('after a run, keeps the ids handed over again while it ran, for the next', () => {
    const pending = new PendingProfiles();
    pending.hold(['a', 'b', 'c'], 'all', 1);
    const taken = pending.take(2);
    pending.hold(['b'], 'all', 2);
    pending.settle(taken, false);
    expect(pending.take(10).map(([id]) => id)).toEqual(['b', 'c']);
  });

  it('holds a source of derived data while too many are pending, and lets it through once fewer are or on stop', async () => {
    const pending = new PendingProfiles();
    pending.hold(['a', 'b', 'c'], 'all', 1);
    let through = false;
    const waiting = pending.below(3, false).then(() => (through = true));
    pending.release(false);
    await Promise.resolve();
    expect(through).toBe(false);
    pending.settle(pending.take(1), false);
    await waiting;
    expect(through).toBe(true);
    pending.hold(['d', 'e'], 'all', 2);
    const stopped = pending.below(1, false);
    pending.release(true);
    await expect(stopped).resolves.toBeUndefined();
  });

  it('gives a segment the touched ids and the derived ids of the tables it reads', () => {
    const taken = [
      ['p1', { scope: new Set(['rfm']) }],
      ['p2', { scope: new Set(['predictions']) }],
      ['p3', { scope: 'all' as const }],
    ] as const;
    expect(candidatesOf({ reads: ['rfm'] }, ['p3', 'p0'], taken)).toEqual(['p0', 'p1', 'p3']);
    expect(candidatesOf({ reads: ['events'] }, ['p3'], taken)).toEqual(['p3']);
    // One that reads membership (or is not analysed yet) takes every derived id.
    expect(candidatesOf({ reads: ['segment_members_store'] }, [], taken)).toEqual(['p1', 'p2']);
    expect(candidatesOf({ reads: null }, [], taken)).toEqual(['p1', 'p2']);
  });
});
