/**
 * Segment-style queries on embedded ClickHouse (chDB) over synthetic data made inside the
 * engine (INSERT … SELECT FROM numbers()), through the public views, with p50/p95 latency.
 *
 *   npm run build && node dist/bench/rfm-queries.js [events=10000000] [profiles=1000000] [runs=7]
 */
import fs from 'node:fs';
import pino from 'pino';
import { writeRfmSnapshot } from '../services/profile-materializer/rfm/rfm-snapshot';
import { benchClickHouse } from './support/bench-clickhouse';

const [events = 10_000_000, profiles = 1_000_000, runs = 7] = process.argv.slice(2).map(Number);
const logger = pino({ level: 'warn' });

// Each query says beside it how it is exact.
const queries: Record<string, string> = {
  // Latest complete snapshot (exact as of its computed_at; one row per purchaser per snapshot).
  'rfm label counts': 'SELECT label, count() AS n FROM rfm GROUP BY label ORDER BY n DESC',
  // Per kind of event and day (0011): some event of kind K after T exactly when a row of K with
  // day >= toDate(T) has last_at > T; min/max are duplicate- and order-insensitive, so no FINAL.
  // Through the public view, which resolves merged-away profiles.
  'store purchase and online browse in 30 days': `
    WITH now64(3) - INTERVAL 30 DAY AS since
    SELECT count() FROM (
      SELECT profile_id FROM profile_activity
      WHERE ((event = 'Order Completed' AND channel = 'store') OR (type = 'page' AND channel = 'web'))
        AND day >= toDate(since) AND last_at > since
      GROUP BY profile_id
      HAVING countIf(event = 'Order Completed' AND channel = 'store') > 0 AND countIf(type = 'page' AND channel = 'web') > 0)`,
  // The events view (FINAL over every event): exact by message_id dedup; for comparison.
  'store purchase and online browse in 30 days, events view': `
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
  const { ch, home } = await benchClickHouse('rfm', logger, { database: 'bench_rfm', rfm: true });
  const loadStarted = Date.now();
  // 20 % purchases (10 % of them in store), 50 % page views; events spread over 400 days and
  // over profiles by hash (so one profile has events of every kind).
  await ch.command(
    `INSERT INTO events_store (message_id, profile_id, type, event, timestamp, received_at, channel, order_id, revenue, currency, version)
     SELECT concat('m', toString(number)), concat('p', toString(intHash32(number) % {profiles:UInt64})),
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
  // What the materializer does on its schedule: the snapshot the rfm view reads.
  const snapshotStarted = Date.now();
  const snapshot = await writeRfmSnapshot(ch, Date.now());
  const snapshotSeconds = (Date.now() - snapshotStarted) / 1000;
  const results: Record<string, { firstMs?: number; p50Ms: number; p95Ms: number; rows: number; answer?: string }> = {};
  for (const [name, sql] of Object.entries(queries)) {
    const times: number[] = [];
    let rows = 0;
    let answer = '';
    // One warm-up run first (caches, first read of the parts), reported apart.
    const coldStarted = process.hrtime.bigint();
    await ch.query(sql);
    const firstMs = Math.round(Number(process.hrtime.bigint() - coldStarted) / 1e6);
    for (let i = 0; i < runs; i++) {
      const started = process.hrtime.bigint();
      const result = await ch.query(sql);
      rows = result.length;
      answer = JSON.stringify(result.length === 1 ? result[0] : result.length);
      times.push(Number(process.hrtime.bigint() - started) / 1e6);
    }
    times.sort((a, b) => a - b);
    results[name] = {
      firstMs,
      p50Ms: Math.round(percentile(times, 50)),
      p95Ms: Math.round(percentile(times, 95)),
      rows,
      answer,
    };
  }
  // The live, exact-at-read computation the rfm view used before snapshots (few runs: it is slow).
  const live: number[] = [];
  for (let i = 0; i < Math.min(runs, 3); i++) {
    const started = process.hrtime.bigint();
    await ch.query('SELECT label, count() AS n FROM rfm_as_of(as_of = now64(3)) GROUP BY label ORDER BY n DESC');
    live.push(Number(process.hrtime.bigint() - started) / 1e6);
  }
  live.sort((a, b) => a - b);
  results['rfm label counts, live rfm_as_of (for comparison)'] = {
    p50Ms: Math.round(percentile(live, 50)),
    p95Ms: Math.round(percentile(live, 95)),
    rows: 11,
  };
  console.log(
    JSON.stringify(
      {
        events,
        profiles,
        runs,
        loadSeconds,
        snapshot: { seconds: snapshotSeconds, purchasers: snapshot.purchasers },
        results,
      },
      null,
      2,
    ),
  );
  await ch.close();
  fs.rmSync(home, { recursive: true, force: true });
}

main().catch((error: unknown) => {
  console.error(error);
  process.exit(1);
});
