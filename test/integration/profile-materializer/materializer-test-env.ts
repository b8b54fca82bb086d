import os from 'node:os';
import path from 'node:path';
import fs from 'node:fs';
import pino from 'pino';
import { createClickHouse, type ClickHouse } from '../../../services/common/clickhouse/client-factory';
import { runMigrations } from '../../../services/common/clickhouse/migrations';
import { uniqueName } from '../../support/stack-env';

export const quietLogger = pino({ level: process.env.KUMIKI_TEST_LOG_LEVEL ?? 'silent' });

/**
 * Embedded ClickHouse for one test file: chDB allows one data directory per process, so the
 * file gets its own directory and every test its own database, migrated from scratch.
 */
export function embeddedHome(fileTag: string): string {
  return fs.mkdtempSync(path.join(os.tmpdir(), `kumiki-${fileTag}-`));
}

export async function freshDatabase(home: string): Promise<ClickHouse> {
  const database = uniqueName('t').replace(/-/g, '_');
  const ch = await createClickHouse(
    { CLICKHOUSE_URL: undefined, CLICKHOUSE_USER: 'default', CLICKHOUSE_PASSWORD: '', CLICKHOUSE_DATABASE: database, KUMIKI_HOME: home },
    quietLogger,
  );
  await runMigrations(ch, { logger: quietLogger });
  return ch;
}
