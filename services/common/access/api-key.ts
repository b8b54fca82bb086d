import { createHash, randomBytes, timingSafeEqual } from 'node:crypto';
import type { Role } from './scopes';

/**
 * An API key as every service knows it: never the secret, only its SHA-256.
 *
 * A secret is `kmk_<id>_<43 base64url characters>` (32 random bytes): the id says which record
 * to check without a scan, and the random part is long enough that a plain SHA-256 cannot be
 * brute-forced (a slow password hash protects low-entropy passwords, which these are not).
 * Rotation adds a hash and gives the old one a `validUntil`: both work until then.
 */
export interface ApiKeyRecord {
  readonly id: string;
  readonly name: string;
  readonly role: Role;
  readonly secretHashes: readonly { readonly sha256: string; readonly validUntil: number | null }[];
  readonly createdAt: number;
  readonly expiresAt: number | null;
  readonly revokedAt: number | null;
}

/** The id of the key the credentials file's adminToken stands for. */
export const ADMIN_TOKEN_KEY_ID = 'admin-token';

const secretPattern = /^kmk_([a-z0-9]{12})_([A-Za-z0-9_-]{43})$/;

export function newKeyId(): string {
  const alphabet = 'abcdefghijklmnopqrstuvwxyz0123456789';
  return Array.from(randomBytes(12), (b) => alphabet[b % alphabet.length]).join('');
}

export function newSecret(id: string): string {
  return `kmk_${id}_${randomBytes(32).toString('base64url')}`;
}

export function sha256Hex(text: string): string {
  return createHash('sha256').update(text).digest('hex');
}

/** The key id a presented secret names, or undefined when it is not shaped like a key. */
export function keyIdOf(secret: string): string | undefined {
  return secretPattern.exec(secret)?.[1];
}

/** The admin token as a key record: role admin, never expires, never revoked. */
export function adminTokenRecord(adminToken: string): ApiKeyRecord {
  return {
    id: ADMIN_TOKEN_KEY_ID,
    name: 'credentials adminToken',
    role: 'admin',
    secretHashes: [{ sha256: sha256Hex(adminToken), validUntil: null }],
    createdAt: 0,
    expiresAt: null,
    revokedAt: null,
  };
}

export type SecretCheck = 'valid' | 'wrong' | 'expired' | 'revoked';

/** Whether `secret` opens `record` at `now` (constant time over the hashes). */
export function checkSecret(record: ApiKeyRecord, secret: string, now: number): SecretCheck {
  const given = Buffer.from(sha256Hex(secret), 'hex');
  let matched = false;
  for (const hash of record.secretHashes) {
    const same = timingSafeEqual(given, Buffer.from(hash.sha256, 'hex'));
    if (same && (hash.validUntil === null || now < hash.validUntil)) matched = true;
  }
  if (!matched) return 'wrong';
  if (record.revokedAt !== null && record.revokedAt <= now) return 'revoked';
  if (record.expiresAt !== null && record.expiresAt <= now) return 'expired';
  return 'valid';
}

/** `90d`, `12h`, `30m`, `45s` → milliseconds; undefined when malformed. */
export function parseDuration(text: string): number | undefined {
  const match = /^(\d{1,5})([dhms])$/.exec(text.trim());
  if (!match) return undefined;
  const amount = Number(match[1]);
  if (amount <= 0) return undefined;
  return amount * { d: 86_400_000, h: 3_600_000, m: 60_000, s: 1_000 }[match[2] as 'd' | 'h' | 'm' | 's'];
}
