/**
 * Predictions at scale: a fit-and-score run (BG/NBD + Gamma-Gamma, propensity, recommendations)
 * on embedded ClickHouse (chDB, in this process as in the profile-materializer) over purchasers
 * and orders made inside the engine, with the peak memory of the process (Node and chDB). The
 * reference, from the same run: ClickHouse alone grouping the same order events into purchase
 * days per purchaser, raw (no deduplication, refunds or currencies).
 *
 *   npm run build && node dist/bench/predictions.js [purchasers=1000000] [orders=10000000] [views=5000000] [data-dir]
 *
 * With a data directory, the made events stay there and the next run with the same directory
 * starts from them (only the run's own tables are emptied first): making them takes longer than
 * the run.
 */
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import pino from 'pino';
import { type ClickHouse, createClickHouse } from '../services/common/clickhouse/client-factory';
import { runMigrations } from '../services/common/clickhouse/migrations';
import { releaseFreedMemory } from '../services/profile-materializer/predictions/buckets';
import { runPredictions, runTables } from '../services/profile-materializer/predictions/prediction-run';
import { parseRates } from '../services/profile-materializer/rfm/money';
import { writeRfmSettings } from '../services/profile-materializer/rfm/rfm.repository';
import { countArgument, line, rssOf } from './support/measure';
import { memoryByStatement } from './support/memory-by-statement';

const purchasers = countArgument(2, 'purchasers', 1_000_000);
const orders = countArgument(3, 'orders', 10_000_000);
const views = countArgument(4, 'views', 5_000_000);
const dataDir = process.argv[5];
const logger = pino({ level: 'warn' });

async function main(): Promise<void> {
  const home = dataDir ?? fs.mkdtempSync(path.join(os.tmpdir(), 'kumiki-bench-predictions-'));
  const ch = await createClickHouse(
    {
      CLICKHOUSE_URL: undefined,
      CLICKHOUSE_USER: 'default',
      CLICKHOUSE_PASSWORD: '',
      CLICKHOUSE_DATABASE: 'bench_predictions',
      KUMIKI_HOME: home,
    },
    logger,
  );
  try {
    await runMigrations(ch, { logger });
    await writeRfmSettings(ch, {
      purchaseEvents: ['Order Completed'],
      refundEvents: ['Order Refunded'],
      windowDays: 365,
      rates: parseRates('', 'USD'),
      reportingCurrency: 'USD',
    });
    const loadStarted = Date.now();
    const [made] = await ch.query<{ n: string }>('SELECT count() AS n FROM events_store');
    if (Number(made?.n) === orders + views) {
      for (const table of [...runTables, 'prediction_models_store', 'prediction_changes'])
        await ch.command(`TRUNCATE TABLE ${table}`);
    } else {
      await ch.command('TRUNCATE TABLE events_store');
      await makeEvents(ch);
    }
    const loadSeconds = (Date.now() - loadStarted) / 1000;

    // Reference: ClickHouse alone grouping the same orders into purchase days per purchaser, raw
    // (events_store, no deduplication, refunds or currencies): the least any run has to pay.
    const referenceStarted = Date.now();
    const [reference] = await ch.query<{ purchasers: string; days: string }>(
      `SELECT count() AS purchasers, sum(days) AS days FROM (
         SELECT profile_id, uniqExact(intDiv(toUnixTimestamp64Milli(timestamp), 86400000)) AS days
         FROM events_store WHERE type = 'track' AND event = 'Order Completed' GROUP BY profile_id)`,
    );
    const referenceSeconds = (Date.now() - referenceStarted) / 1000;
    // The load and the reference leave freed memory with chDB's allocator; a service starts its
    // run from its own state, not from the bench's setup.
    await releaseFreedMemory(ch);
    const rssAfterLoad = rssOf(process.pid);

    // The run's own peak: reset the process's high-water mark (Linux: 5 > /proc/self/clear_refs).
    fs.writeFileSync('/proc/self/clear_refs', '5');
    const runStarted = Date.now();
    const cpuStarted = process.cpuUsage();
    const traced = memoryByStatement(ch);
    const { model } = await runPredictions(
      traced.ch,
      { refitIntervalMs: 0, minPurchasers: 100, minRepeatBuyers: 20, discountRate: 0, excludedItems: [] },
      Date.now(),
    );
    const runSeconds = (Date.now() - runStarted) / 1000;
    const cpu = process.cpuUsage(cpuStarted);
    const cpuSeconds = (cpu.user + cpu.system) / 1e6;
    const peak = rssOf(process.pid, 'VmHWM');
    const peaks = traced.stop(5);
    const mb = (bytes: number): string => `${(bytes / 1024 / 1024).toFixed(0)} MB`;
    line(
      'purchasers / orders / product views',
      `${Number(reference?.purchasers).toLocaleString('en-US')} / ${orders.toLocaleString('en-US')} / ${views.toLocaleString('en-US')}`,
    );
    line('load (INSERT … SELECT, OPTIMIZE)', `${loadSeconds.toFixed(1)} s`);
    line(
      'reference: raw ClickHouse GROUP BY of the orders',
      `${referenceSeconds.toFixed(1)} s (${Number(reference?.days).toLocaleString('en-US')} purchase days)`,
    );
    line(
      'fit and score (one run)',
      `${runSeconds.toFixed(1)} s = ${(runSeconds / referenceSeconds).toFixed(1)} × the reference, ${Math.round(orders / runSeconds).toLocaleString('en-US')} orders/s`,
    );
    line(
      'CPU time of the run (all threads: Node and chDB)',
      `${cpuSeconds.toFixed(1)} s on ${os.availableParallelism()} cores shared with other work (load average ${os.loadavg()[0]!.toFixed(1)})`,
    );
    for (const [phase, seconds] of Object.entries(model.figures.seconds)) line(`  ${phase}`, `${seconds.toFixed(1)} s`);
    line('profiles scored', `${model.figures.profilesScored.toLocaleString('en-US')}`);
    line('peak RSS of the process during the run (Node + chDB)', `${mb(peak)} (before it ${mb(rssAfterLoad)})`);
    for (const { bytes, at, text } of peaks) line(`  ${mb(bytes)} at ${((at - runStarted) / 1000).toFixed(1)} s`, text);
    line(
      'BG/NBD r, alpha, a, b',
      [model.params.r, model.params.alpha, model.params.a, model.params.b].map((v) => v.toPrecision(4)).join(', '),
    );
    line(
      'Gamma-Gamma p, q, gamma',
      [model.params.p, model.params.q, model.params.gamma].map((v) => v.toPrecision(4)).join(', '),
    );
    const quality = model.figures.propensity.quality;
    line(
      'propensity AUC / top-decile lift',
      quality ? `${quality.auc?.toFixed(3)} / ${quality.topDecileLift?.toFixed(2)}` : 'n/a',
    );
    const recs = model.figures.recommendations;
    line(
      'hit rate at 5: co-occurrence / popularity',
      recs ? `${(100 * recs.hitRateAt5).toFixed(1)} % / ${(100 * recs.popularityHitRateAt5).toFixed(1)} %` : 'n/a',
    );
    line(
      'targets: < 120 s, < 1024 MB',
      `${runSeconds < 120 ? 'met' : 'MISSED'}, ${peak < 1024 ** 3 ? 'met' : 'MISSED'}`,
    );
  } finally {
    await ch.close();
    if (!dataDir) fs.rmSync(home, { recursive: true, force: true });
  }
}

