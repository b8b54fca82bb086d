import { DAY_MS } from '../../services/profile-materializer/predictions/prediction-inputs';
import { Random, type Truth } from './btyd-population';

/**
 * A shop's event history with known structure, written straight into events_store by the
 * predictions tests: purchasers who buy and drop out as BG/NBD says (with Gamma-Gamma order
 * values), each with a favourite product category (most of their orders and views fall in it),
 * who browse and view products in the days before buying; and visitors who never buy.
 * Deterministic per seed.
 */
export interface ShopOptions {
  readonly truth: Truth;
  readonly customers: number;
  readonly browsers: number;
  /** Days of history before `asOf`. */
  readonly days: number;
  readonly asOf: number;
  readonly seed: number;
}

export interface StoreEvent {
  message_id: string;
  profile_id: string;
  type: string;
  event: string;
  name: string;
  timestamp: number;
  received_at: number;
  channel: string;
  order_id: string;
  revenue: string | null;
  currency: string;
  properties: string;
  version: number;
}

export interface ShopOrder {
  readonly profileId: string;
  readonly at: number;
  readonly cents: number;
  readonly items: readonly string[];
}

const categories = 8;
const perCategory = 6;
export const productIds = Array.from(
  { length: categories * perCategory },
  (_, i) => `sku-${String(i).padStart(3, '0')}`,
);

export function generateShop(options: ShopOptions): { events: StoreEvent[]; orders: ShopOrder[] } {
  const random = new Random(options.seed);
  const { truth, asOf, days } = options;
  const start = asOf - days * DAY_MS;
  const events: StoreEvent[] = [];
  const orders: ShopOrder[] = [];
  let sequence = 0;
  const add = (
    e: Omit<
      StoreEvent,
      'message_id' | 'received_at' | 'version' | 'name' | 'channel' | 'order_id' | 'revenue' | 'currency'
    > &
      Partial<StoreEvent>,
  ): void => {
    sequence += 1;
    const timestamp = Math.floor(e.timestamp);
    events.push({
      message_id: `m${sequence}`,
      name: '',
      channel: 'web',
      order_id: '',
      revenue: null,
      currency: '',
      ...e,
      timestamp,
      received_at: timestamp,
      version: timestamp,
    });
  };
  const productOf = (favourite: number): string => {
    const category = random.next() < 0.85 ? favourite : Math.floor(random.next() * categories);
    return productIds[category * perCategory + Math.floor(random.next() * perCategory)]!;
  };
  const visit = (profile: string, at: number, favourite: number): void => {
    add({ profile_id: profile, type: 'page', event: '', name: 'Home', timestamp: at, properties: '{}' });
    const product = productOf(favourite);
    add({
      profile_id: profile,
      type: 'track',
      event: 'Product Viewed',
      timestamp: at + 60_000,
      properties: JSON.stringify({ product_id: product }),
    });
  };
  for (let c = 0; c < options.customers; c++) {
    const profile = `c${String(c).padStart(6, '0')}`;
    const favourite = Math.floor(random.next() * categories);
    const lambda = random.gamma(truth.r, truth.alpha);
    const dropout = random.beta(truth.a, truth.b);
    const nu = random.gamma(truth.q, truth.gamma);
    let at = start + random.next() * (days - 1) * DAY_MS;
    let n = 0;
    while (at <= asOf) {
      // A visit or two in the days before each purchase.
      for (let k = 0; k < 2; k++) {
        const before = at - random.next() * 3 * DAY_MS;
        if (before > start) visit(profile, before, favourite);
      }
      const cents = Math.max(1, Math.round(random.gamma(truth.p, nu) * 100));
      const items = [productOf(favourite), ...(random.next() < 0.5 ? [productOf(favourite)] : [])];
      const orderId = `${profile}-o${n}`;
      add({
        profile_id: profile,
        type: 'track',
        event: 'Order Completed',
        timestamp: Math.floor(at),
        order_id: orderId,
        revenue: (cents / 100).toFixed(2),
        currency: 'USD',
        properties: JSON.stringify({ order_id: orderId, products: items.map((product_id) => ({ product_id })) }),
      });
      orders.push({ profileId: profile, at: Math.floor(at), cents, items });
      n += 1;
      if (n > 1 && random.next() < dropout) break;
      at += random.exponential(lambda) * DAY_MS;
    }
  }
  for (let b = 0; b < options.browsers; b++) {
    const profile = `v${String(b).padStart(6, '0')}`;
    const favourite = Math.floor(random.next() * categories);
    for (let k = 1 + Math.floor(random.next() * 3); k > 0; k--)
      visit(profile, start + random.next() * days * DAY_MS, favourite);
  }
  return { events: events.filter((e) => e.timestamp <= asOf), orders };
}
