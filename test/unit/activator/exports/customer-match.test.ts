import { createHash } from 'node:crypto';
import {
  csvHeader,
  hashedIdentifiers,
  memberLines,
  normaliseIdentifier,
} from '../../../../services/activator/exports/customer-match';

const sha = (text: string): string => createHash('sha256').update(text).digest('hex');

describe('customer-match identifiers', () => {
  it('normalises emails (trimmed, lower-cased) and phones (E.164) before hashing', () => {
    expect(normaliseIdentifier('email', '  Ann.Lee@Example.COM ')).toBe('ann.lee@example.com');
    expect(normaliseIdentifier('email', 'not an email')).toBeUndefined();
    expect(normaliseIdentifier('phone', '+4915112345678')).toBe('+4915112345678');
    expect(normaliseIdentifier('phone', '+49 151 1234 5678')).toBe('+4915112345678');
    expect(normaliseIdentifier('phone', '4915112345678')).toBe('+4915112345678');
    expect(normaliseIdentifier('phone', '12')).toBeUndefined();
    expect(normaliseIdentifier('user_id', ' u-1 ')).toBe('u-1');
  });

  it('hashes the asked types only, once per distinct value', () => {
    expect(
      hashedIdentifiers(
        ['email:a@x.io', 'email:A@X.io ', 'phone:+4915112345678', 'device_id:d1', 'bad'],
        ['email', 'phone'],
      ),
    ).toEqual({ email: [sha('a@x.io')], phone: [sha('+4915112345678')] });
  });

  it('writes CSV rows of one value per type and NDJSON objects of arrays', () => {
    const hashed = { email: ['e1', 'e2'], phone: ['p1'] };
    expect(csvHeader(['email', 'phone'], false)).toBe('email,phone\n');
    expect(memberLines('csv', hashed, ['email', 'phone'], undefined)).toBe('e1,p1\ne2,\n');
    expect(memberLines('csv', hashed, ['email', 'phone'], 'remove')).toBe('e1,p1,remove\ne2,,remove\n');
    expect(memberLines('ndjson', hashed, ['email', 'phone'], 'add')).toBe(
      '{"action":"add","email":["e1","e2"],"phone":["p1"]}\n',
    );
    expect(memberLines('csv', {}, ['email'], undefined)).toBe('');
  });
});
