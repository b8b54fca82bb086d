import { rfmLabel, type RfmLabel } from './rfm-labels';
import { centsToAmount, MICROS, unitsToCents } from './money';

/**
 * RFM — the definition, in TypeScript. This is the reference: ClickHouse computes the same
 * figures in SQL (rfm.query.ts) and the tests hold the two to each other to the cent.
 *
 * Inputs are events already resolved to their surviving profile (after merges), with the
 * amount read exactly into micro-units.
 *
 * 1. Orders. Every purchase event (a configured name, default `Order Completed`) belongs to
 *    the order `order_id`, or to an order of its own (`message_id`) when it has none. An order
 *    is defined by its earliest purchase event, by (timestamp, message_id): that event gives
 *    the order's profile, time and value. Duplicates (a replay, a retried send, a second
 *    system reporting the same order) therefore never count twice.
 * 2. Value in the reporting currency: amount (micro-units) × rate (micro-units) = 1e-12
 *    units; no currency means the reporting currency; a currency without a rate counts 0.
 * 3. Refunds (configured names, default `Order Refunded`) apply to the order with their
 *    order_id, whoever's profile they arrived on; one per message_id; those after `asOf` are
 *    ignored. A refund without an amount refunds the whole order. An order's net value is
 *    max(0, value − refunds). An order with a refund and net value 0 is fully refunded: it is
 *    not a purchase any more (it counts for neither R nor F).
 * 4. Per profile, over the orders with asOf − window < time ≤ asOf that are not fully
 *    refunded: last purchase = latest order time; recency days = floor((asOf − last) / 1 day);
 *    frequency = number of orders; monetary = Σ net value, rounded to cents half away from zero.
 *    Profiles with at least one such order are the purchasers; others have no RFM.
 * 5. Scores, among the N purchasers, for each of R (fewer recency days is better), F and M
 *    (more is better): score = 1 + floor(5 × below / N), where `below` is the number of
 *    purchasers with a strictly worse value. Ties share a score (the lower one: everyone
 *    who bought once gets the same F), the best purchaser can reach 5 only when N ≥ 2 and the
 *    rule depends on nothing but the multiset of values — not on input order. In SQL `below`
 *    is `rank() OVER (ORDER BY value worst-first) − 1`.
 * 6. Label from R and FM (rfm-labels.ts).
 */
export interface RfmSettings {
  readonly purchaseEvents: readonly string[];
  readonly refundEvents: readonly string[];
  readonly windowDays: number;
  /** Currency code (upper case) → micro-units of the reporting currency per unit; holds the reporting currency (1 000 000). */
  readonly rates: ReadonlyMap<string, bigint>;
  readonly reportingCurrency: string;
}

/** One event as RFM sees it. */
export interface RfmEvent {
  readonly messageId: string;
  /** Surviving profile id (aliases already resolved). */
  readonly profileId: string;
  readonly event: string;
  /** Event time, epoch milliseconds. */
  readonly timestamp: number;
  readonly orderId: string | null;
  /** Amount in micro-units of `currency`; null when the event states none. */
  readonly amountMicros: bigint | null;
  /** Upper-case currency code; null means the reporting currency. */
  readonly currency: string | null;
}

export interface RfmRow {
  readonly profileId: string;
  /** Epoch milliseconds. */
  readonly lastPurchaseAt: number;
  readonly recencyDays: number;
  readonly frequency: number;
  /** Net revenue in cents of the reporting currency. */
  readonly monetaryCents: bigint;
  /** `monetaryCents / 100`. */
  readonly monetary: number;
  readonly r: number;
  readonly f: number;
  readonly m: number;
  readonly label: RfmLabel;
}

export const DAY_MS = 86_400_000;

/** Value of an amount in 1e-12 units of the reporting currency; 0 for a currency without a rate. */
export function convertedUnits(
  amountMicros: bigint,
  currency: string | null,
  settings: Pick<RfmSettings, 'rates' | 'reportingCurrency'>,
): bigint {
  const rate = currency === null ? MICROS : settings.rates.get(currency);
  return rate === undefined ? 0n : amountMicros * rate;
}

/** Score 1..5 of each value among all values (rule 5): 1 + floor(5 × strictly-worse / N). */
export function quintileScores(values: readonly number[] | readonly bigint[], higherIsBetter: boolean): number[] {
  const n = values.length;
  const sorted = [...values].sort((a, b) => (a < b ? -1 : a > b ? 1 : 0));
  return values.map((value) => {
    // below = how many values are strictly worse, found by binary search in the sorted copy.
    const below = higherIsBetter ? lowerBound(sorted, value) : n - upperBound(sorted, value);
    return 1 + Math.floor((5 * below) / n);
  });
}