/** Purchasers, orders and product views made inside the engine (INSERT … SELECT from numbers()). */
async function makeEvents(ch: ClickHouse): Promise<void> {
  // Orders: every purchaser has one, the rest go to purchasers with a heavy-tailed propensity
  // (purchaser ⌊P·u^1.5⌋ for uniform u: a few buy hundreds of times, most a few times); each
  // purchaser stops buying at a day of their own (a third never stop) and spends around a level
  // of their own; 40 product categories of 25 products, each purchaser favouring one.
  await ch.command(
    `INSERT INTO events_store (message_id, profile_id, type, event, timestamp, received_at, channel, order_id, revenue, currency, properties, version)
     WITH if(number < {purchasers:UInt64}, number,
             toUInt64({purchasers:UInt64} * pow((cityHash64(number, 7) % 1000000) / 1000000, 1.5))) AS who,
          cityHash64(who) AS h,
          if(h % 3 = 0, 0, h % 300) AS stopped_days_ago
     SELECT concat('o', toString(number)), concat('p', toString(who)), 'track', 'Order Completed',
            now64(3) - toIntervalSecond((stopped_days_ago * 86400) + cityHash64(number) % ((400 - stopped_days_ago) * 86400)),
            now64(3), 'web', concat('o', toString(number)),
            toDecimal64((10 + h % 90) * (0.5 + (cityHash64(number, 1) % 1000) / 1000), 4), 'USD',
            concat('{"order_id":"o', toString(number), '","products":[{"product_id":"sku-', toString((h % 40) * 25 + cityHash64(number, 2) % 25), '"}]}'),
            1
     FROM numbers({orders:UInt64})`,
    { purchasers, orders },
  );
  await ch.command(
    `INSERT INTO events_store (message_id, profile_id, type, event, timestamp, received_at, channel, properties, version)
     WITH number % {purchasers:UInt64} AS who, cityHash64(who) AS h
     SELECT concat('v', toString(number)), concat('p', toString(who)), 'track', 'Product Viewed',
            now64(3) - toIntervalSecond(cityHash64(number, 3) % (400 * 86400)), now64(3), 'web',
            concat('{"product_id":"sku-', toString((h % 40) * 25 + cityHash64(number, 4) % 25), '"}'), 1
     FROM numbers({views:UInt64})`,
    { purchasers, views },
  );
  await ch.command('OPTIMIZE TABLE events_store FINAL');
}

main().catch((error: unknown) => {
  console.error(error);
  process.exit(1);
});
