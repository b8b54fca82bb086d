import type { ClickHouse } from '../../common/clickhouse/client-factory';
import type { Component } from '../../common/lifecycle';
import type { Logger } from '../../common/logger';
import { errorMessage } from '../../common/errors';
import { chTime } from '../store-rows';

/** What one snapshot wrote. */
export interface RfmSnapshot {
  readonly version: number;
  readonly computedAt: number;
  readonly purchasers: number;
}

let lastVersion = 0;

/**
 * Writes the RFM snapshot as of `asOf` (epoch ms) and makes it the one the rfm view reads
 * (migration 0010): rows first, under a version of their own; the catalogue row last, so a
 * snapshot that fails half-way is never read. Then drops the partitions of snapshots older than
 * the previous complete one (kept for reads still running against it) and of failed ones.
 *
 * Exactness: the rows are `rfm_as_of(as_of = asOf)` verbatim — the exact RFM of that instant
 * (FINAL events, one order per order key, integer money, quintiles among all purchasers; 0006).
 */
export async function writeRfmSnapshot(ch: ClickHouse, asOf: number): Promise<RfmSnapshot> {
  lastVersion = Math.max(lastVersion + 1, asOf);
  const version = lastVersion;
  await ch.command(
    `INSERT INTO rfm_snapshot_rows_store
       (version, profile_id, last_purchase_at, recency_days, frequency, monetary, monetary_cents, r_score, f_score, m_score, label, computed_at)
     SELECT {version:UInt64}, profile_id, last_purchase_at, recency_days, frequency, monetary, monetary_cents, r_score, f_score, m_score, label, computed_at
     FROM rfm_as_of(as_of = fromUnixTimestamp64Milli({as_of:Int64}, 'UTC'))`,
    { version, as_of: asOf },
  );
  // A plain count is exact here: the partition is this snapshot's alone and written once.
  const [written] = await ch.query<{ n: string }>('SELECT count() AS n FROM rfm_snapshot_rows_store WHERE version = {version:UInt64}', { version });
  const purchasers = Number(written?.n ?? 0);
  await ch.insert('rfm_snapshots_store', [{ version, computed_at: chTime(asOf), purchasers }]);

  const complete = await ch.query<{ version: string }>('SELECT DISTINCT version FROM rfm_snapshots_store ORDER BY version DESC LIMIT 2');
  const keepFrom = complete.at(-1)?.version ?? String(version);
  const stale = await ch.query<{ version: string }>(
    'SELECT DISTINCT version FROM rfm_snapshot_rows_store WHERE version < {keep:UInt64}',
    { keep: keepFrom },
  );
  for (const { version: old } of stale) {
    await ch.command('ALTER TABLE rfm_snapshot_rows_store DROP PARTITION {old:UInt64}', { old });
  }
  return { version, computedAt: asOf, purchasers };
}

export interface RfmSnapshotterOptions {
  readonly clickhouse: () => ClickHouse;
  readonly logger: Logger;
  /** A snapshot at least this often, so recency (days since last purchase) follows the clock. */
  readonly intervalMs: number;
  /** After a request (new orders, refunds, merges), the next snapshot comes no sooner than this after the last one. */
  readonly minIntervalMs: number;
  readonly now?: () => number;
}

/**
 * Keeps the rfm view's snapshot fresh: one at start, one every `intervalMs`, and one soon
 * after `request()` (called once profile updates for batches with orders, refunds or merges are
 * out), at most one every `minIntervalMs` because a snapshot reads every purchase event.
 * Snapshots run one at a time in the background; a failure is logged and retried at the next
 * occasion (the view keeps showing the last complete snapshot).
 */
export function createRfmSnapshotter(options: RfmSnapshotterOptions): Component & { request(): void; readonly snapshots: () => number } {
  const logger = options.logger.child({ component: 'rfm-snapshot' });
  const now = options.now ?? Date.now;
  let running: Promise<void> | null = null;
  let pending = false;
  let lastStarted = 0;
  let snapshots = 0;
  let stopped = false;
  let interval: NodeJS.Timeout | undefined;
  let delayed: NodeJS.Timeout | undefined;

  const run = (): void => {
    if (stopped) return;
    if (running) {
      pending = true;
      return;
    }
    pending = false;
    lastStarted = now();
    running = writeRfmSnapshot(options.clickhouse(), lastStarted)
      .then((snapshot) => {
        snapshots += 1;
        logger.info({ ...snapshot, seconds: (now() - lastStarted) / 1000 }, 'rfm snapshot written');
      })
      .catch((error: unknown) => logger.warn({ error: errorMessage(error) }, 'rfm snapshot failed; the rfm view keeps the last complete one'))
      .finally(() => {
        running = null;
        if (pending) schedule();
      });
  };

  const schedule = (): void => {
    if (stopped || delayed) return;
    const wait = Math.max(0, lastStarted + options.minIntervalMs - now());
    delayed = setTimeout(() => {
      delayed = undefined;
      run();
    }, wait);
    delayed.unref();
  };

  return {
    name: 'rfm-snapshot',
    snapshots: () => snapshots,
    request() {
      if (running) pending = true;
      else schedule();
    },
    async start() {
      run();
      interval = setInterval(run, options.intervalMs);
      interval.unref();
    },
    async stop() {
      stopped = true;
      if (interval) clearInterval(interval);
      if (delayed) clearTimeout(delayed);
      await running;
    },
    isHealthy: () => true,
    isReady: () => true,
  };
}
