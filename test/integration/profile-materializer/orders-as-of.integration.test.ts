import fs from 'node:fs';
import path from 'node:path';
import type { ClickHouse } from '../../../services/common/clickhouse/client-factory';
import { dateTime64Text } from '../../../services/common/clickhouse/datetime64';
import { defaultMigrationsDirectory } from '../../../services/common/clickhouse/migrations';
import { quoteIdentifier, splitStatements } from '../../../services/common/clickhouse/sql-text';
import { parseRates } from '../../../services/profile-materializer/rfm/money';
import type { RfmSettings } from '../../../services/profile-materializer/rfm/rfm';
import { writeRfmSettings } from '../../../services/profile-materializer/rfm/rfm.repository';
import { Random } from '../../support/btyd-population';
import type { StoreEvent } from '../../support/shop-population';
import { embeddedHome, freshDatabase } from './materializer-test-env';

/**
 * orders_as_of reads the order events kept by order key as they arrive (order_events_store,
 * migration 0025). Its orders must be exactly those of its first definition (0019), which read
 * every event of the events view: installed here under another name, from the migration file
 * itself, and compared row for row at several as-of times, on a population with duplicates
 * (identical replays, later receipts that moved the event to another profile, an older receipt
 * arriving last), refunds (partial, full, above the value, without an order id, after the as-of
 * time, in another currency), currencies with and without a rate, orders without an order id,
 * orders with several purchase events, merged profiles, and events that arrived before the
 * settings named them (copied by writeRfmSettings) as well as after (the materialized view), or
 * while a name was out of the settings.
 */
jest.setTimeout(180_000);

const home = embeddedHome('orders-as-of');
const asOf = Date.UTC(2026, 5, 30, 12, 0, 0);
const DAY = 86_400_000;
const settings = (purchaseEvents: string[]): RfmSettings => ({
  purchaseEvents,
  refundEvents: ['Order Refunded'],
  windowDays: 365,
  rates: parseRates('EUR=1.5,GBP=1.25', 'USD'),
  reportingCurrency: 'USD',
});

let ch: ClickHouse;

/** The 0019 definition of orders_as_of over the events view, as `orders_from_events`. */
async function installFirstDefinition(): Promise<void> {
  const file = fs.readFileSync(path.join(defaultMigrationsDirectory(), '0019_predictions.sql'), 'utf8');
  const statement = splitStatements(file).find((s) => s.includes('VIEW IF NOT EXISTS ${database}.orders_as_of'));
  expect(statement).toBeDefined();
  await ch.command(
    statement!
      .replace('${database}.orders_as_of', '${database}.orders_from_events')
      .replaceAll('${database}', quoteIdentifier(ch.database)),
  );
}

function population(seed: number): {
  early: StoreEvent[];
  late: StoreEvent[];
  copies: StoreEvent[];
  aliases: [string, string][];
} {
  const random = new Random(seed);
  const pick = <T>(items: readonly T[]): T => items[Math.floor(random.next() * items.length)]!;
  let sequence = 0;
  const event = (profile: string, name: string, at: number, fields: Partial<StoreEvent> = {}): StoreEvent => {
    sequence += 1;
    const orderId = fields.order_id ?? '';
    return {
      message_id: `m${seed}-${sequence}`,
      profile_id: profile,
      type: 'track',
      event: name,
      name: '',
      timestamp: at,
      received_at: at,
      channel: 'web',
      order_id: orderId,
      revenue: null,
      currency: '',
      properties: JSON.stringify({ order_id: orderId }),
      version: at + 1_000,
      ...fields,
    };
  };
  const money = (): string => (1 + Math.floor(random.next() * 20_000) / 100).toFixed(2);
  const events: StoreEvent[] = [];
  const copies: StoreEvent[] = [];
  for (let p = 0; p < 300; p++) {
    const profile = `p${p}`;
    const orders = 1 + Math.floor(random.next() * 6);
    for (let o = 0; o < orders; o++) {
      const at = asOf - Math.floor(random.next() * 400 * DAY) + Math.floor(random.next() * 40) * DAY - 20 * DAY;
      const orderId = random.next() < 0.1 ? '' : `o${p}-${o}`;
      const currency = pick(['USD', 'USD', 'EUR', 'GBP', 'JPY', '']);
      const revenue = random.next() < 0.05 ? null : money();
      const name = random.next() < 0.15 ? 'Store Purchase' : 'Order Completed';
      const purchase = event(profile, name, at, { order_id: orderId, revenue, currency });
      events.push(purchase);
      const roll = random.next();
      if (roll < 0.08)
        copies.push({ ...purchase }); // an identical replay
      else if (roll < 0.14) {
        // A later receipt: stitched to another profile, its clock-skew correction moved the time.
        copies.push({
          ...purchase,
          profile_id: `p${(p + 1) % 300}`,
          timestamp: at - 3_600_000,
          version: purchase.version + 5,
        });
      } else if (roll < 0.18) {
        // An older receipt arriving last: it must lose to the one already there.
        copies.push({ ...purchase, revenue: '999.00', version: purchase.version - 500 });
      }
      if (orderId !== '' && random.next() < 0.1) {
        // A second purchase event of the same order, sometimes at the very same time.
        const second = random.next() < 0.5 ? at : at + Math.floor(random.next() * 3 * DAY) - DAY;
        events.push(
          event(`p${(p + 7) % 300}`, 'Order Completed', second, {
            order_id: orderId,
            revenue: money(),
            currency: 'USD',
          }),
        );
      }
      const refunds = random.next();
      if (refunds < 0.25) {
        const refundAt = at + Math.floor(random.next() * 30 * DAY);
        const kind = random.next();
        const fields: Partial<StoreEvent> =
          kind < 0.3
            ? { order_id: orderId, revenue: null } // a full refund
            : kind < 0.5
              ? { order_id: orderId, revenue: '5000.00', currency: 'USD' } // above the value
              : kind < 0.6
                ? { order_id: '', revenue: money(), currency: 'USD' } // without an order id: no refund
                : { order_id: orderId, revenue: money(), currency: pick(['USD', 'EUR', 'JPY']) };
        const r = event(profile, 'Order Refunded', refundAt, fields);
        events.push(r);
        if (random.next() < 0.2) copies.push({ ...r }); // a replayed refund counts once
      }
    }
    events.push(event(profile, 'Product Viewed', asOf - Math.floor(random.next() * 100 * DAY)));
  }
  const aliases: [string, string][] = [];
  for (let p = 1; p < 300; p += 17) aliases.push([`p${p}`, `p${p - 1}`]);
  const cut = Math.floor(events.length / 2);
  return { early: events.slice(0, cut), late: events.slice(cut), copies, aliases };
}

