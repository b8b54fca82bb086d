import { createClient } from '@clickhouse/client';
import type { z } from 'zod';
import type { clickhouseMaskedEnvShape } from '../config';
import { errorMessage, InternalError } from '../errors';
import type { Logger } from '../logger';
import {
  type ClickHouse,
  type ClickHouseConfig,
  clientLog,
  defaultSettings,
  embeddedDataPath,
  serverTls,
  wrapClient,
} from './client-factory';
import { MaskedEmbeddedConnection } from './masked-connection';
import { maskedDatabaseOf } from './masking';
import { quoteIdentifier } from './sql-text';
import { maskedDeniedSystemTables, maskedReadableSystemTables } from './system-tables';

/**
 * ClickHouse as keys without `pii:read` see it: only the masked database (masking.ts), enforced
 * by ClickHouse's access control. Embedded: a chDB session per request in the masked role
 * (masked-connection.ts). Server: the user CLICKHOUSE_MASKED_USER, created here when
 * CLICKHOUSE_USER may manage access, with SELECT on the masked database only, readonly, and row
 * policies emptying the system tables for it; undefined when no password is configured.
 * Call after `applyMasking`.
 */
export async function createMaskedClickHouse(
  config: ClickHouseConfig & Readonly<z.output<z.ZodObject<typeof clickhouseMaskedEnvShape>>>,
  owner: ClickHouse,
  logger: Logger,
): Promise<ClickHouse | undefined> {
  const database = maskedDatabaseOf(config.CLICKHOUSE_DATABASE);
  const log = logger.child({ component: 'clickhouse-masked', database });
  if (config.CLICKHOUSE_URL === undefined) {
    await checkSystemTablesCovered(owner);
    const connection = new MaskedEmbeddedConnection(embeddedDataPath(config.KUMIKI_HOME), database, defaultSettings);
    return wrapClient(createClient({ connection, log: clientLog(log) }), 'embedded', database, log);
  }
  if (config.CLICKHOUSE_MASKED_PASSWORD === undefined) {
    log.warn('CLICKHOUSE_MASKED_PASSWORD is not set: SQL of keys without pii:read will be refused');
    return undefined;
  }
  const user = quoteIdentifier(config.CLICKHOUSE_MASKED_USER);
  try {
    await owner.command(`CREATE USER IF NOT EXISTS ${user} IDENTIFIED WITH sha256_password BY {p:String}`, {
      p: config.CLICKHOUSE_MASKED_PASSWORD,
    });
    await owner.command(`ALTER USER ${user} IDENTIFIED WITH sha256_password BY {p:String} SETTINGS readonly = 1`, {
      p: config.CLICKHOUSE_MASKED_PASSWORD,
    });
    await owner.command(`GRANT SELECT ON ${quoteIdentifier(database)}.* TO ${user}`);
    const system = maskedDeniedSystemTables.map((t) => `system.${quoteIdentifier(t)}`).join(', ');
    await owner.command(`CREATE ROW POLICY OR REPLACE kumiki_masked_system ON ${system} USING 0 TO ${user}`);
  } catch (error) {
    log.warn({ err: errorMessage(error) }, 'could not set up the masked user; set it up by hand (docs/access.md)');
  }
  const client = createClient({
    url: config.CLICKHOUSE_URL,
    username: config.CLICKHOUSE_MASKED_USER,
    password: config.CLICKHOUSE_MASKED_PASSWORD,
    database,
    application: 'kumiki-masked',
    clickhouse_settings: { ...defaultSettings },
    log: clientLog(log),
    ...serverTls(config),
  });
  return wrapClient(client, 'server', database, log);
}

/** Fails when the engine has a system table the masked role's row policies do not know about. */
async function checkSystemTablesCovered(owner: ClickHouse): Promise<void> {
  const known = new Set([...maskedDeniedSystemTables, ...maskedReadableSystemTables]);
  const rows = await owner.query<{ name: string }>("SELECT name FROM system.tables WHERE database = 'system'");
  const unknown = rows.map((r) => r.name).filter((name) => !known.has(name));
  if (unknown.length > 0)
    throw new InternalError(
      `embedded ClickHouse has system tables that masking does not cover: ${unknown.join(', ')}; ` +
        'add them to services/common/clickhouse/system-tables.ts (denied unless harmless)',
    );
}
