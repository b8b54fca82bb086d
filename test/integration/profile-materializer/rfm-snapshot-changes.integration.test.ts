import type { ClickHouse } from '../../../services/common/clickhouse/client-factory';
import { dateTime64Text } from '../../../services/common/clickhouse/datetime64';
import { parseRates } from '../../../services/profile-materializer/rfm/money';
import {
  createRfmSnapshotter,
  rfmChangesPage,
  writeRfmSnapshot,
} from '../../../services/profile-materializer/rfm/rfm-snapshot';
import { writeRfmSettings } from '../../../services/profile-materializer/rfm/rfm.repository';
import { waitFor } from '../../support/wait-for';
import { embeddedHome, freshDatabase, quietLogger } from './materializer-test-env';

/**
 * Which profiles an RFM snapshot stages as changed (the ones it republishes), against real chDB:
 * orders are written straight into events_store, snapshots taken at controlled times.
 */
jest.setTimeout(180_000);
const DAY = 86_400_000;
const home = embeddedHome('rfm-snapshot-changes');
let seq = 0;

describe('RFM snapshot changes (staged in ClickHouse)', () => {
  let ch: ClickHouse;
  const asOf = Date.UTC(2026, 10, 23, 12, 0, 0);
  beforeEach(async () => {
    ch = await freshDatabase(home);
    await writeRfmSettings(ch, {
      purchaseEvents: ['Order Completed'],
      refundEvents: ['Order Refunded'],
      windowDays: 365,
      rates: parseRates('', 'USD'),
      reportingCurrency: 'USD',
    });
  });
  afterEach(async () => ch.close());

  const orders = async (
    ...rows: Array<[profile: string, at: number, orderId: string, revenue: number]>
  ): Promise<void> => {
    await ch.insert(
      'events_store',
      rows.map(([profile, at, orderId, revenue]) => {
        seq += 1;
        return {
          message_id: `m${seq}`,
          profile_id: profile,
          type: 'track',
          event: 'Order Completed',
          timestamp: dateTime64Text(at),
          received_at: dateTime64Text(at),
          channel: 'web',
          order_id: orderId,
          revenue,
          currency: 'USD',
          version: seq,
        };
      }),
    );
  };
  const changes = async (version: number, pageSize = 1_000): Promise<string[][]> => {
    const pages: string[][] = [];
    for (let after = ''; ; ) {
      const page = await rfmChangesPage(ch, version, after, pageSize);
      if (page.length === 0) return pages;
      pages.push(page);
      after = page.at(-1)!;
    }
  };

  it('holds exactly the profiles newly in, gone, or with other figures, scores or label; not those whose recency only grew', async () => {
    await orders(
      ['p1', asOf - 1 * DAY, 'o1', 25],
      ['p2', asOf - 2 * DAY, 'o2', 20],
      ['p3', asOf - 3 * DAY, 'o3', 30],
      ['p4', asOf - 4 * DAY, 'o4', 40],
      ['p5', asOf - 300 * DAY, 'o5', 50],
    );
    const first = await writeRfmSnapshot(ch, asOf);
    expect(first).toMatchObject({ purchasers: 5, changed: 5 }); // no snapshot before: all new
    expect(await changes(first.version)).toEqual([['p1', 'p2', 'p3', 'p4', 'p5']]);

    // A day later every recency grew by one day, and nothing else changed: nothing staged.
    const second = await writeRfmSnapshot(ch, asOf + DAY + 3_600_000);
    expect(second).toMatchObject({ purchasers: 5, changed: 0 });
    expect(await changes(second.version)).toEqual([]);

    // p6 buys (new), p2 buys again (figures), p5 is merged into p4 (p5 gone, p4 combined); p1
    // does nothing, but two people now bought more recently and two spent more: its scores drop.
    await orders(['p6', asOf + 1.5 * DAY, 'o6', 100], ['p2', asOf + 1.5 * DAY, 'o7', 20]);
    await ch.insert('profile_aliases_store', [
      {
        absorbed_profile_id: 'p5',
        surviving_profile_id: 'p4',
        merged_at: dateTime64Text(asOf + DAY),
        message_id: 'merge-1',
        version: 1,
      },
    ]);
    const third = await writeRfmSnapshot(ch, asOf + 2 * DAY);
    const staged = (await changes(third.version)).flat();
    expect(staged).toEqual(expect.arrayContaining(['p1', 'p2', 'p4', 'p5', 'p6']));
    const rows = await ch.query<{ profile_id: string; v: string; row: string }>(
      `SELECT profile_id, toString(version) AS v, toString(tuple(last_purchase_at, frequency, monetary_cents, r_score, f_score, m_score, label)) AS row
       FROM rfm_snapshot_rows_store WHERE version IN ({a:UInt64}, {b:UInt64})`,
      { a: second.version, b: third.version },
    );
    const rowOf = (id: string, version: number): string | undefined =>
      rows.find((r) => r.profile_id === id && r.v === String(version))?.row;
    const scoresOfP1 = (version: number): Promise<unknown[]> =>
      ch.query(
        "SELECT r_score, f_score, m_score FROM rfm_snapshot_rows_store WHERE profile_id = 'p1' AND version = {v:UInt64}",
        { v: version },
      );
    expect(await scoresOfP1(second.version)).toEqual([{ r_score: 5, f_score: 1, m_score: 2 }]);
    expect(await scoresOfP1(third.version)).toEqual([{ r_score: 3, f_score: 1, m_score: 1 }]);
    // Staged exactly when the rows differ (p3's r_score moved too; nobody else is left out or in).
    for (const id of ['p1', 'p2', 'p3', 'p4', 'p5', 'p6']) {
      expect(`${id} ${staged.includes(id) ? 'staged' : 'not staged'}`).toBe(
        `${id} ${rowOf(id, second.version) === rowOf(id, third.version) ? 'not staged' : 'staged'}`,
      );
    }
    // Pages are in profile id order and bounded.
    expect(await changes(third.version, 2)).toEqual(chunk([...staged].sort(), 2));
  });

  it('the snapshotter hands the changes over page by page, and a page that failed again after the next snapshot', async () => {
    const now = Date.now();
    await orders(['p1', now - DAY, 'o1', 10], ['p2', now - 2 * DAY, 'o2', 20], ['p3', now - 3 * DAY, 'o3', 30]);
    const calls: string[][] = [];
    let failures = 1;
    const snapshotter = createRfmSnapshotter({
      clickhouse: () => ch,
      logger: quietLogger,
      intervalMs: 3_600_000,
      minIntervalMs: 1,
      changesPageSize: 2,
      onProfilesChanged: async (ids) => {
        calls.push([...ids]);
        if (ids.length > 0 && failures-- > 0) throw new Error('broker down');
      },
    });
    try {
      await snapshotter.start(); // first snapshot: all three are new; the first page fails
      await waitFor(() => expect(calls).toEqual([['p1', 'p2']]));
      snapshotter.request(); // nothing changed since, but the failed page and the rest go now
      await waitFor(() => expect(calls).toEqual([['p1', 'p2'], ['p1', 'p2'], ['p3']]));
      await waitFor(() => expect(snapshotter.snapshots()).toBe(2));
      snapshotter.request(); // nothing at all: called with none, so the callee's own backlog can go
      await waitFor(() => expect(calls).toEqual([['p1', 'p2'], ['p1', 'p2'], ['p3'], []]));
    } finally {
      await snapshotter.stop();
    }
  });

  it("a snapshot whose process was killed before handing its changes over is handed over by the next process's first", async () => {
    const now = Date.now();
    await orders(['p1', now - DAY, 'o1', 10], ['p2', now - 2 * DAY, 'o2', 20], ['p3', now - 3 * DAY, 'o3', 30]);
    // The killed process: its snapshot is complete (and the rfm view reads it), its changes staged, none published.
    const orphan = await writeRfmSnapshot(ch, now - 60_000);
    expect(orphan).toMatchObject({ purchasers: 3, changed: 3 });
    // Found by the chaos soak: the next snapshot staged nothing (nothing changed since), so
    // p1–p3 kept their RFM-less ProfileUpdates for good.
    const handedOver = async (): Promise<string[][]> => {
      const calls: string[][] = [];
      const snapshotter = createRfmSnapshotter({
        clickhouse: () => ch,
        logger: quietLogger,
        intervalMs: 3_600_000,
        minIntervalMs: 1,
        onProfilesChanged: async (ids) => void calls.push([...ids]),
      });
      try {
        await snapshotter.start();
        await waitFor(() => expect(snapshotter.snapshots()).toBe(1));
        await waitFor(() => expect(calls.length).toBeGreaterThan(0));
        await snapshotter.stop();
        return calls;
      } finally {
        await snapshotter.stop();
      }
    };
    expect(await handedOver()).toEqual([['p1', 'p2', 'p3']]);
    // Handed over and marked: the process after that has nothing left over.
    expect(await handedOver()).toEqual([[]]);
  });
});

function chunk<T>(items: readonly T[], size: number): T[][] {
  const out: T[][] = [];
  for (let i = 0; i < items.length; i += size) out.push(items.slice(i, i + size));
  return out;
}
