import type { ClickHouse } from '../../../../services/common/clickhouse/client-factory';
import { dateTime64Text } from '../../../../services/common/clickhouse/datetime64';
import {
  expectedPurchases,
  medianDaysToNextPurchase,
  probabilityAlive,
} from '../../../../services/profile-materializer/predictions/bgnbd';
import { expectedOrderValue } from '../../../../services/profile-materializer/predictions/gamma-gamma';
import { DAY_MS } from '../../../../services/profile-materializer/predictions/prediction-inputs';
import { runPredictions } from '../../../../services/profile-materializer/predictions/prediction-run';
import type { PredictionSettings } from '../../../../services/profile-materializer/predictions/predictions.config';
import { parseRates } from '../../../../services/profile-materializer/rfm/money';
import { writeRfmSettings } from '../../../../services/profile-materializer/rfm/rfm.repository';
import { generateShop, type ShopOrder } from '../../../support/shop-population';
import { embeddedHome, freshDatabase } from '../materializer-test-env';

/**
 * A fit-and-score run on a shop written straight into events_store: the per-purchaser summary
 * the SQL computes against one computed here from the generated orders, every purchaser's
 * predictions against the model's formulas applied to that summary and the fitted parameters,
 * and propensity and recommendations against their baselines on held-out data.
 */
const home = embeddedHome('predictions');
const asOf = Date.UTC(2026, 5, 30, 12, 0, 0);
const truth = { r: 0.7, alpha: 30, a: 0.7, b: 3, p: 5, q: 4, gamma: 30 };
const settings: PredictionSettings = {
  refitIntervalMs: 0,
  minPurchasers: 100,
  minRepeatBuyers: 20,
  discountRate: 0,
  excludedItems: [],
};

async function writeShop(ch: ClickHouse, events: ReturnType<typeof generateShop>['events']): Promise<void> {
  await writeRfmSettings(ch, {
    purchaseEvents: ['Order Completed'],
    refundEvents: ['Order Refunded'],
    windowDays: 365,
    rates: parseRates('', 'USD'),
    reportingCurrency: 'USD',
  });
  for (let i = 0; i < events.length; i += 50_000)
    await ch.insert(
      'events_store',
      events
        .slice(i, i + 50_000)
        .map((e) => ({ ...e, timestamp: dateTime64Text(e.timestamp), received_at: dateTime64Text(e.received_at) })),
    );
}

/** (x, t_x, T, mean repeat-day value) per purchaser, from the generated orders. */
function summaries(orders: readonly ShopOrder[]): Map<string, { x: number; tx: number; T: number; m: number }> {
  const days = new Map<string, Map<number, number>>();
  for (const order of orders) {
    if (order.at > asOf) continue;
    const perDay = days.get(order.profileId) ?? new Map<number, number>();
    const day = Math.floor(order.at / DAY_MS);
    perDay.set(day, (perDay.get(day) ?? 0) + order.cents);
    days.set(order.profileId, perDay);
  }
  const out = new Map<string, { x: number; tx: number; T: number; m: number }>();
  for (const [profile, perDay] of days) {
    const sorted = [...perDay].sort(([a], [b]) => a - b);
    const x = sorted.length - 1;
    const repeatCents = sorted.slice(1).reduce((s, [, cents]) => s + cents, 0);
    out.set(profile, {
      x,
      tx: sorted.at(-1)![0] - sorted[0]![0],
      T: Math.floor(asOf / DAY_MS) - sorted[0]![0],
      m: x > 0 ? repeatCents / 100 / x : 0,
    });
  }
  return out;
}

