import {
  extractIdentifiers,
  type IdentitySource,
} from '../../../../services/identity-stitcher/identity/extract-identifiers';
import { resolveIdentityRules } from '../../../../services/identity-stitcher/identity/identity-rules';
import { IdentifierNormaliser } from '../../../../services/identity-stitcher/identity/normalise';

const rules = resolveIdentityRules({ blockedValues: ['test@example.com', 'unknown-device'] });
const normalise = new IdentifierNormaliser(rules);

function source(overrides: Partial<IdentitySource>): IdentitySource {
  return { type: 'track', userId: null, anonymousId: null, previousId: null, context: {}, traits: {}, ...overrides };
}

describe('identifier normalisation', () => {
  it('lower-cases and trims emails, and rejects what is not an email', () => {
    expect(normalise.email('  Jane.Doe@Example.COM ')).toBe('jane.doe@example.com');
    expect(normalise.email('not-an-email')).toBeUndefined();
    expect(normalise.email('a@b')).toBeUndefined();
    expect(normalise.email('TEST@example.com')).toBeUndefined(); // configured block list
  });

  it('writes phones in E.164, reading national numbers with the default region', () => {
    expect(normalise.phone('(415) 555-2671')).toBe('+14155552671');
    expect(normalise.phone('+44 20 7946 0958')).toBe('+442079460958');
    expect(normalise.phone(' +81 3-1234-5678 ')).toBe('+81312345678');
    expect(new IdentifierNormaliser(resolveIdentityRules({ phoneDefaultRegion: 'GB' })).phone('020 7946 0958')).toBe(
      '+442079460958',
    );
    expect(normalise.phone('12345')).toBeUndefined();
    expect(normalise.phone('call me')).toBeUndefined();
  });

  it.each([
    '',
    '   ',
    'null',
    'NULL',
    'undefined',
    'anonymous',
    'Anonymous',
    '0',
    '-1',
    '[object Object]',
    '0000',
    '-----',
    '00000000-0000-0000-0000-000000000000',
    'unknown-device',
  ])('never takes %j as an identifier', (value) => {
    expect(normalise.id(value)).toBeUndefined();
  });

  it('keeps the case of opaque ids and accepts numbers', () => {
    expect(normalise.id(' AbC-123 ')).toBe('AbC-123');
    expect(normalise.id(42)).toBe('42');
    expect(normalise.id({})).toBeUndefined();
  });
});

describe('identifier extraction', () => {
  it('finds every identifier an event carries', () => {
    const found = extractIdentifiers(
      source({
        type: 'identify',
        userId: 'u-1',
        anonymousId: 'anon-1',
        traits: { email: ' Jane@Example.com', phone: '415-555-2671', loyaltyId: 'L-77' },
        context: {
          device: { id: 'dev-1' },
          traits: { email: 'jane@example.com', customerId: 'C-9' },
          externalIds: [
            { id: 'SF-001', type: 'salesforceId', collection: 'users', encoding: 'none' },
            { id: 'JANE@work.example', type: 'email' },
          ],
        },
      }),
      rules,
      normalise,
    );
    expect(found.identifiers).toEqual([
      { type: 'user_id', value: 'u-1' },
      { type: 'anonymous_id', value: 'anon-1' },
      { type: 'device_id', value: 'dev-1' },
      { type: 'email', value: 'jane@example.com' },
      { type: 'phone', value: '+14155552671' },
      { type: 'customer_id', value: 'L-77' },
      { type: 'customer_id', value: 'C-9' },
      { type: 'salesforce_id', value: 'SF-001' },
      { type: 'email', value: 'jane@work.example' },
    ]);
    expect(found.previousId).toBeUndefined();
  });

  it('maps loyalty ids in externalIds (array or object form) to customer_id', () => {
    expect(
      extractIdentifiers(source({ context: { externalIds: { loyalty_id: 'L-1' } } }), rules, normalise).identifiers,
    ).toEqual([{ type: 'customer_id', value: 'L-1' }]);
    expect(
      extractIdentifiers(source({ context: { externalIds: [{ id: 'L-2', type: 'Loyalty ID' }] } }), rules, normalise)
        .identifiers,
    ).toEqual([{ type: 'customer_id', value: 'L-2' }]);
  });

  it('ignores the traits of a group call (they describe the account)', () => {
    const found = extractIdentifiers(
      source({ type: 'group', userId: 'u', traits: { email: 'billing@acme.io' } }),
      rules,
      normalise,
    );
    expect(found.identifiers).toEqual([{ type: 'user_id', value: 'u' }]);
  });

  it('lists each identifier once, in the order found, however many an event carries', () => {
    // Past a handful the duplicates are found through a Set; the result must be the same.
    for (const count of [3, 16, 17, 5000]) {
      const externalIds = Array.from({ length: count }, (_, i) => ({
        id: `X-${i % Math.ceil(count / 2)}`,
        type: 'crmId',
      }));
      const found = extractIdentifiers(
        source({ userId: 'u-1', anonymousId: 'u-1', context: { externalIds } }),
        rules,
        normalise,
      );
      const crm = Array.from({ length: Math.ceil(count / 2) }, (_, i) => ({ type: 'crm_id', value: `X-${i}` }));
      expect(found.identifiers).toEqual([
        { type: 'user_id', value: 'u-1' },
        { type: 'anonymous_id', value: 'u-1' },
        ...crm,
      ]);
    }
  });

  it('drops blocked values and returns previousId of an alias call', () => {
    const found = extractIdentifiers(
      source({
        type: 'alias',
        userId: 'u-2',
        anonymousId: 'undefined',
        previousId: ' anon-7 ',
        context: { device: { id: '0' } },
        traits: { email: 'null' },
      }),
      rules,
      normalise,
    );
    expect(found.identifiers).toEqual([{ type: 'user_id', value: 'u-2' }]);
    expect(found.previousId).toBe('anon-7');
  });
});

describe('identity rules', () => {
  it('has the issue defaults and lets one file override a type', () => {
    const limits = Object.fromEntries(resolveIdentityRules().types.map((t) => [t.name, t.limit]));
    expect(limits).toEqual({ user_id: 1, customer_id: 1, email: 5, phone: 5, device_id: 20, anonymous_id: 1000 });
    const custom = resolveIdentityRules({
      types: [
        { name: 'email', priority: 3, limit: 2 },
        { name: 'crm_id', priority: 2, limit: 1 },
      ],
    });
    expect(custom.types.find((t) => t.name === 'email')?.limit).toBe(2);
    expect(custom.types.find((t) => t.name === 'crm_id')).toEqual({ name: 'crm_id', priority: 2, limit: 1 });
  });

  it('rejects invalid overrides', () => {
    expect(() => resolveIdentityRules({ phoneDefaultRegion: 'XX' })).toThrow(/region/);
    expect(() => resolveIdentityRules({ types: [{ name: 'Bad Name', priority: 1, limit: 1 }] })).toThrow();
  });
});
