import { consentVerdict } from '../../../../services/activator/delivery/consent';
import { RateLimiter } from '../../../../services/activator/delivery/flow-control';
import { isPrivateAddress } from '../../../../services/activator/delivery/target-guard';
import { identifiersOf, traitsOf } from '../../../../services/activator/delivery/payloads';

describe('consentVerdict (fail-closed)', () => {
  it('delivers only when every purpose was granted', () => {
    expect(consentVerdict('p', { consent: { marketing: true, email: true } }, ['marketing', 'email'])).toEqual({
      deliver: true,
    });
    expect(consentVerdict('p', { consent: { marketing: true } }, ['marketing', 'email'])).toEqual({
      deliver: false,
      reason: 'no_consent',
      detail: 'not granted: email',
    });
    expect(consentVerdict('p', { consent: { marketing: false } }, ['marketing'])).toMatchObject({ deliver: false });
    expect(consentVerdict('p', undefined, ['marketing'])).toMatchObject({ deliver: false, reason: 'unknown_profile' });
  });

  it('withholds a person the subject filter names, whatever their consent', () => {
    const erased = {
      withheld: (id: string) => (id === 'p-erased' ? 'erased' : undefined),
      current: async () => undefined,
    };
    expect(consentVerdict('p-erased', { consent: { marketing: true } }, ['marketing'], erased)).toEqual({
      deliver: false,
      reason: 'withheld',
      detail: 'erased',
    });
  });
});

describe('isPrivateAddress', () => {
  it('refuses loopback, private, link-local and unique-local addresses, v4 and v6', () => {
    for (const address of [
      '127.0.0.1',
      '10.1.2.3',
      '172.16.0.1',
      '172.31.255.255',
      '192.168.1.1',
      '169.254.169.254',
      '100.64.0.1',
      '0.0.0.0',
      '::1',
      'fd00::1',
      'fe80::1',
      '::ffff:10.0.0.1',
    ])
      expect([address, isPrivateAddress(address)]).toEqual([address, true]);
    for (const address of ['8.8.8.8', '172.32.0.1', '93.184.216.34', '2606:4700::1111'])
      expect([address, isPrivateAddress(address)]).toEqual([address, false]);
  });
});

describe('payload scope', () => {
  it('carries only the identifier types and traits the destination asks for', () => {
    const profile = {
      identifiers: [
        { type: 'email', value: 'a@x.io' },
        { type: 'email', value: 'b@x.io' },
        { type: 'device_id', value: 'd1' },
      ],
      traits: JSON.stringify({ first_name: 'Ann', address: 'secret' }),
    };
    expect(identifiersOf(profile, ['email'])).toEqual({ email: ['a@x.io', 'b@x.io'] });
    expect(identifiersOf(profile, [])).toEqual({});
    expect(traitsOf(profile, ['first_name', 'missing'])).toEqual({ first_name: 'Ann' });
  });

  it('sends a trait named __proto__ like any other', () => {
    const picked = traitsOf({ traits: '{"__proto__":{"admin":true},"plan":"gold"}' }, ['__proto__', 'plan']);
    expect(JSON.stringify(picked)).toBe('{"__proto__":{"admin":true},"plan":"gold"}');
    expect(Object.getPrototypeOf(picked)).toBe(Object.prototype);
  });
});

describe('RateLimiter', () => {
  it('lets a second’s worth go at once, then one per interval', () => {
    const limiter = new RateLimiter(2);
    const now = 1_000_000;
    expect([limiter.reserve(now), limiter.reserve(now), limiter.reserve(now), limiter.reserve(now)]).toEqual([
      0, 0, 500, 1000,
    ]);
    // After a quiet spell the burst is there again, no more.
    expect([limiter.reserve(now + 10_000), limiter.reserve(now + 10_000), limiter.reserve(now + 10_000)]).toEqual([
      0, 0, 500,
    ]);
  });

  it('has no limit without a rate, and takes a new rate at once', () => {
    const limiter = new RateLimiter(null);
    expect([limiter.reserve(0), limiter.reserve(0), limiter.reserve(0)]).toEqual([0, 0, 0]);
    limiter.setRate(1);
    expect([limiter.reserve(0), limiter.reserve(0)]).toEqual([0, 1000]);
  });
});
