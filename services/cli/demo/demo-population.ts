import iconv from 'iconv-lite';
import { foldIdentifierText } from '../../common/identifier-text';

/**
 * A synthetic omnichannel population for `kumiki demo` and the end-to-end tests, with its
 * ground truth. Deterministic for (seed, people, days, now).
 *
 * Kinds of people:
 * - members (account holders): anonymous web sessions that later sign in, an app on a phone
 *   (device id), online orders, email link clicks (a new browser session carrying the email),
 *   sometimes a loyalty card — registered online (identify with loyaltyId) or only shown at the
 *   till, where the receipt sometimes carries the email; refunds; a few send a placeholder
 *   anonymous id from a buggy SDK ("undefined"), which the stitcher must ignore.
 * - subscribers: one anonymous session that leaves an email for the newsletter, email clicks,
 *   sometimes store purchases with that email and/or a loyalty card.
 * - store-only shoppers: loyalty card at the till, sometimes an email on the receipt.
 * - browsers: one anonymous session, sometimes a product put in the cart and left there.
 * - households: two members share a tablet (one device id, one browser anonymous id); the
 *   tablet's anonymous page views belong to nobody the rules can know.
 *
 * Buying: 45 % of buyers stopped some time ago (all their orders are older than a day drawn for
 * them), the others buy across the whole history; each person prefers one product category.
 * Spending is heavy-tailed (order counts Pareto-like, order values log-normal), in USD (the
 * default reporting currency) to the cent. About `badRate` of the HTTP messages are broken in
 * ways the collector must dead-letter; about 1 % are sent twice (an SDK retry).
 *
 * A third of the store purchases are made in the Japanese stores, whose back office exports them
 * as Excel does in Japan (`japaneseStoreCsv`): CP932, Japanese column names, amounts in yen
 * written `￥1,200`, `1,200円` or in full-width digits, dates in the 令和 era or as 2024/5/1 in
 * Tokyo time, and loyalty numbers, emails and phones often typed in full width at the till.
 * Yen prices are whole hundreds, so at the demo's rate (`demoCurrencyRates`, 1 JPY = 0.0067 USD)
 * every order and refund is a whole number of cents.
 *
 * Truth: every person's identifiers are joined by union-find over the person's own events
 * (identifiers normalised as the stitcher does; the shared tablet's ids left out), so the
 * expected number of profiles is the number of components. A member whose loyalty card is
 * never linked online and whose receipts carry no email is two profiles, as it should be.
 */
export interface DemoOptions {
  readonly people: number;
  readonly days: number;
  readonly seed: number;
  /** Epoch ms the population is generated for; every event is before it. */
  readonly now: number;
  /** Share of HTTP messages that are broken (default 0.05). */
  readonly badRate?: number;
}

/** A Segment message as an SDK posts it (JSON). */
export type SegmentMessage = Record<string, unknown> & { messageId: string; type: string };

/** One line of the Japanese stores' export, by its Japanese column names (`japaneseStoreMapping`). */
export interface JapaneseStoreRow {
  readonly 取引ID: string;
  readonly レシート番号: string;
  readonly 会員番号: string;
  readonly メールアドレス: string;
  readonly 電話番号: string;
  readonly 伝票番号: string;
  readonly 合計金額: string;
  readonly 購入日時: string;
  readonly 店舗: string;
}

/** `kumiki import` of the Japanese export: `--locale ja-JP` and these `--map` pairs. */
export const japaneseStoreMapping: readonly string[] = [
  'messageId=取引ID',
  'anonymousId=レシート番号',
  'loyalty_id=会員番号',
  'email=メールアドレス',
  'phone=電話番号',
  'order_id=伝票番号',
  'revenue=合計金額',
  'timestamp=購入日時',
  'properties.store=店舗',
];

/** The rates the demo's figures assume (RFM_CURRENCY_RATES of the profile-materializer). */
export const demoCurrencyRates = 'JPY=0.0067';
/** Cents of 100 yen at that rate. */
const CENTS_PER_100_YEN = 67;

/** One line of the store POS export (`kumiki import`). */
export interface StoreRow {
  readonly messageId: string;
  readonly anonymousId: string;
  readonly loyalty_id: string;
  readonly email: string;
  readonly order_id: string;
  readonly revenue: string;
  readonly currency: string;
  readonly timestamp: string;
  readonly 'properties.store': string;
}

