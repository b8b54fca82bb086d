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
import { anonymousBrowser, member, newsletterSubscriber, storeShopper } from './demo-people';
import { UnionFind } from './demo-random';
import type { DemoOptions, DemoPopulation, SegmentMessage, StoreRow } from './demo-types';
import { createDemoWorld } from './demo-world';

export {
  demoCurrencyRates,
  japaneseStoreCsv,
  japaneseStoreMapping,
  type JapaneseStoreRow,
} from './demo-japanese-stores';
export { mulberry32 } from './demo-random';
export * from './demo-types';

export function generateDemoPopulation(input: DemoOptions): DemoPopulation {
  const options: Required<DemoOptions> = { badRate: 0.05, ...input };
  const world = createDemoWorld(options);
  const {
    days,
    tag,
    prefix,
    random,
    chance,
    int,
    dayTime,
    iso,
    web,
    android,
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
    uid,
    aid,
    did,
    members,
  } = world;
  for (let i = 0; i < options.people; i++) {
    world.setPerson(`${tag}-person-${i}`, i);
    personIdentifiers.set(`${tag}-person-${i}`, new UnionFind());
    const kind = random();
    world.drawHabits();
    if (kind < 0.55) member(world, i);
    else if (kind < 0.72) newsletterSubscriber(world, i);
    else if (kind < 0.85) storeShopper(world, i);
    else anonymousBrowser(world, i);
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
      world.setPerson(`${tag}-person-${member.index}`);
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

/** Splits messages into /v1/batch bodies of at most `size` messages. */
export function batchesOf<T>(items: readonly T[], size: number): T[][] {
  const out: T[][] = [];
  for (let i = 0; i < items.length; i += size) out.push(items.slice(i, i + size));
  return out;
}