describe('a prediction run on a shop', () => {
  let ch: ClickHouse;
  const shop = generateShop({ truth, customers: 4_000, browsers: 2_000, days: 365, asOf, seed: 3 });

  beforeAll(async () => {
    ch = await freshDatabase(home);
    await writeShop(ch, shop.events);
  }, 120_000);
  afterAll(async () => ch?.close());

  it('fills predictions for every purchaser from the model applied to their exact summary, and beats the baselines', async () => {
    const { model } = await runPredictions(ch, settings, asOf);
    const expected = summaries(shop.orders);
    process.stdout.write(`fitted ${JSON.stringify(model.params)} ± ${JSON.stringify(model.figures.standardErrors)}\n`);
    expect(model.customers).toBe(expected.size);
    const rows = await ch.query<{
      profile_id: string;
      p_alive: number | null;
      expected_purchases_30d: number | null;
      expected_purchases_90d: number | null;
      expected_order_value: number | null;
      clv_365d: number | null;
      next_purchase_ms: string | null;
      purchase_propensity_30d: number | null;
    }>(
      `SELECT profile_id, p_alive, expected_purchases_30d, expected_purchases_90d, expected_order_value, clv_365d,
              toString(toUnixTimestamp64Milli(next_purchase_at)) AS next_purchase_ms, purchase_propensity_30d
       FROM predictions ORDER BY profile_id`,
    );
    const purchasers = rows.filter((r) => r.p_alive !== null);
    expect(purchasers.map((r) => r.profile_id)).toEqual([...expected.keys()].sort());
    const { params } = model;
    for (const row of purchasers) {
      const s = expected.get(row.profile_id)!;
      expect(row.p_alive).toBeCloseTo(probabilityAlive(params, s.x, s.tx, s.T), 12);
      expect(row.expected_purchases_30d).toBeCloseTo(expectedPurchases(params, s.x, s.tx, s.T, 30), 12);
      expect(row.expected_purchases_90d).toBeCloseTo(expectedPurchases(params, s.x, s.tx, s.T, 90), 12);
      const value = expectedOrderValue(params, s.x, s.m);
      expect(row.expected_order_value!).toBeCloseTo(value, 6);
      expect(row.clv_365d!).toBeCloseTo(
        Math.round(expectedPurchases(params, s.x, s.tx, s.T, 365) * value * 100) / 100,
        2,
      );
      const next = asOf + Math.round(medianDaysToNextPurchase(params, s.x, s.T) * DAY_MS);
      if (row.next_purchase_ms !== null) expect(Number(row.next_purchase_ms)).toBe(next);
    }
    // Propensity against chance, on the later of its two periods (trained on the earlier one):
    // under chance the AUC has standard deviation √((n₁+n₀+1)/(12·n₁·n₀)) around 0.5 (Mann–Whitney),
    // and the top decile's buyers are Binomial(size, base rate). Both must be 4 deviations better.
    const quality = model.figures.propensity.quality!;
    const buyers = quality.positives;
    const others = quality.profiles - buyers;
    expect(quality.auc!).toBeGreaterThan(0.5 + 4 * Math.sqrt((buyers + others + 1) / (12 * buyers * others)));
    const top = quality.calibration[0]!;
    const rate = buyers / quality.profiles;
    expect(top.observed * top.profiles).toBeGreaterThan(
      top.profiles * rate + 4 * Math.sqrt(top.profiles * rate * (1 - rate)),
    );
    // Recommendations against the most popular products, paired over the same profiles.
    const recs = model.figures.recommendations!;
    expect(recs.profiles).toBeGreaterThan(100);
    expect(recs.hitRateAt5 - recs.popularityHitRateAt5).toBeGreaterThan(4 * recs.differenceStandardError);
    process.stdout.write(
      `propensity AUC ${quality.auc!.toFixed(3)} (chance 0.5), top-decile lift ${quality.topDecileLift!.toFixed(2)} (chance 1); hit rate at 5 ${recs.hitRateAt5.toFixed(3)} vs popularity ${recs.popularityHitRateAt5.toFixed(3)} over ${recs.profiles} profiles\n`,
    );
    // BG/NBD and Gamma-Gamma recover the parameters the shop was drawn from (within 4 standard errors).
    const errors = model.figures.standardErrors!;
    for (const key of ['r', 'alpha', 'a', 'b', 'p', 'q', 'gamma'] as const)
      expect(Math.abs(model.params[key] - truth[key])).toBeLessThan(4 * errors[key]!);

    // Profiles that never bought carry a propensity only.
    const visitors = rows.filter((r) => r.p_alive === null);
    expect(visitors.length).toBeGreaterThan(0);
    for (const row of visitors) expect(row.purchase_propensity_30d).not.toBeNull();
  });
});
