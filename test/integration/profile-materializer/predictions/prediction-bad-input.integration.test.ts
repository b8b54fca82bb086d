import type { ClickHouse } from '../../../../services/common/clickhouse/client-factory';
import { dateTime64Text } from '../../../../services/common/clickhouse/datetime64';
import { NotEnoughDataError } from '../../../../services/profile-materializer/predictions/prediction-errors';
import { DAY_MS } from '../../../../services/profile-materializer/predictions/prediction-inputs';
import { runPredictions } from '../../../../services/profile-materializer/predictions/prediction-run';
import type { PredictionSettings } from '../../../../services/profile-materializer/predictions/predictions.config';
import { parseRates } from '../../../../services/profile-materializer/rfm/money';
import { writeRfmSettings } from '../../../../services/profile-materializer/rfm/rfm.repository';
import { generateShop, type StoreEvent } from '../../../support/shop-population';
import { embeddedHome, freshDatabase } from '../materializer-test-env';

/**
 * Defined behaviour on data the models cannot use as it is (docs/predictions.md, "Limits"):
 * too few purchasers or repeat buyers, one day of data, one-time buyers only (a clear "not
 * enough data" naming the minimums, no model, no rows); and on data they can: refunds, other
 * currencies, extreme revenues (finite figures everywhere, each order counted as RFM counts it).
 */
const home = embeddedHome('predictions-bad');
const asOf = Date.UTC(2026, 5, 30, 12, 0, 0);
const settings: PredictionSettings = {
  refitIntervalMs: 0,
  minPurchasers: 100,
  minRepeatBuyers: 20,
  discountRate: 0,
  excludedItems: [],
};

let sequence = 0;
function order(
  profile: string,
  at: number,
  revenue: string | null = '40.00',
  currency = 'USD',
  orderId = `o${++sequence}`,
): StoreEvent {
  sequence += 1;
  return {
    message_id: `bad-input-${sequence}`,
    profile_id: profile,
    type: 'track',
    event: 'Order Completed',
    name: '',
    timestamp: Math.floor(at),
    received_at: Math.floor(at),
    channel: 'web',
    order_id: orderId,
    revenue,
    currency,
    properties: JSON.stringify({ order_id: orderId }),
    version: Math.floor(at),
  };
}

function refund(profile: string, at: number, orderId: string, revenue: string | null): StoreEvent {
  return {
    ...order(profile, at, revenue),
    event: 'Order Refunded',
    order_id: orderId,
    properties: JSON.stringify({ order_id: orderId }),
  };
}

async function database(events: readonly StoreEvent[]): Promise<ClickHouse> {
  const ch = await freshDatabase(home);
  await writeRfmSettings(ch, {
    purchaseEvents: ['Order Completed'],
    refundEvents: ['Order Refunded'],
    windowDays: 365,
    rates: parseRates('EUR=1.5', 'USD'),
    reportingCurrency: 'USD',
  });
  await ch.insert(
    'events_store',
    events.map((e) => ({ ...e, timestamp: dateTime64Text(e.timestamp), received_at: dateTime64Text(e.received_at) })),
  );
  return ch;
}

async function notEnough(events: readonly StoreEvent[]): Promise<string> {
  const ch = await database(events);
  try {
    const error = await runPredictions(ch, settings, asOf).then(
      () => undefined,
      (e: unknown) => e,
    );
    expect(error).toBeInstanceOf(NotEnoughDataError);
    // Nothing half-written is left to read: no model, no rows, no inputs.
    const [left] = await ch.query<Record<string, string>>(
      `SELECT toString((SELECT count() FROM prediction_models_store)) AS models, toString((SELECT count() FROM predictions)) AS rows,
              toString((SELECT count() FROM prediction_inputs_store)) AS inputs`,
    );
    expect(left).toEqual({ models: '0', rows: '0', inputs: '0' });
    return (error as Error).message;
  } finally {
    await ch.close();
  }
}

const day = (n: number, hour = 10): number => asOf - n * DAY_MS + (hour - 12) * 3_600_000;

