import type { TruthOrder } from '../../services/cli/demo/demo-population';

/**
 * RFM computed in the test from the generated orders, independently of the service code
 * (docs/rfm.md): orders grouped by the profile of their identifier; fully refunded orders are
 * no purchases; scores 1 + floor(5 × strictly-worse / N); label from R and FM = floor((F+M+1)/2).
 */
export interface ExpectedRfm {
  readonly profileId: string;
  readonly frequency: number;
  readonly monetaryCents: number;
  readonly lastPurchaseAt: number;
  readonly recencyDays: number;
  readonly r: number;
  readonly f: number;
  readonly m: number;
  readonly label: string;
}

const DAY = 86_400_000;
// docs/rfm.md, rows R = 1..5, columns FM = 1..5.
const labels = [
  ['Lost', 'Lost', 'At risk', 'At risk', "Can't lose them"],
  ['Hibernating', 'Hibernating', 'At risk', 'At risk', "Can't lose them"],
  ['About to sleep', 'About to sleep', 'Need attention', 'Loyal customers', 'Loyal customers'],
  ['Promising', 'Potential loyalists', 'Potential loyalists', 'Loyal customers', 'Loyal customers'],
  ['New customers', 'Potential loyalists', 'Potential loyalists', 'Champions', 'Champions'],
];

export function expectedRfm(
  orders: readonly TruthOrder[],
  profileOf: (identifier: string) => string,
  asOf: number,
): Map<string, ExpectedRfm> {
  const perProfile = new Map<string, { frequency: number; cents: number; last: number }>();
  for (const order of orders) {
    if (order.refund === 'full') continue;
    const net = order.cents - (order.refund ?? 0);
    if (order.refund !== null && net <= 0) continue;
    const profileId = profileOf(order.identifier);
    const p = perProfile.get(profileId) ?? { frequency: 0, cents: 0, last: 0 };
    p.frequency += 1;
    p.cents += net;
    p.last = Math.max(p.last, order.at);
    perProfile.set(profileId, p);
  }
  const rows = [...perProfile].map(([profileId, p]) => ({
    profileId,
    ...p,
    recencyDays: Math.floor((asOf - p.last) / DAY),
  }));
  const n = rows.length;
  const score = (worse: number): number => 1 + Math.floor((5 * worse) / n);
  const out = new Map<string, ExpectedRfm>();
  for (const row of rows) {
    const r = score(rows.filter((o) => o.recencyDays > row.recencyDays).length);
    const f = score(rows.filter((o) => o.frequency < row.frequency).length);
    const m = score(rows.filter((o) => o.cents < row.cents).length);
    out.set(row.profileId, {
      profileId: row.profileId,
      frequency: row.frequency,
      monetaryCents: row.cents,
      lastPurchaseAt: row.last,
      recencyDays: row.recencyDays,
      r,
      f,
      m,
      label: labels[r - 1]![Math.floor((f + m + 1) / 2) - 1]!,
    });
  }
  return out;
}
