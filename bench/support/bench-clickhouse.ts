import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { type ClickHouse, createClickHouse } from '../../services/common/clickhouse/client-factory';
import { runMigrations } from '../../services/common/clickhouse/migrations';
import type { Logger } from '../../services/common/logger';
import { parseRates } from '../../services/profile-materializer/rfm/money';
import { writeRfmSettings } from '../../services/profile-materializer/rfm/rfm.repository';

/**
 * A fresh embedded ClickHouse (chDB) for one benchmark: its own home under the temporary
 * directory, every migration applied, and with `rfm` the settings `kumiki up` starts with
 * (Order Completed / Order Refunded, 365 days, USD).
 */
export async function benchClickHouse(
  name: string,
  logger: Logger,
  options: { readonly database?: string; readonly rfm?: boolean } = {},
): Promise<{ ch: ClickHouse; home: string }> {
  const home = fs.mkdtempSync(path.join(os.tmpdir(), `kumiki-bench-${name}-`));
  const ch = await createClickHouse(
    {
      CLICKHOUSE_URL: undefined,
      CLICKHOUSE_USER: 'default',
      CLICKHOUSE_PASSWORD: '',
      CLICKHOUSE_DATABASE: options.database ?? 'bench',
      KUMIKI_HOME: home,
    },
    logger,
  );
  await runMigrations(ch, { logger });
  if (options.rfm)
    await writeRfmSettings(ch, {
      purchaseEvents: ['Order Completed'],
      refundEvents: ['Order Refunded'],
      windowDays: 365,
      rates: parseRates('', 'USD'),
      reportingCurrency: 'USD',
    });
  return { ch, home };
}
