import type { ClickHouse } from '../../../services/common/clickhouse/client-factory';
import { computeRfm, DAY_MS, type RfmEvent, type RfmSettings } from '../../../services/profile-materializer/rfm/rfm';
import { microsToDecimalString, parseRates, toMicros } from '../../../services/profile-materializer/rfm/money';
import { readRfm, writeRfmSettings } from '../../../services/profile-materializer/rfm/rfm.repository';
import { writeRfmSnapshot } from '../../../services/profile-materializer/rfm/rfm-snapshot';
import { embeddedHome, freshDatabase } from './materializer-test-env';
import { mulberry32 } from '../../../services/cli/demo/demo-population';

/**
 * The SQL of migration 0006 against the TypeScript reference (rfm.ts), on messy data written
 * straight into the store: duplicated rows and orders, refunds (partial, full, duplicated,
 * on other profiles), several currencies, merged profiles, orders outside the window.
 */
const settings: RfmSettings = {
  purchaseEvents: ['Order Completed', 'Store Purchase'],
  refundEvents: ['Order Refunded'],
  windowDays: 365,
  rates: parseRates('EUR=1.0825,JPY=0.0067', 'USD'),
  reportingCurrency: 'USD',
};
const asOf = Date.UTC(2026, 10, 23, 9, 30, 0);

interface StoreRow {
  message_id: string;
  profile_id: string;
  type: string;
  event: string;
  timestamp: number;
  received_at: number;
  order_id: string;
  revenue: string | null;
  currency: string;
  version: number;
}

function generate(seed: number): { rows: StoreRow[]; aliases: Map<string, string> } {
  const rand = mulberry32(seed);
  const pick = <T>(xs: readonly T[]): T => xs[Math.floor(rand() * xs.length)]!;
  const rows: StoreRow[] = [];
  const profiles = Array.from({ length: 60 }, (_, i) => `p${String(i).padStart(3, '0')}`);
  let n = 0;
  const add = (
    row: Omit<StoreRow, 'message_id' | 'received_at' | 'version' | 'type'> & { message_id?: string },
  ): StoreRow => {
    n += 1;
    const full: StoreRow = {
      ...row,
      type: 'track',
      received_at: row.timestamp,
      version: row.timestamp,
      message_id: row.message_id ?? `m${n}`,
    };
    rows.push(full);
    return full;
  };
  for (let o = 0; o < 400; o++) {
    const profile = pick(profiles);
    const daysAgo = rand() * 420 - 5; // some in the future, some outside the window
    const cents = Math.floor(rand() * 50_000) + (rand() < 0.05 ? 0 : 1);
    const currency = pick(['', 'USD', 'EUR', 'JPY', 'CHF']);
    const amount = currency === 'JPY' ? String(cents) : microsToDecimalString(BigInt(cents) * 10_000n);
    const orderId = rand() < 0.1 ? '' : `o${o}`;
    const order = add({
      profile_id: profile,
      event: pick(settings.purchaseEvents),
      timestamp: Math.round(asOf - daysAgo * DAY_MS),
      order_id: orderId,
      revenue: rand() < 0.03 ? null : amount,
      currency,
    });
    if (rand() < 0.1) rows.push({ ...order }); // an exact duplicate row (a replay)
    if (orderId && rand() < 0.1) add({ ...order, message_id: undefined, timestamp: order.timestamp + 60_000 }); // the same order reported twice
    if (orderId && rand() < 0.15) {
      const partial = rand() < 0.6;
      const refund = add({
        profile_id: rand() < 0.2 ? pick(profiles) : profile,
        event: 'Order Refunded',
        timestamp: order.timestamp + Math.round(rand() * 10 * DAY_MS),
        order_id: orderId,
        revenue: partial
          ? microsToDecimalString(BigInt(Math.floor(cents / 3)) * 10_000n)
          : rand() < 0.5
            ? null
            : amount,
        currency: partial ? '' : currency,
      });
      if (rand() < 0.3) rows.push({ ...refund });
    }
  }
  for (let i = 0; i < 30; i++)
    add({
      profile_id: pick(profiles),
      event: 'Product Viewed',
      timestamp: asOf - DAY_MS,
      order_id: '',
      revenue: null,
      currency: '',
    });
  // p001 and p002 absorbed into p000; p003 into p004.
  const aliases = new Map([
    ['p001', 'p000'],
    ['p002', 'p000'],
    ['p003', 'p004'],
  ]);
  return { rows, aliases };
}

function toRfmEvents(rows: readonly StoreRow[], aliases: ReadonlyMap<string, string>): RfmEvent[] {
  return rows.map((row) => ({
    messageId: row.message_id,
    profileId: aliases.get(row.profile_id) ?? row.profile_id,
    event: row.event,
    timestamp: row.timestamp,
    orderId: row.order_id === '' ? null : row.order_id,
    amountMicros: row.revenue === null ? null : toMicros(row.revenue),
    currency: row.currency === '' ? null : row.currency,
  }));
}

