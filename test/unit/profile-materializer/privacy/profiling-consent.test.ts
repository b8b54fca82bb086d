import { profilingVerdicts } from '../../../../services/profile-materializer/privacy/profiling-consent';

const event = (profile_id: string, message_id: string, consent: Record<string, boolean> = {}) => ({
  profile_id,
  message_id,
  consent,
  version: 0,
});

describe('profilingVerdicts', () => {
  const survivor = (id: string) => (id === 'p-old' ? 'p' : id);

  it('takes the latest statement per purpose at or before each event, its own included, across merged profiles', () => {
    const verdicts = profilingVerdicts(
      [
        event('p', 'a'),
        event('p', 'b', { analytics: true }),
        event('p', 'c'),
        event('p', 'd', { analytics: false }),
        event('p', 'e'),
      ],
      [100, 200, 300, 400, 500],
      survivor,
      new Map([['p-old', [{ at: 50, messageId: 'x', received: 0, consent: { analytics: false } }]]]),
      ['analytics'],
    );
    expect(verdicts).toEqual([false, true, true, false, false]);
  });

  it('is fail-closed: no statement is not granted, and every required purpose must be', () => {
    expect(profilingVerdicts([event('q', 'a')], [1], survivor, new Map(), ['analytics'])).toEqual([false]);
    expect(
      profilingVerdicts([event('q', 'a', { analytics: true })], [1], survivor, new Map(), [
        'analytics',
        'personalisation',
      ]),
    ).toEqual([false]);
  });

  it('orders statements of the same instant by messageId, as profiles.consent does', () => {
    const stored = new Map([['p', [{ at: 100, messageId: 'm2', received: 0, consent: { analytics: false } }]]]);
    expect(profilingVerdicts([event('p', 'm1', { analytics: true })], [100], survivor, stored, ['analytics'])).toEqual([
      true,
    ]);
    expect(profilingVerdicts([event('p', 'm3', { analytics: true })], [100], survivor, stored, ['analytics'])).toEqual([
      true,
    ]);
    expect(profilingVerdicts([event('p', 'm3')], [100], survivor, stored, ['analytics'])).toEqual([false]);
  });
});

describe('profilingVerdicts on a replay', () => {
  const same = (id: string) => id;
  const withVersion = (message_id: string, version: number, consent: Record<string, boolean> = {}) => ({
    profile_id: 'p',
    message_id,
    consent,
    version,
  });

  it('reaches the verdict of the first write when statements received after the event are stored by then', () => {
    // Event e (time 100, received at 1000) is written while nothing is granted: withheld. A grant
    // of time 50 received later (2000) is written by a later chunk; then a crash before the commit
    // replays e, with the grant stored. Same event, same verdict, or it is in both events_store
    // and unprofiled_events_store.
    const e = withVersion('e', 1_000);
    const first = profilingVerdicts([e], [100], same, new Map(), ['analytics']);
    const grant = { at: 50, messageId: 'g', received: 2_000, consent: { analytics: true } };
    const replayed = profilingVerdicts([e], [100], same, new Map([['p', [grant]]]), ['analytics']);
    expect(first).toEqual([false]);
    expect(replayed).toEqual(first);
  });

  it('does not depend on where chunks are cut: a later-received revocation in the same chunk does not decide an earlier-received event', () => {
    const grant = { at: 10, messageId: 'g', received: 10, consent: { analytics: true } };
    const stored = new Map([['p', [grant]]]);
    const e = withVersion('e', 1_000);
    const revoke = withVersion('r', 2_000, { analytics: false });
    const alone = profilingVerdicts([e], [100], same, stored, ['analytics']);
    const together = profilingVerdicts([e, revoke], [100, 80], same, stored, ['analytics']);
    expect(alone).toEqual([true]);
    expect(together[0]).toBe(alone[0]);
  });
});
