import { profilingVerdicts } from '../../../../services/profile-materializer/privacy/profiling-consent';

const event = (profile_id: string, message_id: string, consent: Record<string, boolean> = {}) => ({
  profile_id,
  message_id,
  consent,
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
      new Map([['p-old', [{ at: 50, messageId: 'x', consent: { analytics: false } }]]]),
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
    const stored = new Map([['p', [{ at: 100, messageId: 'm2', consent: { analytics: false } }]]]);
    expect(profilingVerdicts([event('p', 'm1', { analytics: true })], [100], survivor, stored, ['analytics'])).toEqual([
      true,
    ]);
    expect(profilingVerdicts([event('p', 'm3', { analytics: true })], [100], survivor, stored, ['analytics'])).toEqual([
      true,
    ]);
    expect(profilingVerdicts([event('p', 'm3')], [100], survivor, stored, ['analytics'])).toEqual([false]);
  });
});
