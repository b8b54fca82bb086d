import type { DemoWorld } from './demo-world';

/**
 * The kinds of people of the demo population (demo-population.ts has the whole picture), each
 * generating its events through the population's world (demo-world.ts). The order of the random
 * draws is what makes a seed give the same population: keep it.
 */

/** An account holder: web sessions that sign in, an app, orders online and in store, email clicks. */
export function member(world: DemoWorld, i: number): void {
  const {
    tag,
    days,
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
    send,
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
  } = world;
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
}

/** A newsletter subscriber: one anonymous session that leaves an email, email clicks, sometimes store purchases. */
export function newsletterSubscriber(world: DemoWorld, i: number): void {
  const {
    tag,
    days,
    chance,
    int,
    orderDay,
    dayTime,
    iso,
    web,
    send,
    aid,
    eml,
    emailVariant,
    orderCount,
    storeOrder,
    browse,
    emailClick,
  } = world;
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
}

/** A store-only shopper with a loyalty card, sometimes an email on the receipt. */
export function storeShopper(world: DemoWorld, i: number): void {
  const { tag, chance, dayTime, orderDay, orderCount, storeOrder } = world;
  const loyalty = `${tag}-L${100000 + i}`;
  const email = chance(0.4) ? `shopper${i}.${tag}@example.com` : undefined;
  for (let j = orderCount(); j > 0; j--)
    storeOrder(`${tag}-o${i}-${j}`, dayTime(orderDay()), loyalty, email && chance(0.5) ? email : undefined, undefined);
}

/** An anonymous browser, who sometimes leaves a product in the cart. */
export function anonymousBrowser(world: DemoWorld, i: number): void {
  const { tag, days, chance, pickProduct, int, iso, web, send, aid, browse } = world;
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