export interface TruthOrder {
  readonly orderId: string;
  readonly person: string;
  /** An identifier (`type:value`, normalised) of the order's event: its profile is the order's. */
  readonly identifier: string;
  readonly at: number;
  readonly cents: number;
  /** Refunded cents (partial), 'full' (refund without an amount), or null. */
  readonly refund: number | 'full' | null;
  readonly channel: 'online' | 'store';
  /** The currency the order was paid in (cents are reporting cents at the demo's rates). */
  readonly currency: 'USD' | 'JPY';
}

export interface BadMessage {
  readonly messageId: string;
  readonly code: string;
}

export interface DemoPopulation {
  readonly options: Required<DemoOptions>;
  /** messageIds of every demo event start with this. */
  readonly prefix: string;
  /** HTTP messages, in sending order, ready to be cut into /v1/batch requests (bad ones and retries included). */
  readonly messages: SegmentMessage[];
  readonly storeRows: StoreRow[];
  /** The Japanese stores' purchases (`japaneseStoreCsv`). */
  readonly japaneseStoreRows: JapaneseStoreRow[];
  readonly truth: {
    readonly people: number;
    /** Expected profiles: connected components of each person's identifiers. */
    readonly profiles: number;
    /** Person → its components, each a list of identifiers (`type:value`). */
    readonly components: ReadonlyMap<string, string[][]>;
    /** Distinct messageIds that must end up in `events` (HTTP and store). */
    readonly goodMessageIds: ReadonlySet<string>;
    readonly bad: readonly BadMessage[];
    readonly orders: readonly TruthOrder[];
    /** The messageIds sent twice. */
    readonly duplicates: number;
  };
}

export const DAY_MS = 86_400_000;
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

