import type { ClickHouse } from '../../common/clickhouse/client-factory';
import type { Component } from '../../common/lifecycle';
import type { Logger } from '../../common/logger';
import { errorMessage } from '../../common/errors';
import { dateTime64Text } from '../../common/clickhouse/datetime64';
import { integerLiteral } from '../../common/clickhouse/sql-text';

/** What one snapshot wrote. */
export interface RfmSnapshot {
  readonly version: number;
  readonly computedAt: number;
  readonly purchasers: number;
  /** Profiles staged in rfm_snapshot_changes under `version` (see stageRfmChanges). */
  readonly changed: number;
}

let lastVersion = 0;

/**
 * Writes the RFM snapshot as of `asOf` (epoch ms) and makes it the one the rfm view reads
 * (migration 0010): rows first, under a version of their own; then its changes against the
 * previous complete snapshot (0013); the catalogue row last, so a snapshot that fails half-way is
 * never read, and one that is read always has its changes staged. Then drops the partitions of
 * snapshots older than the previous complete one (kept for reads still running against it) and
 * of failed ones.
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
     SELECT toUInt64(${integerLiteral(version)}), profile_id, last_purchase_at, recency_days, frequency, monetary, monetary_cents, r_score, f_score, m_score, label, computed_at
     FROM rfm_as_of(as_of = fromUnixTimestamp64Milli(toInt64(${integerLiteral(asOf)}), 'UTC'))`,
  );
  // A plain count is exact here: the partition is this snapshot's alone and written once.
  const [written] = await ch.query<{ n: string }>(
    'SELECT count() AS n FROM rfm_snapshot_rows_store WHERE version = {version:UInt64}',
    { version },
  );
  const purchasers = Number(written?.n ?? 0);
  const changed = await stageRfmChanges(ch, version);
  await ch.insert('rfm_snapshots_store', [{ version, computed_at: dateTime64Text(asOf), purchasers }]);

  const complete = await ch.query<{ version: string }>(
    'SELECT DISTINCT version FROM rfm_snapshots_store ORDER BY version DESC LIMIT 2',
  );
  const keepFrom = complete.at(-1)?.version ?? String(version);
  const stale = await ch.query<{ version: string }>(
    'SELECT DISTINCT version FROM rfm_snapshot_rows_store WHERE version < {keep:UInt64}',
    { keep: keepFrom },
  );
  for (const { version: old } of stale) {
    await ch.command('ALTER TABLE rfm_snapshot_rows_store DROP PARTITION {old:UInt64}', { old });
  }
  return { version, computedAt: asOf, purchasers, changed };
}

/**
 * Stages in rfm_snapshot_changes the profiles whose row in snapshot `version` differs from the
 * latest complete snapshot (none on a first snapshot: then every purchaser is new), in one
 * INSERT … SELECT inside ClickHouse; returns how many. Each snapshot holds one row per profile,
 * so a profile with one row across both is newly in or gone, and one with two rows changed when
 * they differ.
 *
 * recency_days is left out: it grows with the clock for every purchaser, and a change that
 * matters moves r_score. Frequency, money and last purchase are in: ProfileUpdates carry the
 * snapshot's figures, so a purchase reaches them through this list.
 */
export async function stageRfmChanges(ch: ClickHouse, version: number): Promise<number> {
  const [latest] = await ch.query<{ version: string }>('SELECT max(version) AS version FROM rfm_snapshots_store');
  const previous = latest?.version ?? '0';
  await ch.command(
    `INSERT INTO rfm_snapshot_changes (version, profile_id)
     SELECT toUInt64(${integerLiteral(version)}), profile_id
     FROM rfm_snapshot_rows_store
     WHERE version IN (${integerLiteral(previous)}, ${integerLiteral(version)})
     GROUP BY profile_id
     HAVING count() = 1
         OR min(tuple(last_purchase_at, frequency, monetary_cents, r_score, f_score, m_score, label))
            != max(tuple(last_purchase_at, frequency, monetary_cents, r_score, f_score, m_score, label))`,
  );
  // Exact: the rows under `version` were written by this one statement.
  const [staged] = await ch.query<{ n: string }>(
    'SELECT count() AS n FROM rfm_snapshot_changes WHERE version = {version:UInt64}',
    { version },
  );
  return Number(staged?.n ?? 0);
}