describe('predictions on data they cannot use', () => {
  it('too few purchasers: not enough data, with the minimum and its setting', async () => {
    const events = Array.from({ length: 50 }, (_, i) => [order(`p${i}`, day(40)), order(`p${i}`, day(10))]).flat();
    expect(await notEnough(events)).toMatch(
      /^not enough data to fit BG\/NBD as of 2026-06-30T12:00:00.000Z: found 50 purchasers and 50 with a repeat purchase \(on another day\); at least 100 purchasers \(PREDICTIONS_MIN_PURCHASERS\) and 20 repeat buyers \(PREDICTIONS_MIN_REPEAT_BUYERS\) are needed$/,
    );
  });

  it('all one-time buyers, and a single day of data (several orders that day count as one purchase)', async () => {
    const once = Array.from({ length: 300 }, (_, i) => order(`p${i}`, day(i % 200)));
    expect(await notEnough(once)).toContain('found 300 purchasers and 0 with a repeat purchase');
    const oneDay = Array.from({ length: 300 }, (_, i) => [
      order(`p${i}`, day(3, 9)),
      order(`p${i}`, day(3, 15)),
    ]).flat();
    expect(await notEnough(oneDay)).toContain('found 300 purchasers and 0 with a repeat purchase');
  });

  it('repeat buyers whose repeat purchases were all fully refunded are one-time buyers', async () => {
    const events = Array.from({ length: 300 }, (_, i) => {
      const repeat = order(`p${i}`, day(5));
      return [order(`p${i}`, day(100)), repeat, refund(`p${i}`, day(4), repeat.order_id, null)];
    }).flat();
    expect(await notEnough(events)).toContain('found 300 purchasers and 0 with a repeat purchase');
  });
});

describe('predictions on awkward data they can use', () => {
  const truth = { r: 0.7, alpha: 30, a: 0.7, b: 3, p: 5, q: 4, gamma: 30 };
  const shop = generateShop({ truth, customers: 1_500, browsers: 200, days: 365, asOf, seed: 9 });
  // A whale at the edge of Decimal(18, 4), partial and over-sized refunds, other currencies.
  const odd = [
    order('whale', day(200), '99999999999999.0000'),
    order('whale', day(100), '99999999999999.0000'),
    order('whale', day(50), '99999999999999.0000'),
    order('euro', day(90), '10.00', 'EUR'),
    order('euro', day(30), '20.00', 'EUR'),
    order('unrated', day(80), '10.00', 'CHF'),
    order('unrated', day(20), '10.00', 'CHF'),
    order('refunded', day(60), '40.00', 'USD', 'r1'),
    order('refunded', day(20), '40.00', 'USD', 'r2'),
    refund('refunded', day(19), 'r2', '10.00'),
    order('over', day(60), '40.00', 'USD', 'v1'),
    order('over', day(20), '40.00', 'USD', 'v2'),
    refund('over', day(19), 'v2', '500.00'),
  ];

  it('keeps every figure finite and values each order as RFM does', async () => {
    const ch = await database([...shop.events, ...odd]);
    try {
      const { model } = await runPredictions(ch, settings, asOf);
      for (const value of Object.values(model.params)) expect(Number.isFinite(value)).toBe(true);
      const [bad] = await ch.query<{ n: string }>(
        `SELECT count() AS n FROM predictions
         WHERE NOT (isFinite(p_alive) AND isFinite(expected_purchases_30d) AND isFinite(expected_purchases_90d)
                    AND isFinite(expected_order_value) AND isFinite(clv_365d) AND isFinite(ifNull(purchase_propensity_30d, 0)))`,
      );
      expect(bad?.n).toBe('0');
      const inputs = await ch.query<{ profile_id: string; x: number; monetary: number }>(
        `SELECT profile_id, x, monetary FROM prediction_inputs_store
         WHERE version = {version:UInt64} AND profile_id IN ('whale', 'euro', 'unrated', 'refunded', 'over') ORDER BY profile_id`,
        { version: model.version },
      );
      expect(inputs).toEqual([
        { profile_id: 'euro', x: 1, monetary: 30 }, // 20 EUR at 1.5
        { profile_id: 'over', x: 0, monetary: 0 }, // the repeat order refunded beyond its value: fully refunded
        { profile_id: 'refunded', x: 1, monetary: 30 }, // 40 − 10
        { profile_id: 'unrated', x: 1, monetary: 0 }, // CHF has no rate: a purchase worth 0
        { profile_id: 'whale', x: 2, monetary: expect.any(Number) },
      ]);
      // Float64 of 1e26 units of 1e-12: exact to 1e-16 relative.
      expect(Math.abs(inputs[4]!.monetary / 99999999999999 - 1)).toBeLessThan(1e-12);
      const [whale] = await ch.query<{ value: number }>(
        "SELECT expected_order_value AS value FROM predictions WHERE profile_id = 'whale'",
      );
      expect(whale!.value).toBeGreaterThan(1e13);
      expect(Number.isFinite(whale!.value)).toBe(true);
      process.stdout.write(`with a whale: ${JSON.stringify(model.params)}\n`);
    } finally {
      await ch.close();
    }
  });
});