describe('RFM in SQL (rfm_as_of) against the TypeScript reference', () => {
  const home = embeddedHome('rfm-sql');
  let ch: ClickHouse;

  beforeEach(async () => {
    ch = await freshDatabase(home);
    await writeRfmSettings(ch, settings);
  });
  afterEach(async () => ch.close());

  it.each([1, 2, 3])('agrees on every profile to the cent (seed %i)', async (seed) => {
    const { rows, aliases } = generate(seed);
    const toIso = (ms: number): string => new Date(ms).toISOString().replace('T', ' ').replace('Z', '');
    await ch.insert(
      'events_store',
      rows.map((row) => ({ ...row, timestamp: toIso(row.timestamp), received_at: toIso(row.received_at) })),
    );
    await ch.insert(
      'profile_aliases_store',
      [...aliases].map(([absorbed, surviving], i) => ({
        absorbed_profile_id: absorbed,
        surviving_profile_id: surviving,
        merged_at: toIso(asOf),
        version: i + 1,
      })),
    );

    const expected = computeRfm(toRfmEvents(rows, aliases), settings, asOf);
    expect(expected.size).toBeGreaterThan(30);
    // Four reads: ClickHouse JIT-compiles an expression after its third use, and a JIT bug
    // (greatest() on Int128) once made only the later reads wrong.
    let actual = new Map<string, unknown>();
    for (let read = 0; read < 4; read++) {
      actual = await readRfm(ch, asOf);
      expect(new Map([...actual].sort())).toEqual(new Map([...expected].sort()));
    }
    for (const absorbed of aliases.keys()) expect(actual.has(absorbed)).toBe(false);

    // Filtering by profile keeps the ranks among all purchasers.
    const some = [...expected.keys()].slice(0, 3);
    const filtered = await readRfm(ch, asOf, some);
    expect(new Map([...filtered].sort())).toEqual(new Map(some.sort().map((id) => [id, expected.get(id)])));
  });
});

describe('RFM snapshots (the rfm view) and per-day activity', () => {
  const home = embeddedHome('rfm-snapshot');
  let ch: ClickHouse;
  const toIso = (ms: number): string => new Date(ms).toISOString().replace('T', ' ').replace('Z', '');

  beforeEach(async () => {
    ch = await freshDatabase(home);
    await writeRfmSettings(ch, settings);
  });
  afterEach(async () => ch.close());

  async function load(seed: number): Promise<{ rows: StoreRow[]; aliases: Map<string, string> }> {
    const generated = generate(seed);
    await ch.insert(
      'events_store',
      generated.rows.map((row) => ({ ...row, timestamp: toIso(row.timestamp), received_at: toIso(row.received_at) })),
    );
    await ch.insert(
      'profile_aliases_store',
      [...generated.aliases].map(([absorbed, surviving], i) => ({
        absorbed_profile_id: absorbed,
        surviving_profile_id: surviving,
        merged_at: toIso(asOf),
        version: i + 1,
      })),
    );
    return generated;
  }

  const viewRows = (): Promise<Record<string, unknown>[]> =>
    ch.query(
      'SELECT profile_id, frequency, toString(monetary_cents) AS cents, r_score, f_score, m_score, label, toUnixTimestamp64Milli(computed_at) AS at FROM rfm ORDER BY profile_id',
    );

  it('is rfm_as_of of the snapshot instant, row for row, and only a complete snapshot is read', async () => {
    const { rows, aliases } = await load(4);
    await expect(ch.query('SELECT count() AS n FROM rfm')).resolves.toEqual([{ n: '0' }]);
    const snapshot = await writeRfmSnapshot(ch, asOf);
    const expected = computeRfm(toRfmEvents(rows, aliases), settings, asOf);
    expect(snapshot.purchasers).toBe(expected.size);
    const fromView = await viewRows();
    expect(fromView).toEqual(
      [...expected.values()]
        .sort((a, b) => (a.profileId < b.profileId ? -1 : 1))
        .map((e) => ({
          profile_id: e.profileId,
          frequency: e.frequency,
          cents: e.monetaryCents.toString(),
          r_score: e.r,
          f_score: e.f,
          m_score: e.m,
          label: e.label,
          at: String(asOf),
        })),
    );

    // Rows of a snapshot that never completed (no catalogue row) are never read.
    await ch.insert('rfm_snapshot_rows_store', [
      {
        version: snapshot.version + 10,
        profile_id: 'half-written',
        last_purchase_at: toIso(asOf),
        recency_days: 0,
        frequency: 1,
        monetary: '1',
        monetary_cents: 100,
        r_score: 5,
        f_score: 5,
        m_score: 5,
        label: 'Champions',
        computed_at: toIso(asOf),
      },
    ]);
    await expect(viewRows()).resolves.toEqual(fromView);

    // A later snapshot replaces the figures; the one before it stays (reads in flight), older ones are dropped.
    const later = asOf + 40 * DAY_MS;
    const second = await writeRfmSnapshot(ch, later);
    const third = await writeRfmSnapshot(ch, later + 1);
    const laterExpected = computeRfm(toRfmEvents(rows, aliases), settings, later + 1);
    expect(await viewRows()).toHaveLength(laterExpected.size);
    await expect(ch.query('SELECT DISTINCT version FROM rfm_snapshot_rows_store ORDER BY version')).resolves.toEqual([
      { version: String(second.version) },
      { version: String(third.version) },
    ]);
  });

  it('answers "did K since T" from profile_activity exactly as from the events view', async () => {
    await load(5);
    // Duplicates of the same messageId and merged profiles are in the data (generate()).
    for (const days of [3, 30, 90, 400]) {
      const since = toIso(asOf - days * DAY_MS);
      const fromActivity = await ch.query<{ profile_id: string }>(
        `SELECT profile_id FROM profile_activity
         WHERE event = 'Order Completed' AND day >= toDate({since:DateTime64(3)}) AND last_at > {since:DateTime64(3)}
         GROUP BY profile_id ORDER BY profile_id`,
        { since },
      );
      const fromEvents = await ch.query<{ profile_id: string }>(
        `SELECT profile_id FROM events WHERE event = 'Order Completed' AND timestamp > {since:DateTime64(3)} GROUP BY profile_id ORDER BY profile_id`,
        { since },
      );
      expect(fromActivity.length).toBeGreaterThan(0);
      expect(fromActivity).toEqual(fromEvents);
    }
  });
});