/** Staged changes of snapshot `version` after profile id `after`, at most `limit`, in id order (a primary-key read). */
export async function rfmChangesPage(ch: ClickHouse, version: number, after: string, limit: number): Promise<string[]> {
  const rows = await ch.query<{ profile_id: string }>(
    `SELECT profile_id FROM rfm_snapshot_changes
     WHERE version = {version:UInt64} AND profile_id > {after:String}
     ORDER BY profile_id LIMIT {limit:UInt32}`,
    { version, after, limit },
  );
  return rows.map((row) => row.profile_id);
}

/**
 * Complete snapshots with staged changes that were never all handed over (the process that wrote
 * them stopped first, killed say), oldest first: a starting snapshotter hands them over before its
 * own snapshot's, or their profiles would keep their old RFM on ProfileUpdates (0020).
 */
export async function snapshotsNotHandedOver(ch: ClickHouse): Promise<number[]> {
  const rows = await ch.query<{ version: string }>(
    `SELECT toString(version) AS version FROM rfm_snapshots_store
     WHERE version IN (SELECT DISTINCT version FROM rfm_snapshot_changes)
       AND version NOT IN (SELECT version FROM rfm_snapshot_handovers)
     GROUP BY version ORDER BY version`,
  );
  return rows.map((row) => Number(row.version));
}

/** Every staged change of snapshot `version` got its ProfileUpdate. */
export async function markHandedOver(ch: ClickHouse, version: number): Promise<void> {
  await ch.insert('rfm_snapshot_handovers', [{ version }]);
}

/**
 * How long after the last snapshot started a requested one may start: `minIntervalMs`, or ten
 * times the last one's duration if longer, so snapshots keep ClickHouse busy a tenth of the time
 * at most however large the events table grows (a snapshot ranks every purchaser: ~0.2 s at 100k
 * events, ~3 s at 10M).
 */
export function snapshotSpacingMs(minIntervalMs: number, lastDurationMs: number): number {
  return Math.max(minIntervalMs, 10 * lastDurationMs);
}

export interface RfmSnapshotterOptions {
  readonly clickhouse: () => ClickHouse;
  readonly logger: Logger;
  /** A snapshot at least this often, so recency (days since last purchase) follows the clock. */
  readonly intervalMs: number;
  /**
   * After a request (new orders, refunds, merges), the next snapshot comes no sooner than this
   * after the last one started, nor sooner than ten times the last one's duration.
   */
  readonly minIntervalMs: number;
  /**
   * Called with each page of profiles whose RFM changed in a snapshot (their next ProfileUpdate),
   * and with an empty list after a snapshot that left none, so that it runs after every snapshot
   * (its own backlog is retried then). A page it rejects is offered again after the next
   * snapshot, before that snapshot's own pages.
   */
  readonly onProfilesChanged?: (profileIds: readonly string[]) => Promise<void>;
  /** Profiles per onProfilesChanged call (5 000 unless a test says otherwise). */
  readonly changesPageSize?: number;
  readonly now?: () => number;
}

/**
 * Keeps the rfm view's snapshot fresh: one at start, one every `intervalMs`, and one soon
 * after `request()` (called once profile updates for batches with orders, refunds or merges are
 * out), spaced by `minIntervalMs` and by ten times the last one's duration (snapshotSpacingMs),
 * because a snapshot reads every purchase event. The snapshot is also the RFM every ProfileUpdate
 * carries, so this spacing is how long an order takes to reach them.
 * After each, the profiles whose RFM changed are handed to `onProfilesChanged` a page at a time.
 * Snapshots and hand-overs run one at a time in the background (so a later snapshot's pages never
 * overtake an earlier one's); a failure is logged and retried at the next occasion (the view keeps
 * showing the last complete snapshot; unpublished pages wait, staged in ClickHouse, for the next
 * snapshot). A snapshot whose changes were all handed over is marked so in ClickHouse; the first
 * snapshot of a process hands over first the changes of complete snapshots that are not, which a
 * process killed in between left behind (unless they outlived the staged table's TTL).
 */
