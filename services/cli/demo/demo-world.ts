import { foldIdentifierText } from '../../common/identifier-text';
import {
  CENTS_PER_100_YEN,
  fullWidth,
  japaneseMobile,
  type JapaneseStoreRow,
  tokyoDateTime,
  yenText,
} from './demo-japanese-stores';
import { gaussian, mulberry32, UnionFind } from './demo-random';
import {
  type BadMessage,
  DAY_MS,
  type DemoOptions,
  type SegmentMessage,
  type StoreRow,
  type TruthOrder,
} from './demo-types';

const pages = ['Home', 'New arrivals', 'Shoes', 'Jackets', 'Sale', 'Store finder'];
/** Twenty products in four categories; each person prefers one category (recommendations have something to learn). */
const categories = ['Shoes', 'Jackets', 'Accessories', 'Bags'] as const;
const productNames = [
  ['Trail runner', 'City sneaker', 'Hiking boot', 'Sandal', 'Loafer'],
  ['Rain jacket', 'Down vest', 'Fleece', 'Parka', 'Windbreaker'],
  ['Wool socks', 'Beanie', 'Scarf', 'Gloves', 'Belt'],
  ['Backpack', 'Tote', 'Duffel', 'Messenger bag', 'Wallet'],
] as const;
const products = categories.flatMap((category, c) =>
  productNames[c]!.map((name, k) => ({ product_id: `p-${c * 5 + k + 1}`, name, category })),
);
const stores = ['Berlin Mitte', 'London Soho', 'New York SoHo', 'Paris Marais', '銀座店', '梅田店'];
const japaneseStores = new Set(['銀座店', '梅田店']);

/**
 * The demo population's world: its random draws, its clock, what it has sent so far and the
 * helpers that send an event or an order as the current person and record that person's
 * identifiers for the truth. The people (demo-people.ts) generate through it.
 */
