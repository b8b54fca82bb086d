/**
 * Segment-style queries on embedded ClickHouse (chDB) over synthetic data made inside the
 * engine (INSERT … SELECT FROM numbers()), through the public views, with p50/p95 latency.
 *
 *   npm run build && node dist/bench/rfm-queries.js [events=10000000] [profiles=1000000] [runs=7]
 */
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import pino from 'pino';
import { createClickHouse } from '../services/common/clickhouse/client-factory';
import { runMigrations } from '../services/common/clickhouse/migrations';
import { parseRates } from '../services/profile-materializer/rfm/money';
import { writeRfmSettings } from '../services/profile-materializer/rfm/rfm.repository';

const [events = 10_000_000, profiles = 1_000_000, runs = 7] = process.argv.slice(2).map(Number);
const logger = pino({ level: 'warn' });

const queries: Record<string, string> = {
  'rfm label counts': 'SELECT label, count() AS n FROM rfm GROUP BY label ORDER BY n DESC',
  'store purchase and online browse in 30 days': `
    SELECT count() FROM (
      SELECT profile_id FROM events
      WHERE timestamp > now64(3) - INTERVAL 30 DAY
      GROUP BY profile_id
      HAVING countIf(event = 'Order Completed' AND channel = 'store') > 0 AND countIf(type = 'page' AND channel = 'web') > 0)`,
};

function percentile(sorted: number[], p: number): number {
  return sorted[Math.min(sorted.length - 1, Math.ceil((p / 100) * sorted.length) - 1)]!;
}

async function main(): Promise<void> {
  const home = fs.mkdtempSync(path.join(os.tmpdir(), 'kumiki-bench-rfm-'));
  const ch = await createClickHouse({ CLICKHOUSE_URL: undefined, CLICKHOUSE_USER: 'default', CLICKHOUSE_PASSWORD: '', CLICKHOUSE_DATABASE: 'bench_rfm', KUMIKI_HOME: home }, logger);
  await runMigrations(ch, { logger });
  await writeRfmSettings(ch, { purchaseEvents: ['Order Completed'], refundEvents: ['Order Refunded'], windowDays: 365, rates: parseRates('', 'USD'), reportingCurrency: 'USD' });
  const loadStarted = Date.now();
  // 20 % purchases (10 % of them in store), 50 % page views; events spread over 400 days.
  await ch.command(
    `INSERT INTO events_store (message_id, profile_id, type, event, timestamp, received_at, channel, order_id, revenue, currency, version)
     SELECT concat('m', toString(number)), concat('p', toString(number % {profiles:UInt64})),
            if(number % 10 < 5, 'page', 'track'),
            multiIf(number % 10 < 5, '', number % 10 < 7, 'Order Completed', 'Product Viewed'),
            now64(3) - toIntervalSecond(cityHash64(number) % (400 * 86400)),
            now64(3),
            if(number % 50 = 5, 'store', 'web'),
            if(number % 10 IN (5, 6), concat('o', toString(number)), ''),
            if(number % 10 IN (5, 6), toDecimal64((cityHash64(number, 1) % 50000) / 100, 4), NULL),
            'USD', 1
     FROM numbers({events:UInt64})`,
    { events, profiles },
  );
  const loadSeconds = (Date.now() - loadStarted) / 1000;
  const results: Record<string, { p50Ms: number; p95Ms: number; rows: number }> = {};
  for (const [name, sql] of Object.entries(queries)) {
    const times: number[] = [];
    let rows = 0;
    for (let i = 0; i < runs; i++) {
      const started = process.hrtime.bigint();
      rows = (await ch.query(sql)).length;
      times.push(Number(process.hrtime.bigint() - started) / 1e6);
    }
    times.sort((a, b) => a - b);
    results[name] = { p50Ms: Math.round(percentile(times, 50)), p95Ms: Math.round(percentile(times, 95)), rows };
  }
  console.log(JSON.stringify({ events, profiles, runs, loadSeconds, results }, null, 2));
  await ch.close();
  fs.rmSync(home, { recursive: true, force: true });
}

main().catch((error: unknown) => {
  console.error(error);
  process.exit(1);
});
