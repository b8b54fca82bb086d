import { createHash, createHmac, randomBytes, timingSafeEqual } from 'node:crypto';
import { z } from 'zod';
import { InvalidInputError } from '../errors';
import { createSecretFile, readSecretFile } from '../secret-file';
import { canonicalJson } from './canonical-json';

/**
 * The server's privacy key: 32 random bytes, the same for every service of one installation
 * (`KUMIKI_PRIVACY_KEY`, 64 hex characters; `kumiki up` keeps it in `.kumiki/privacy.key`,
 * mode 0600, beside the credentials).
 *
 * Two jobs, each with a key of its own derived from it (HMAC of a label), so that a value made
 * for one can never pass for the other:
 * - keyed hashes: what kumiki remembers of erased and suppressed people (and what the audit
 *   trail keeps of identifiers) is HMAC-SHA256 of `type:value`, never the value. Without the
 *   key nobody can test a guess against them; with it, kumiki can recognise the person again,
 *   which is the point (a replayed event of an erased person, a suppressed person's new device);
 * - report signatures: HMAC-SHA256 over the report's canonical JSON, checked by
 *   `kumiki privacy verify`.
 *
 * Losing the key does not lose data, but kumiki no longer recognises erased and suppressed
 * people in replays, and old reports no longer verify: back it up with the credentials.
 */
export class PrivacyKey {
  /** First 16 hex characters of SHA-256 of the key: names it in reports without revealing it. */
  readonly keyId: string;
  private readonly hashKey: Buffer;
  private readonly signKey: Buffer;

  private constructor(key: Buffer) {
    this.keyId = createHash('sha256').update(key).digest('hex').slice(0, 16);
    this.hashKey = createHmac('sha256', key).update('kumiki subject hash v1').digest();
    this.signKey = createHmac('sha256', key).update('kumiki privacy report signature v1').digest();
  }

  static fromHex(hex: string): PrivacyKey {
    if (!HEX_KEY.test(hex)) throw new InvalidInputError('the privacy key must be 64 hex characters (32 bytes)');
    return new PrivacyKey(Buffer.from(hex, 'hex'));
  }

  /** Keyed hash of an identifier: 32 hex characters (128 bits of HMAC-SHA256 of `type:value`). */
  hashIdentifier(type: string, value: string): string {
    return createHmac('sha256', this.hashKey).update(`${type}:${value}`).digest('hex').slice(0, 32);
  }

  /** Keyed hash of a profile id (its own namespace: a profile id is never taken for an identifier). */
  hashProfileId(profileId: string): string {
    return createHmac('sha256', this.hashKey).update(`\u0000profile:${profileId}`).digest('hex').slice(0, 32);
  }

  /** base64url HMAC-SHA256 of the value's canonical JSON. */
  sign(value: unknown): string {
    return createHmac('sha256', this.signKey).update(canonicalJson(value)).digest('base64url');
  }

  verify(value: unknown, signature: string): boolean {
    const expected = Buffer.from(this.sign(value), 'base64url');
    const given = Buffer.from(signature, 'base64url');
    return given.length === expected.length && timingSafeEqual(given, expected);
  }
}

const HEX_KEY = /^[0-9a-fA-F]{64}$/;

/** The setting every service that hashes or signs takes (identity-stitcher, profile-materializer). */
export const privacyKeyEnvShape = {
  KUMIKI_PRIVACY_KEY: z
    .string({
      message:
        'is required: 64 hex characters, the same for every service (kumiki up keeps one in .kumiki/privacy.key)',
    })
    .regex(HEX_KEY, 'must be 64 hex characters (32 random bytes), e.g. from `openssl rand -hex 32`'),
};

/** Reads `.kumiki/privacy.key`, creating it (mode 0600) with 32 random bytes on first use. */
export async function loadOrCreatePrivacyKeyFile(file: string): Promise<string> {
  const existing = await readPrivacyKeyFile(file);
  if (existing) return existing;
  const created = randomBytes(32).toString('hex');
  if (await createSecretFile(file, `${created}\n`)) return created;
  return (await readPrivacyKeyFile(file))!;
}

export async function readPrivacyKeyFile(file: string): Promise<string | undefined> {
  const raw = await readSecretFile(file);
  if (raw === undefined) return undefined;
  const key = raw.trim();
  if (!HEX_KEY.test(key)) throw new InvalidInputError(`${file} must hold the privacy key: 64 hex characters`, { file });
  return key;
}