export function createDemoWorld(options: Required<DemoOptions>) {
  const { seed, days, now } = options;
  const random = mulberry32(seed);
  const chance = (p: number): boolean => random() < p;
  const pick = <T>(items: readonly T[]): T => items[Math.floor(random() * items.length)]!;
  const int = (lo: number, hi: number): number => lo + Math.floor(random() * (hi - lo + 1));
  /** The person's favourite category (drawHabits): 80 % of what they look at or buy. */
  let favourite = 0;
  const pickProduct = (): (typeof products)[number] =>
    chance(0.8) ? products[favourite * 5 + Math.floor(random() * 5)]! : pick(products);
  /**
   * Days ago (inclusive range) in which the person's orders fall: 45 % of buyers stopped buying
   * some time ago (their orders are all older than that), the others buy across the whole history.
   */
  let orderDays: [number, number] = [0, days - 1];
  const orderDay = (): number => int(orderDays[0], orderDays[1]);
  const prefix = `demo-s${seed}-`;
  const tag = `s${seed}`;

  const messages: SegmentMessage[] = [];
  const storeRows: StoreRow[] = [];
  const japaneseStoreRows: JapaneseStoreRow[] = [];
  const orders: TruthOrder[] = [];
  const bad: BadMessage[] = [];
  const goodMessageIds = new Set<string>();
  const components = new Map<string, string[][]>();
  let sequence = 0;
  const nextId = (): string => `${prefix}${(sequence += 1)}`;

  /** A moment `dayOffset` whole days ago, inside that day (so recency days stay put for an hour or more). */
  const dayTime = (dayOffset: number, fraction = 0.1 + random() * 0.8): number =>
    now - dayOffset * DAY_MS - Math.floor(fraction * DAY_MS);
  const iso = (ms: number): string => new Date(ms).toISOString();
  const web = { library: { name: 'analytics.js', version: '2.11.1' } };
  const ios = { library: { name: 'analytics-ios', version: '4.1.8' } };
  const android = { library: { name: 'analytics-android', version: '4.11.3' } };
  const server = { library: { name: 'analytics-node', version: '3.1.0' } };

  const personIdentifiers = new Map<string, UnionFind>();
  let person = '';
  let personIndex = 0;
  /** Identifiers the truth leaves out (a shared tablet's). */
  const shared = new Set<string>();
  const link = (ids: (string | undefined)[]): void => {
    const known = ids.filter((id): id is string => id !== undefined && !shared.has(id));
    let uf = personIdentifiers.get(person);
    if (!uf) personIdentifiers.set(person, (uf = new UnionFind()));
    for (const id of known) uf.add(id);
    for (let i = 1; i < known.length; i++) uf.union(known[0]!, known[i]!);
  };
  const send = (
    message: Omit<SegmentMessage, 'messageId'>,
    ids: (string | undefined)[],
    owner: string | null = person,
  ): SegmentMessage => {
    const full = { messageId: nextId(), ...message } as SegmentMessage;
    messages.push(full);
    goodMessageIds.add(full.messageId);
    if (owner !== null) link(ids);
    return full;
  };
  const uid = (v: string): string => `user_id:${v}`;
  const aid = (v: string): string => `anonymous_id:${v}`;
  const did = (v: string): string => `device_id:${v}`;
  const eml = (v: string): string => `email:${foldIdentifierText(v).toLowerCase()}`;
  const cid = (v: string): string => `customer_id:${foldIdentifierText(v)}`;
  const emailVariant = (email: string): string =>
    chance(0.2) ? email.toUpperCase() : chance(0.2) ? ` ${email} ` : email;

  /** Heavy-tailed: most people buy once or twice, a few very often. */
  const orderCount = (): number => Math.min(25, Math.floor(1 / (1 - random() * 0.97) ** 0.8));
  /** Log-normal order value around $45, in cents. */
  const orderCents = (): number => Math.max(299, Math.round(Math.exp(3.6 + 0.85 * gaussian(random)) * 100));
  const money = (cents: number): string => (cents / 100).toFixed(2);

  const addOrder = (
    orderId: string,
    identifier: string,
    at: number,
    cents: number,
    channel: 'online' | 'store',
    refund: number | 'full' | null,
    currency: 'USD' | 'JPY' = 'USD',
  ): void => {
    orders.push({ orderId, person, identifier, at, cents, refund, channel, currency });
  };
  /** A refund for some orders, sent by the back office with the person's user id, in the order's currency. */
  const maybeRefund = (
    orderId: string,
    at: number,
    cents: number,
    userId: string | undefined,
    yen?: number,
  ): number | 'full' | null => {
    if (userId === undefined || !chance(0.12)) return null;
    const full = chance(0.5);
    const refundAt = Math.min(now - 60_000, at + int(1, 5) * 3_600_000);
    const refundedYen = yen === undefined ? 0 : Math.max(100, Math.floor((yen * 0.3) / 100) * 100);
    const refunded = full
      ? 'full'
      : yen === undefined
        ? Math.max(1, Math.floor(cents * 0.3))
        : (refundedYen / 100) * CENTS_PER_100_YEN;
    const amount =
      yen === undefined
        ? { revenue: Number(money(refunded as number)), currency: 'USD' }
        : { revenue: refundedYen, currency: 'JPY' };
    send(
      {
        type: 'track',
        event: 'Order Refunded',
        userId,
        timestamp: iso(refundAt),
        properties: { order_id: orderId, ...(full ? {} : amount) },
        context: server,
      },
      [uid(userId)],
    );
    return refunded;
  };
  const storeOrder = (
    orderId: string,
    at: number,
    loyalty: string | undefined,
    email: string | undefined,
    refundUser: string | undefined,
  ): void => {
    const cents = orderCents();
    const store = pick(stores);
    if (japaneseStores.has(store)) {
      japaneseStoreOrder(orderId, at, loyalty, email, refundUser, cents, store);
      return;
    }
    storeRows.push({
      messageId: nextId(),
      anonymousId: `pos-${orderId}`,
      loyalty_id: loyalty ?? '',
      email: email ? emailVariant(email) : '',
      order_id: orderId,
      revenue: money(cents),
      currency: 'USD',
      timestamp: iso(at),
      'properties.store': store,
    });
    goodMessageIds.add(storeRows.at(-1)!.messageId);
    link([aid(`pos-${orderId}`), loyalty ? cid(loyalty) : undefined, email ? eml(email) : undefined]);
    addOrder(
      orderId,
      loyalty ? cid(loyalty) : eml(email!),
      at,
      cents,
      'store',
      maybeRefund(orderId, at, cents, refundUser),
    );
  };
  /** A purchase in a Japanese store: yen, Tokyo time to the second, contacts as typed at the till. */
  const japaneseStoreOrder = (
    orderId: string,
    at: number,
    loyalty: string | undefined,
    email: string | undefined,
    refundUser: string | undefined,
    usdCents: number,
    store: string,
  ): void => {
    const yen = Math.max(1, Math.round(usdCents / CENTS_PER_100_YEN)) * 100;
    const cents = (yen / 100) * CENTS_PER_100_YEN;
    const second = at - (at % 1000);
    const phone = chance(0.5) ? japaneseMobile(personIndex) : undefined;
    const messageId = nextId();
    const tillTyped = (text: string): string => (chance(0.4) ? fullWidth(text) : text);
    japaneseStoreRows.push({
      取引ID: messageId,
      レシート番号: `pos-${orderId}`,
      会員番号: loyalty ? tillTyped(loyalty) : '',
      メールアドレス: email ? (chance(0.5) ? fullWidth(email) : emailVariant(email)) : '',
      電話番号: phone ? tillTyped(phone.written) : '',
      伝票番号: orderId,
      合計金額: yenText(yen, random()),
      購入日時: tokyoDateTime(second, random()),
      店舗: store,
    });
    goodMessageIds.add(messageId);
    link([
      aid(`pos-${orderId}`),
      loyalty ? cid(loyalty) : undefined,
      email ? eml(email) : undefined,
      phone ? `phone:${phone.e164}` : undefined,
    ]);
    addOrder(
      orderId,
      loyalty ? cid(loyalty) : eml(email!),
      second,
      cents,
      'store',
      maybeRefund(orderId, second, cents, refundUser, yen),
      'JPY',
    );
  };
  const onlineOrder = (
    orderId: string,
    at: number,
    userId: string,
    context: Record<string, unknown>,
    anonymousId: string | undefined,
  ): void => {
    const cents = orderCents();
    const bought = [pickProduct(), ...(chance(0.3) ? [pickProduct()] : [])];
    send(
      {
        type: 'track',
        event: 'Order Completed',
        userId,
        ...(anonymousId ? { anonymousId } : {}),
        timestamp: iso(at),
        properties: {
          order_id: orderId,
          revenue: Number(money(cents)),
          currency: 'USD',
          products: bought.map((product) => ({ ...product, quantity: 1 })),
        },
        context,
      },
      [uid(userId), anonymousId ? aid(anonymousId) : undefined],
    );
    addOrder(orderId, uid(userId), at, cents, 'online', maybeRefund(orderId, at, cents, userId));
  };
  const browse = (anonymousId: string, day: number, count: number, extra: { userId?: string } = {}): number => {
    let t = dayTime(day, 0.1 + random() * 0.5);
    for (let p = 0; p < count; p++) {
      t += int(20, 300) * 1000;
      const name = pick(pages);
      send(
        {
          type: 'page',
          name,
          anonymousId,
          ...extra,
          timestamp: iso(t),
          properties: { path: `/${name.toLowerCase().replace(/ /g, '-')}` },
          context: web,
        },
        [aid(anonymousId), extra.userId ? uid(extra.userId) : undefined],
      );
    }
    return t;
  };
  const emailClick = (email: string, index: number): void => {
    const anonymousId = `${tag}-ec-${person}-${index}`;
    const t = dayTime(int(0, days - 1));
    send(
      {
        type: 'track',
        event: 'Email Link Clicked',
        anonymousId,
        timestamp: iso(t),
        properties: { campaign: pick(['spring-sale', 'new-arrivals', 'we-miss-you']) },
        context: {
          ...web,
          traits: { email: emailVariant(email) },
          campaign: { medium: 'email', source: 'newsletter' },
        },
      },
      [aid(anonymousId), eml(email)],
    );
  };

  const members: { userId: string; index: number }[] = [];
  return {
    options,
    days,
    now,
    tag,
    prefix,
    random,
    chance,
    pick,
    int,
    pickProduct,
    orderDay,
    dayTime,
    iso,
    web,
    ios,
    android,
    server,
    messages,
    storeRows,
    japaneseStoreRows,
    orders,
    bad,
    goodMessageIds,
    components,
    personIdentifiers,
    shared,
    send,
    link,
    uid,
    aid,
    did,
    eml,
    cid,
    emailVariant,
    orderCount,
    storeOrder,
    onlineOrder,
    browse,
    emailClick,
    members,
    /** Draws the next person's habits: their favourite category and when they buy (see orderDay). */
    drawHabits(): void {
      favourite = int(0, categories.length - 1);
      orderDays = chance(0.45) ? [int(Math.floor(days / 3), days - 1), days - 1] : [0, days - 1];
    },
    /** Whose events come next: the person's name and, for a new person, their index. */
    setPerson(name: string, index?: number): void {
      person = name;
      if (index !== undefined) personIndex = index;
    },
  };
}

export type DemoWorld = ReturnType<typeof createDemoWorld>;