export function generateDemoPopulation(input: DemoOptions): DemoPopulation {
  const options: Required<DemoOptions> = { badRate: 0.05, ...input };
  const { seed, days, now } = options;
  const random = mulberry32(seed);
  const chance = (p: number): boolean => random() < p;
  const pick = <T>(items: readonly T[]): T => items[Math.floor(random() * items.length)]!;
  const int = (lo: number, hi: number): number => lo + Math.floor(random() * (hi - lo + 1));
  /** The person's favourite category (set per person below): 80 % of what they look at or buy. */
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
  for (let i = 0; i < options.people; i++) {
    person = `${tag}-person-${i}`;
    personIndex = i;
    personIdentifiers.set(person, new UnionFind());
    const kind = random();
    favourite = int(0, categories.length - 1);
    orderDays = chance(0.45) ? [int(Math.floor(days / 3), days - 1), days - 1] : [0, days - 1];
    if (kind < 0.55) {
      // Member.
      const userId = `${tag}-u${i}`;
      const email = `member${i}.${tag}@example.com`;
      members.push({ userId, index: i });
      const loyalty = chance(0.5) ? `${tag}-L${100000 + i}` : undefined;
      const loyaltyOnline = loyalty !== undefined && chance(0.7);
      const sessions = int(1, 3);
      let lastAnon = '';
      for (let s = 0; s < sessions; s++) {
        const anonymousId = `${tag}-a${i}-${s}`;
        lastAnon = anonymousId;
        const day = int(0, days - 1);
        let t = browse(anonymousId, day, int(1, 4));
        if (chance(0.4)) {
          t += 30_000;
          const product = pickProduct();
          send(
            {
              type: 'track',
              event: 'Product Viewed',
              anonymousId,
              timestamp: iso(t),
              properties: product,
              context: web,
            },
            [aid(anonymousId)],
          );
        }
        // Later in the session the visitor signs in (the first time with an identify).
        t += 60_000;
        if (s === 0) {
          send(
            {
              type: 'identify',
              userId,
              anonymousId,
              timestamp: iso(t),
              traits: {
                email: emailVariant(email),
                first_name: `Member${i}`,
                ...(loyaltyOnline ? { loyaltyId: loyalty } : {}),
              },
              context: web,
            },
            [uid(userId), aid(anonymousId), eml(email), loyaltyOnline ? cid(loyalty!) : undefined],
          );
        } else
          send({ type: 'track', event: 'Signed In', userId, anonymousId, timestamp: iso(t), context: web }, [
            uid(userId),
            aid(anonymousId),
          ]);
      }
      if (chance(0.5)) {
        const deviceId = `${tag}-d${i}`;
        const appAnon = `${tag}-m${i}`;
        const context = { ...(chance(0.6) ? ios : android), device: { id: deviceId, type: 'ios' } };
        for (let k = int(1, 3); k > 0; k--) {
          send(
            {
              type: 'screen',
              name: pick(['Home', 'Wishlist', 'Product']),
              userId,
              anonymousId: appAnon,
              timestamp: iso(dayTime(int(0, days - 1))),
              context,
            },
            [uid(userId), aid(appAnon), did(deviceId)],
          );
        }
      }
      if (chance(0.05)) {
        // A buggy SDK build: a placeholder anonymous id that must never join anyone.
        send(
          {
            type: 'track',
            event: 'Cart Viewed',
            userId,
            anonymousId: pick(['undefined', 'null', '00000000-0000-0000-0000-000000000000']),
            timestamp: iso(dayTime(int(0, days - 1))),
            context: web,
          },
          [uid(userId)],
        );
      }
      const n = chance(0.8) ? orderCount() : 0;
      for (let j = 0; j < n; j++) {
        const orderId = `${tag}-o${i}-${j}`;
        const at = dayTime(orderDay());
        if (loyalty && chance(0.4)) storeOrder(orderId, at, loyalty, chance(0.4) ? email : undefined, userId);
        else
          onlineOrder(
            orderId,
            at,
            userId,
            chance(0.3) ? { ...ios, device: { id: `${tag}-d${i}`, type: 'ios' } } : web,
            chance(0.5) ? lastAnon : undefined,
          );
      }
      if (chance(0.2)) {
        // Something put in the cart in the last days, and (maybe) never bought.
        const t = dayTime(int(0, Math.min(6, days - 1)));
        send(
          {
            type: 'track',
            event: 'Product Added',
            userId,
            timestamp: iso(t),
            properties: { ...pickProduct(), quantity: 1 },
            context: web,
          },
          [uid(userId)],
        );
      }
      for (let k = chance(0.5) ? int(1, 2) : 0; k > 0; k--) emailClick(email, k);
    } else if (kind < 0.72) {
      // Newsletter subscriber.
      const anonymousId = `${tag}-a${i}-0`;
      const email = `reader${i}.${tag}@example.com`;
      const t = browse(anonymousId, int(0, days - 1), int(1, 3)) + 60_000;
      send(
        {
          type: 'identify',
          anonymousId,
          timestamp: iso(t),
          traits: { email: emailVariant(email), newsletter: true },
          context: web,
        },
        [aid(anonymousId), eml(email)],
      );
      for (let k = int(0, 2); k > 0; k--) emailClick(email, k);
      if (chance(0.3)) {
        const loyalty = chance(0.4) ? `${tag}-L${100000 + i}` : undefined;
        for (let j = orderCount(); j > 0; j--)
          storeOrder(
            `${tag}-o${i}-${j}`,
            dayTime(orderDay()),
            loyalty,
            loyalty && chance(0.5) ? undefined : email,
            undefined,
          );
      }
    } else if (kind < 0.85) {
      // Store-only shopper with a loyalty card.
      const loyalty = `${tag}-L${100000 + i}`;
      const email = chance(0.4) ? `shopper${i}.${tag}@example.com` : undefined;
      for (let j = orderCount(); j > 0; j--)
        storeOrder(
          `${tag}-o${i}-${j}`,
          dayTime(orderDay()),
          loyalty,
          email && chance(0.5) ? email : undefined,
          undefined,
        );
    } else {
      // Anonymous browser.
      const anonymousId = `${tag}-a${i}-0`;
      const t = browse(anonymousId, int(0, days - 1), int(1, 5));
      if (chance(0.3))
        send(
          {
            type: 'track',
            event: 'Product Added',
            anonymousId,
            timestamp: iso(t + 30_000),
            properties: { ...pickProduct(), quantity: 1 },
            context: web,
          },
          [aid(anonymousId)],
        );
    }
  }

  // Households: two members share a tablet. Its anonymous page views belong to nobody the
  // rules can know; each member's sign-in on it carries their own user id.
  for (let h = 0; h + 1 < members.length; h += 20) {
    const tabletAnon = `${tag}-tablet-${h}`;
    const tabletDevice = `${tag}-tablet-device-${h}`;
    shared.add(aid(tabletAnon));
    shared.add(did(tabletDevice));
    const context = { ...android, device: { id: tabletDevice, type: 'android' } };
    for (const member of [members[h]!, members[h + 1]!]) {
      person = `${tag}-person-${member.index}`;
      const t = dayTime(int(0, days - 1));
      send({ type: 'screen', name: 'Home', anonymousId: tabletAnon, timestamp: iso(t), context }, [], null);
      send(
        {
          type: 'track',
          event: 'Signed In',
          userId: member.userId,
          anonymousId: tabletAnon,
          timestamp: iso(t + 30_000),
          context,
        },
        [uid(member.userId)],
      );
    }
  }

  // Broken messages, spread through the stream.
  const good = messages.length;
  const badCount = Math.round((good * options.badRate) / (1 - options.badRate));
  const brokenKinds: { code: string; make: (messageId: string) => SegmentMessage }[] = [
    {
      code: 'KUMIKI_MISSING_FIELD',
      make: (messageId) => ({ messageId, type: 'track', userId: `${tag}-u0`, properties: {}, context: web }),
    },
    { code: 'KUMIKI_MISSING_FIELD', make: (messageId) => ({ messageId, type: 'page', name: 'Home', context: web }) },
    {
      code: 'KUMIKI_INVALID_TIMESTAMP',
      make: (messageId) => ({
        messageId,
        type: 'track',
        event: 'Product Viewed',
        anonymousId: `${tag}-x`,
        timestamp: 'last tuesday',
        context: web,
      }),
    },
    {
      code: 'KUMIKI_INVALID_EVENT',
      make: (messageId) => ({
        messageId,
        type: 'track',
        event: 'Product Viewed',
        anonymousId: `${tag}-x`,
        properties: 'sku=42',
        context: web,
      }),
    },
  ];
  for (let b = 0; b < badCount; b++) {
    const kind = brokenKinds[b % brokenKinds.length]!;
    const message = kind.make(`${prefix}bad-${b}`);
    bad.push({ messageId: message.messageId, code: kind.code });
    messages.splice(Math.floor(random() * (messages.length + 1)), 0, message);
  }
  // SDK retries: the same messages again, later.
  const retries = messages.filter((m) => goodMessageIds.has(m.messageId) && chance(0.01));
  messages.push(...retries);

  let profiles = 0;
  for (const [who, uf] of personIdentifiers) {
    const groups = uf.groups();
    components.set(who, groups);
    profiles += groups.length;
  }
  return {
    options,
    prefix,
    messages,
    storeRows,
    japaneseStoreRows,
    truth: { people: options.people, profiles, components, goodMessageIds, bad, orders, duplicates: retries.length },
  };
}