export function createRfmSnapshotter(
  options: RfmSnapshotterOptions,
): Component & { request(): void; readonly snapshots: () => number; settled(): Promise<void> } {
  const logger = options.logger.child({ component: 'rfm-snapshot' });
  const now = options.now ?? Date.now;
  const pageSize = options.changesPageSize ?? 5_000;
  let running: Promise<void> | null = null;
  let pending = false;
  let lastStarted = 0;
  let lastDurationMs = 0;
  let snapshots = 0;
  let stopped = false;
  let interval: NodeJS.Timeout | undefined;
  let delayed: NodeJS.Timeout | undefined;
  /** Snapshots whose changes are not all handed over yet, oldest first, with the last profile id handed over. */
  const unpublished: Array<{ version: number; after: string }> = [];
  /** Whether the snapshots an earlier process left unpublished are queued (done before the first snapshot). */
  let recovered = !options.onProfilesChanged;

  const recoverUnpublished = async (): Promise<void> => {
    if (recovered) return;
    try {
      const versions = await snapshotsNotHandedOver(options.clickhouse());
      for (const version of versions) unpublished.push({ version, after: '' });
      recovered = true;
      if (versions.length > 0)
        logger.info({ versions }, 'rfm snapshots whose changes were not all handed over: handed over again first');
    } catch (error) {
      logger.warn(
        { error: errorMessage(error) },
        'finding rfm snapshots left unpublished failed; retried next snapshot',
      );
    }
  };

  const handOverChanges = async (): Promise<void> => {
    const onProfilesChanged = options.onProfilesChanged;
    if (!onProfilesChanged) return;
    let profiles = 0;
    try {
      while (unpublished.length > 0 && !stopped) {
        const cursor = unpublished[0]!;
        const page = await rfmChangesPage(options.clickhouse(), cursor.version, cursor.after, pageSize);
        if (page.length > 0) await onProfilesChanged(page);
        profiles += page.length;
        cursor.after = page.at(-1) ?? cursor.after;
        if (page.length < pageSize) {
          await markHandedOver(options.clickhouse(), cursor.version);
          unpublished.shift();
        }
      }
      if (profiles === 0 && !stopped) await onProfilesChanged([]);
    } catch (error) {
      logger.warn(
        { error: errorMessage(error), version: unpublished[0]?.version, snapshotsWaiting: unpublished.length },
        'handing over profiles whose RFM changed failed; retried after the next snapshot',
      );
    }
    if (profiles > 0) logger.info({ profiles }, 'profiles whose RFM changed handed over for profile updates');
  };

  const run = (): void => {
    if (stopped) return;
    if (running) {
      pending = true;
      return;
    }
    pending = false;
    lastStarted = now();
    // Queued first so that an earlier process's unpublished snapshots go before this one's.
    running = recoverUnpublished()
      .then(() => writeRfmSnapshot(options.clickhouse(), lastStarted))
      .finally(() => (lastDurationMs = now() - lastStarted))
      .then((snapshot) => {
        snapshots += 1;
        if (snapshot.changed > 0 && options.onProfilesChanged)
          unpublished.push({ version: snapshot.version, after: '' });
        logger.info({ ...snapshot, seconds: (now() - lastStarted) / 1000 }, 'rfm snapshot written');
      })
      .catch((error: unknown) =>
        logger.warn({ error: errorMessage(error) }, 'rfm snapshot failed; the rfm view keeps the last complete one'),
      )
      .then(handOverChanges)
      .finally(() => {
        running = null;
        if (pending) schedule();
      });
  };

  const schedule = (): void => {
    if (stopped || delayed) return;
    const wait = Math.max(0, lastStarted + snapshotSpacingMs(options.minIntervalMs, lastDurationMs) - now());
    delayed = setTimeout(() => {
      delayed = undefined;
      run();
    }, wait);
    delayed.unref();
  };

  return {
    name: 'rfm-snapshot',
    snapshots: () => snapshots,
    /** Resolves once the snapshot under way, if any, is written (never rejects). */
    settled: () => running ?? Promise.resolve(),
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
