import { promises as fs } from 'node:fs';
import path from 'node:path';

/**
 * Files holding secrets under KUMIKI_HOME (credentials, the privacy key): made once, mode 0600,
 * and never overwritten — two processes starting at once end up with the same secret.
 */

/** The file's text, or undefined when it does not exist. */
export async function readSecretFile(file: string): Promise<string | undefined> {
  try {
    return await fs.readFile(file, 'utf8');
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
    throw error;
  }
}

/** Writes `text` (mode 0600) unless the file exists; false when another process made it first. */
export async function createSecretFile(file: string, text: string): Promise<boolean> {
  await fs.mkdir(path.dirname(file), { recursive: true });
  // 'wx' fails if another process created it meanwhile; then theirs wins.
  try {
    await fs.writeFile(file, text, { mode: 0o600, flag: 'wx' });
    return true;
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code !== 'EEXIST') throw error;
    return false;
  }
}