/** The store rows as CSV with a header (RFC 4180 quoting where needed). */
export function storeRowsCsv(rows: readonly StoreRow[]): string {
  const columns: (keyof StoreRow)[] = [
    'messageId',
    'anonymousId',
    'loyalty_id',
    'email',
    'order_id',
    'revenue',
    'currency',
    'timestamp',
    'properties.store',
  ];
  const quote = (value: string): string => (/[",\n]/.test(value) ? `"${value.replace(/"/g, '""')}"` : value);
  return `${[columns.join(','), ...rows.map((row) => columns.map((c) => quote(row[c])).join(','))].join('\n')}\n`;
}

/** The Japanese stores' export as Excel writes it in Japan: CP932, CRLF, quoted where needed. */
export function japaneseStoreCsv(rows: readonly JapaneseStoreRow[]): Buffer {
  const columns: (keyof JapaneseStoreRow)[] = [
    '取引ID',
    'レシート番号',
    '会員番号',
    'メールアドレス',
    '電話番号',
    '伝票番号',
    '合計金額',
    '購入日時',
    '店舗',
  ];
  const quote = (value: string): string => (/[",\r\n]/.test(value) ? `"${value.replace(/"/g, '""')}"` : value);
  const lines = [columns.join(','), ...rows.map((row) => columns.map((c) => quote(row[c])).join(','))];
  return iconv.encode(`${lines.join('\r\n')}\r\n`, 'cp932');
}

/** ASCII in its full-width forms, as a Japanese input method types it. */
function fullWidth(text: string): string {
  return text.replace(/[!-~]/g, (c) => String.fromCharCode(c.charCodeAt(0) + 0xfee0));
}

/** A yen amount in one of the ways Japanese back offices write it. */
function yenText(yen: number, draw: number): string {
  const grouped = yen.toLocaleString('en-US');
  if (draw < 0.3) return `￥${grouped}`;
  if (draw < 0.6) return `${grouped}円`;
  if (draw < 0.8) return `${fullWidth(grouped)}円`;
  return `¥${grouped}`; // CP932 has no U+00A5: it becomes 0x5C, which Japanese Windows shows as ¥
}

/** A moment in Tokyo time (UTC+9, no daylight saving) in one of the ways Japanese exports write dates. */
function tokyoDateTime(ms: number, draw: number): string {
  const t = new Date(ms + 9 * 3_600_000);
  const [y, m, d, hh, mm, ss] = [
    t.getUTCFullYear(),
    t.getUTCMonth() + 1,
    t.getUTCDate(),
    t.getUTCHours(),
    t.getUTCMinutes(),
    t.getUTCSeconds(),
  ];
  const two = (n: number): string => String(n).padStart(2, '0');
  const reiwa = y - 2018;
  const era = reiwa === 1 ? '元' : String(reiwa);
  if (draw < 0.3) return `令和${era}年${m}月${d}日 ${hh}:${two(mm)}:${two(ss)}`;
  if (draw < 0.5) return `R${reiwa}.${m}.${d} ${hh}:${two(mm)}:${two(ss)}`;
  if (draw < 0.8) return `${y}/${m}/${d} ${hh}:${two(mm)}:${two(ss)}`;
  return fullWidth(`${y}年${m}月${d}日 ${hh}時${mm}分${ss}秒`);
}

/** A Japanese mobile number of the person (unique per index), as written and in E.164. */
function japaneseMobile(index: number): { written: string; e164: string } {
  const [a, b] = [String(1000 + Math.floor(index / 10_000)), String(index % 10_000).padStart(4, '0')];
  return { written: `+81 90-${a}-${b}`, e164: `+8190${a}${b}` };
}

/** Splits messages into /v1/batch bodies of at most `size` messages. */
export function batchesOf<T>(items: readonly T[], size: number): T[][] {
  const out: T[][] = [];
  for (let i = 0; i < items.length; i += size) out.push(items.slice(i, i + size));
  return out;
}

class UnionFind {
  private readonly parent = new Map<string, string>();
  add(id: string): void {
    if (!this.parent.has(id)) this.parent.set(id, id);
  }
  find(id: string): string {
    let root = id;
    while (this.parent.get(root) !== root) root = this.parent.get(root)!;
    let node = id;
    while (node !== root) {
      const next = this.parent.get(node)!;
      this.parent.set(node, root);
      node = next;
    }
    return root;
  }
  union(a: string, b: string): void {
    const ra = this.find(a);
    const rb = this.find(b);
    if (ra === rb) return;
    // The smaller id becomes the root (string order), so groups are the same whatever the union order.
    const [root, child] = ra < rb ? [ra, rb] : [rb, ra];
    this.parent.set(child, root);
  }
  groups(): string[][] {
    const byRoot = new Map<string, string[]>();
    for (const id of this.parent.keys()) {
      const root = this.find(id);
      byRoot.set(root, [...(byRoot.get(root) ?? []), id]);
    }
    return [...byRoot.values()];
  }
}

function gaussian(random: () => number): number {
  const u = Math.max(random(), 1e-12);
  return Math.sqrt(-2 * Math.log(u)) * Math.cos(2 * Math.PI * random());
}

/** A small deterministic PRNG (mulberry32): the same seed gives the same population, and a failure can be reproduced. */
export function mulberry32(seed: number): () => number {
  let state = seed >>> 0;
  return () => {
    state = (state + 0x6d2b79f5) >>> 0;
    let t = state;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}
