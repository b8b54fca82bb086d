import type { BacktestReport } from '../../common/predictions/model-reports';
import { demoProfiles } from './demo-scope';
import type { DemoSettings } from './demo-settings';

/** The read API refused a predictions call (its `code: message`), e.g. KUMIKI_NOT_ENOUGH_DATA. */
export class PredictionsUnavailable extends Error {}

export interface DemoCustomer {
  readonly identifier: string;
  readonly orders: number;
  readonly recencyDays: number;
  readonly monetaryCents: number;
  readonly pAlive: number;
  readonly expectedPurchases90d: number;
  readonly clv365d: number;
}

export interface DemoPredictions {
  /** Purchasers of the demo with predictions (every one of them, once the model is fitted). */
  readonly purchasers: number;
  readonly likelyToBuyAgain: readonly DemoCustomer[];
  readonly aboutToChurn: readonly DemoCustomer[];
  readonly backtest: BacktestReport | null;
  /** Why there are no predictions or no backtest, when so. */
  readonly unavailable: string | null;
}

/** The demo customers' best identifier: user id, else email, else loyalty id. */
const customerColumns = `(SELECT argMin(concat(identifier_type, ':', identifier_value), multiIf(identifier_type = 'user_id', 1, identifier_type = 'email', 2, 3))
                          FROM identities WHERE profile_id = p.profile_id AND identifier_type IN ('user_id', 'email', 'customer_id')) AS identifier,
       r.frequency AS orders, r.recency_days AS recency_days, toString(r.monetary_cents) AS cents,
       p.p_alive AS p_alive, p.expected_purchases_90d AS e90, p.clv_365d AS clv`;

/**
 * Refits (the stack's purchasers), then reads the demo's purchasers: the five most likely to buy
 * in the next 90 days, and the five most valuable repeat buyers the model thinks have most
 * likely stopped (P(alive) under 0.5); then a backtest with the last 30 days as holdout (the
 * last third of the history when it is shorter than 90 days).
 */
export async function readPredictions(settings: DemoSettings, prefix: string): Promise<DemoPredictions> {
  const api = settings.predictions!;
  const bar = settings.progress?.phase('fitting the prediction models', 2);
  let unavailable: string | null = null;
  let backtest: BacktestReport | null = null;
  try {
    await api.fit();
    bar?.update(1);
    const now = settings.now ?? Date.now();
    const holdoutDays = Math.min(30, Math.floor(settings.days / 3));
    backtest = await api.backtest(new Date(now - holdoutDays * 86_400_000).toISOString(), new Date(now).toISOString());
  } catch (error) {
    if (!(error instanceof PredictionsUnavailable)) throw error;
    unavailable = error.message;
  } finally {
    bar?.stop();
  }
  const customers = async (where: string, order: string): Promise<DemoCustomer[]> => {
    const rows = await settings.sql<Record<string, string | number>>(
      `SELECT ${customerColumns}
       FROM predictions AS p INNER JOIN rfm AS r ON r.profile_id = p.profile_id
       WHERE p.profile_id IN (${demoProfiles}) AND p.p_alive IS NOT NULL AND ${where}
       ORDER BY ${order}, p.profile_id LIMIT 5`,
      { prefix },
    );
    return rows.map((row) => ({
      identifier: String(row.identifier),
      orders: Number(row.orders),
      recencyDays: Number(row.recency_days),
      monetaryCents: Number(row.cents),
      pAlive: Number(row.p_alive),
      expectedPurchases90d: Number(row.e90),
      clv365d: Number(row.clv),
    }));
  };
  const [count] = await settings.sql<{ n: string }>(
    `SELECT toString(count()) AS n FROM predictions WHERE profile_id IN (${demoProfiles}) AND p_alive IS NOT NULL`,
    { prefix },
  );
  return {
    purchasers: Number(count?.n ?? 0),
    likelyToBuyAgain: await customers('1', 'p.expected_purchases_90d DESC'),
    aboutToChurn: await customers('p.p_alive < 0.5 AND r.frequency >= 2', 'r.monetary_cents DESC'),
    backtest,
    unavailable,
  };
}

/** The predictions part of the demo report. */
export function formatDemoPredictions(predictions: DemoPredictions, usd: (cents: number) => string): string[] {
  const lines = [
    `Predictions (BG/NBD + Gamma-Gamma; ${predictions.purchasers.toLocaleString('en-US')} purchasers scored)`,
  ];
  if (predictions.purchasers === 0) {
    lines.push(`  none: ${predictions.unavailable ?? 'no model yet'}`);
    return lines;
  }
  const table = (title: string, customers: readonly DemoCustomer[]): void => {
    lines.push(`  ${title}`);
    if (customers.length === 0) lines.push('    (nobody)');
    for (const c of customers)
      lines.push(
        `    ${c.identifier.padEnd(34)} ${String(c.orders).padStart(3)} orders, last ${String(c.recencyDays).padStart(3)} d ago, ${usd(c.monetaryCents).padStart(7)}   P(alive) ${c.pAlive.toFixed(2)}, ${c.expectedPurchases90d.toFixed(2)} purchases in 90 d, CLV ${usd(Math.round(c.clv365d * 100))}`,
      );
  };
  table('Likely to buy again (most expected purchases in the next 90 days)', predictions.likelyToBuyAgain);
  table('About to churn (repeat buyers with P(alive) < 0.5, most valuable first)', predictions.aboutToChurn);
  const b = predictions.backtest;
  if (b) {
    const auc = b.propensity.quality?.auc;
    lines.push(
      `  Backtest (${Math.round(b.holdoutDays)}-day holdout): ${b.repeatPurchases.predicted.toFixed(1)} repeat purchase days predicted, ${b.repeatPurchases.actual} happened; propensity AUC ${auc == null ? 'n/a' : auc.toFixed(2)}${b.recommendations ? `; recommendations hit rate at 5 ${(100 * b.recommendations.hitRateAt5).toFixed(0)} % (popular products ${(100 * b.recommendations.popularityHitRateAt5).toFixed(0)} %)` : ''}`,
    );
  } else if (predictions.unavailable) lines.push(`  Backtest: ${predictions.unavailable}`);
  return lines;
}
