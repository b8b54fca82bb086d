import crypto from 'node:crypto';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import pino from 'pino';
import {
  createClickHouse,
  runMigrations,
  type ClickHouse,
  type ClickHouseConfig,
} from '../../../../services/common/clickhouse';

/**
 * chDB runs one engine per process with one data directory: each test file (one jest worker)
 * opens a single data directory under os.tmpdir(), and every test gets its own database in it
 * (`test_<random>`), never a shared one to truncate. `afterAll(closeAll)` closes them and
 * removes the directory.
 */
export const logger = pino({ level: 'silent' });
export const home = fs.mkdtempSync(path.join(os.tmpdir(), 'kumiki-clickhouse-it-'));
export const open: ClickHouse[] = [];

export function config(overrides: Partial<ClickHouseConfig> = {}): ClickHouseConfig {
  return {
    CLICKHOUSE_URL: undefined,
    CLICKHOUSE_USER: 'default',
    CLICKHOUSE_PASSWORD: '',
    CLICKHOUSE_DATABASE: `test_${crypto.randomBytes(6).toString('hex')}`,
    KUMIKI_HOME: home,
    ...overrides,
  };
}

export async function freshDatabase(): Promise<ClickHouse> {
  const ch = await createClickHouse(config(), logger);
  open.push(ch);
  return ch;
}

export async function migratedDatabase(): Promise<ClickHouse> {
  const ch = await freshDatabase();
  await runMigrations(ch, { logger });
  return ch;
}

export async function closeAll(): Promise<void> {
  for (const ch of open.splice(0)) await ch.close();
  fs.rmSync(home, { recursive: true, force: true });
}