function lowerBound<T extends number | bigint>(sorted: readonly T[], value: T): number {
  let lo = 0;
  let hi = sorted.length;
  while (lo < hi) {
    const mid = (lo + hi) >> 1;
    if (sorted[mid]! < value) lo = mid + 1;
    else hi = mid;
  }
  return lo;
}

function upperBound<T extends number | bigint>(sorted: readonly T[], value: T): number {
  let lo = 0;
  let hi = sorted.length;
  while (lo < hi) {
    const mid = (lo + hi) >> 1;
    if (sorted[mid]! <= value) lo = mid + 1;
    else hi = mid;
  }
  return lo;
}

interface Order {
  profileId: string;
  time: number;
  value: bigint;
  firstKey: [number, string];
}

function earlier(a: [number, string], b: [number, string]): boolean {
  return a[0] < b[0] || (a[0] === b[0] && a[1] < b[1]);
}

/** RFM of every purchaser as of `asOf` (epoch ms), by the rules above. */
export function computeRfm(events: Iterable<RfmEvent>, settings: RfmSettings, asOf: number): Map<string, RfmRow> {
  const purchases = new Set(settings.purchaseEvents);
  const refundNames = new Set(settings.refundEvents);
  const orders = new Map<string, Order>();
  const refundsByMessage = new Map<string, { orderId: string; units: bigint | null }>();

  for (const e of events) {
    if (purchases.has(e.event)) {
      const key = e.orderId ?? e.messageId;
      const candidate: [number, string] = [e.timestamp, e.messageId];
      const current = orders.get(key);
      if (!current || earlier(candidate, current.firstKey)) {
        orders.set(key, {
          profileId: e.profileId,
          time: e.timestamp,
          value: e.amountMicros === null ? 0n : convertedUnits(e.amountMicros, e.currency, settings),
          firstKey: candidate,
        });
      }
    } else if (
      refundNames.has(e.event) &&
      e.orderId !== null &&
      e.timestamp <= asOf &&
      !refundsByMessage.has(e.messageId)
    ) {
      refundsByMessage.set(e.messageId, {
        orderId: e.orderId,
        units: e.amountMicros === null ? null : convertedUnits(e.amountMicros, e.currency, settings),
      });
    }
  }

  const refunds = new Map<string, { sum: bigint; full: boolean }>();
  for (const { orderId, units } of refundsByMessage.values()) {
    const r = refunds.get(orderId) ?? { sum: 0n, full: false };
    if (units === null) r.full = true;
    else r.sum += units;
    refunds.set(orderId, r);
  }

  const windowStart = asOf - settings.windowDays * DAY_MS;
  const perProfile = new Map<string, { last: number; frequency: number; units: bigint }>();
  for (const [key, order] of orders) {
    if (!(order.time > windowStart && order.time <= asOf)) continue;
    const refund = refunds.get(key);
    const refunded = refund === undefined ? 0n : refund.full ? order.value : refund.sum;
    const net = order.value - refunded > 0n ? order.value - refunded : 0n;
    if (refund !== undefined && net === 0n) continue; // fully refunded: not a purchase
    const p = perProfile.get(order.profileId) ?? { last: Number.NEGATIVE_INFINITY, frequency: 0, units: 0n };
    p.last = Math.max(p.last, order.time);
    p.frequency += 1;
    p.units += net;
    perProfile.set(order.profileId, p);
  }

  const ids = [...perProfile.keys()];
  const figures = ids.map((id) => {
    const p = perProfile.get(id)!;
    return {
      id,
      last: p.last,
      recencyDays: Math.floor((asOf - p.last) / DAY_MS),
      frequency: p.frequency,
      cents: unitsToCents(p.units),
    };
  });
  const rScores = quintileScores(
    figures.map((x) => x.recencyDays),
    false,
  );
  const fScores = quintileScores(
    figures.map((x) => x.frequency),
    true,
  );
  const mScores = quintileScores(
    figures.map((x) => x.cents),
    true,
  );

  const out = new Map<string, RfmRow>();
  figures.forEach((x, i) => {
    const r = rScores[i]!;
    const f = fScores[i]!;
    const m = mScores[i]!;
    out.set(x.id, {
      profileId: x.id,
      lastPurchaseAt: x.last,
      recencyDays: x.recencyDays,
      frequency: x.frequency,
      monetaryCents: x.cents,
      monetary: centsToAmount(x.cents),
      r,
      f,
      m,
      label: rfmLabel(r, f, m),
    });
  });
  return out;
}