async function insertEvents(events: readonly StoreEvent[]): Promise<void> {
  await ch.insert(
    'events_store',
    events.map((e) => ({ ...e, timestamp: dateTime64Text(e.timestamp), received_at: dateTime64Text(e.received_at) })),
  );
}

type OrderRow = { profile_id: string; order_key: string; order_time: string; net_units: string };

async function orders(view: string, at: number): Promise<OrderRow[]> {
  return ch.query<OrderRow>(
    `SELECT profile_id, order_key, toString(order_time) AS order_time, toString(net_units) AS net_units
     FROM ${view}(as_of = fromUnixTimestamp64Milli(toInt64({at:Int64}), 'UTC'))
     ORDER BY order_key`,
    { at },
  );
}

beforeAll(async () => {
  ch = await freshDatabase(home);
  await installFirstDefinition();
});

afterAll(async () => {
  await ch.close();
});

describe('orders_as_of over order_events_store', () => {
  it('has exactly the orders of its first definition over every event', async () => {
    const { early, late, copies, aliases } = population(7);
    // Copies stay in parts of their own until read (FINAL collapses them), as between merges.
    await ch.command('SYSTEM STOP MERGES events_store');
    await ch.command('SYSTEM STOP MERGES order_events_store');
    // Events before any settings: copied when the settings name them.
    await insertEvents(early);
    await writeRfmSettings(ch, settings(['Order Completed']), 1);
    // Events after: kept by the materialized view as they are inserted.
    await insertEvents(late);
    await insertEvents(copies);
    await ch.insert(
      'profile_aliases_store',
      aliases.map(([absorbed, surviving], i) => ({
        absorbed_profile_id: absorbed,
        surviving_profile_id: surviving,
        merged_at: dateTime64Text(asOf - DAY),
        version: i + 1,
      })),
    );

    const times = [asOf, asOf - 30 * DAY, asOf - 200 * DAY, asOf + 60 * DAY];
    for (const at of times) expect(await orders('orders_as_of', at)).toEqual(await orders('orders_from_events', at));

    // A settings change that adds a purchase event copies its past events; then again equal.
    const before = (await orders('orders_as_of', asOf)).length;
    await writeRfmSettings(ch, settings(['Order Completed', 'Store Purchase']), 2);
    const now = await orders('orders_as_of', asOf);
    expect(now.length).toBeGreaterThan(before);
    expect(now).toEqual(await orders('orders_from_events', asOf));
    for (const at of times) expect(await orders('orders_as_of', at)).toEqual(await orders('orders_from_events', at));

    // A name dropped from the settings and added again: what arrived in between is copied then.
    await writeRfmSettings(ch, settings(['Order Completed']), 3);
    const between = {
      ...early[0]!,
      message_id: 'between',
      order_id: 'o-between',
      event: 'Store Purchase',
      revenue: '12.50',
    };
    await insertEvents([{ ...between, properties: JSON.stringify({ order_id: 'o-between' }) }]);
    await writeRfmSettings(ch, settings(['Order Completed', 'Store Purchase']), 4);
    const again = await orders('orders_as_of', asOf);
    expect(again.some((row) => row.order_key === 'o-between')).toBe(true);
    expect(again).toEqual(await orders('orders_from_events', asOf));

    // The population has what the test claims: merged profiles, refunds, duplicates, no-rate currencies.
    const [shape] = await ch.query<Record<string, string>>(
      `SELECT toString(countIf(profile_id IN (SELECT absorbed_profile_id FROM profile_aliases_store))) AS absorbed,
              toString(countIf(event = 'Order Refunded')) AS refunds,
              toString(count() - uniqExact(message_id)) AS copies,
              toString(countIf(currency = 'JPY')) AS unrated
       FROM events_store`,
    );
    for (const figure of Object.values(shape!)) expect(Number(figure)).toBeGreaterThan(10);
    const merged = now.filter((row) => aliases.some(([absorbed]) => row.profile_id === absorbed));
    expect(merged).toEqual([]);
  });
});
