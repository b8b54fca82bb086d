import type { ApiKeyRecord } from '../../../../services/common/access/api-key';
import { grantProblem } from '../../../../services/activator/destinations/grant-check';

const grant = { keyId: 'k1', keyName: 'crm sync', role: 'admin', at: 0 };
const key: ApiKeyRecord = {
  id: 'k1',
  name: 'crm sync',
  role: 'admin',
  secretHashes: [],
  createdAt: 0,
  expiresAt: null,
  revokedAt: null,
};
const now = Date.parse('2026-12-07T00:00:00Z');

it('lets personal data out while the granting key is valid, and always for the credentials admin token', () => {
  expect(grantProblem(grant, key, now)).toBeUndefined();
  expect(grantProblem({ ...grant, keyId: 'admin-token' }, undefined, now)).toBeUndefined();
  expect(grantProblem(null, undefined, now)).toBeUndefined();
  expect(grantProblem(grant, { ...key, expiresAt: now + 1 }, now)).toBeUndefined();
});

it('names the key and why once it was revoked, expired, forgotten or lacks pii:read', () => {
  const named = 'the key "crm sync" (k1) that granted pii:read';
  expect(grantProblem(grant, { ...key, revokedAt: now - 1_000 }, now)).toBe(
    `${named} was revoked at 2026-12-06T23:59:59.000Z`,
  );
  expect(grantProblem(grant, { ...key, expiresAt: now }, now)).toBe(`${named} expired at 2026-12-07T00:00:00.000Z`);
  expect(grantProblem(grant, undefined, now)).toBe(`${named} is not known any more`);
  expect(grantProblem(grant, { ...key, role: 'marketer' }, now)).toBe(`${named} has role marketer, without pii:read`);
});
