import { randomBytes } from 'node:crypto';
import { promises as fs } from 'node:fs';
import path from 'node:path';
import { InvalidInputError } from './errors';

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
  await fs.mkdir(path.dirname(file), { recursive: true });
  // 'wx' fails if another process created it meanwhile; then theirs wins.
  try {
    await fs.writeFile(file, `${JSON.stringify(created, null, 2)}\n`, { mode: 0o600, flag: 'wx' });
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code !== 'EEXIST') throw error;
    return (await readCredentials(file))!;
  }
  return created;
}

export async function readCredentials(file: string): Promise<Credentials | undefined> {
  let raw: string;
  try {
    raw = await fs.readFile(file, 'utf8');
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
    throw error;
  }
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
  try {
    return (await fs.readFile(file, 'utf8')).trim();
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code !== 'ENOENT') throw error;
  }
  await fs.mkdir(path.dirname(file), { recursive: true });
  const key = randomBytes(32).toString(encoding);
  try {
    await fs.writeFile(file, `${key}\n`, { mode: 0o600, flag: 'wx' });
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code !== 'EEXIST') throw error;
    return (await fs.readFile(file, 'utf8')).trim();
  }
  return key;
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
