import { randomBytes } from 'node:crypto';
import { InvalidInputError } from './errors';
import { createSecretFile, readSecretFile } from './secret-file';

/** `.kumiki/credentials.json`: the collector's write key and the read API's admin token. */
export interface Credentials {
  readonly writeKey: string;
  readonly adminToken: string;
}

/** Reads the credentials file, creating it (mode 0600) with fresh random secrets on first use. */
export async function loadOrCreateCredentials(file: string): Promise<Credentials> {
  const existing = await readCredentials(file);
  if (existing) return existing;
  const created: Credentials = {
    writeKey: `wk_${randomBytes(18).toString('base64url')}`,
    adminToken: `adm_${randomBytes(24).toString('base64url')}`,
  };
  if (await createSecretFile(file, `${JSON.stringify(created, null, 2)}\n`)) return created;
  return (await readCredentials(file))!;
}

export async function readCredentials(file: string): Promise<Credentials | undefined> {
  const raw = await readSecretFile(file);
  if (raw === undefined) return undefined;
  const parsed = JSON.parse(raw) as Partial<Credentials>;
  if (typeof parsed.writeKey !== 'string' || typeof parsed.adminToken !== 'string') {
    throw new InvalidInputError(`${file} must hold {"writeKey": "...", "adminToken": "..."}`, { file });
  }
  return { writeKey: parsed.writeKey, adminToken: parsed.adminToken };
}

/**
 * A secret key file (32 random bytes as 64 hex digits, or base64; mode 0600), created on first
 * use; `kumiki up` keeps ClickHouse's encryption key beside the credentials this way.
 */
export async function loadOrCreateKeyFile(file: string, encoding: 'hex' | 'base64' = 'hex'): Promise<string> {
  const existing = await readSecretFile(file);
  if (existing !== undefined) return existing.trim();
  const key = randomBytes(32).toString(encoding);
  if (await createSecretFile(file, `${key}\n`)) return key;
  return (await readSecretFile(file))!.trim();
}

/**
 * `.kumiki/secrets.key`: 32 random bytes (base64) that encrypt the activator's destination
 * secrets at rest. Made on first use with mode 0600, beside the credentials; never on Kafka.
 */
export async function loadOrCreateSecretsKey(file: string): Promise<string> {
  const key = await loadOrCreateKeyFile(file, 'base64');
  if (Buffer.from(key, 'base64').length !== 32)
    throw new InvalidInputError(`${file} must hold 32 bytes in base64`, { file });
  return key;
}
