import type { Component } from '../lifecycle';
import type { Logger } from '../logger';
import { connectWithBackoff } from '../dependency';
import { createClickHouse, type ClickHouse, type ClickHouseConfig } from './client-factory';
import { runMigrations } from './migrations';

/**
 * ClickHouse as a service component: opens it (embedded chDB or a server, waiting with
 * backoff while a server is down), applies pending migrations, then checks health
 * periodically so /ready shows an outage. `clickhouse` is usable once started.
 */
export function createClickHouseConnection(options: {
  config: ClickHouseConfig;
  logger: Logger;
  healthIntervalMs?: number;
}): Component & { readonly clickhouse: ClickHouse } {
  const logger = options.logger.child({ component: 'clickhouse' });
  const abort = new AbortController();
  let handle: ClickHouse | undefined;
  let healthy = false;
  let timer: NodeJS.Timeout | undefined;

  const check = async (): Promise<void> => {
    const report = await handle!.health();
    if (report.healthy !== healthy) {
      if (report.healthy) logger.info('ClickHouse reachable');
      else logger.warn({ error: report.error }, 'ClickHouse unreachable');
    }
    healthy = report.healthy;
  };

  return {
    name: 'clickhouse',
    get clickhouse(): ClickHouse {
      if (!handle) throw new Error('ClickHouse component used before it started');
      return handle;
    },
    async start() {
      handle = await connectWithBackoff(
        'ClickHouse',
        () => createClickHouse(options.config, logger),
        logger,
        abort.signal,
      );
      await connectWithBackoff('ClickHouse migrations', () => runMigrations(handle!, { logger }), logger, abort.signal);
      healthy = true;
      const schedule = (): void => {
        timer = setTimeout(
          () => void check().finally(() => !abort.signal.aborted && schedule()),
          options.healthIntervalMs ?? 5_000,
        );
      };
      schedule();
    },
    async stop() {
      abort.abort();
      clearTimeout(timer);
      await handle?.close();
    },
    isHealthy: () => true,
    isReady: () => healthy,
  };
}
