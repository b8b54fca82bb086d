import type { StitchedEvent } from '../../schemas';

const DAY = 86_400_000;

/**
 * `n` stitched events as the identity stitcher writes them, for the materializer's benchmarks:
 * page views, product views and adds, and every tenth an order, spread over 300 days before
 * `now`, profile `profileOf(i)`; messageIds start with `prefix`.
 */
export function stitchedEvents(
  n: number,
  now: number,
  profileOf: (i: number) => string,
  prefix = 'm',
): StitchedEvent[] {
  const out: StitchedEvent[] = [];
  const names = ['Page Viewed', 'Product Viewed', 'Product Added', 'Order Completed'];
  for (let i = 0; i < n; i++) {
    const p = profileOf(i);
    const name = names[i % 10 === 0 ? 3 : i % 3]!;
    const at = now - ((i * 104729) % (300 * DAY));
    out.push({
      profileId: p,
      identifiers: [{ type: 'user_id', value: `u-${p}` }],
      stitchedAt: now,
      event: {
        messageId: `${prefix}-${i}-${p}`,
        type: 'track',
        event: name,
        name: null,
        userId: `u-${p}`,
        anonymousId: `a-${p}`,
        previousId: null,
        groupId: null,
        timestamp: at,
        sentAt: null,
        receivedAt: at,
        channel: i % 4 === 0 ? 'store' : 'web',
        source: 'bench',
        context: '{"page":{"path":"/p"},"userAgent":"bench"}',
        properties:
          name === 'Order Completed'
            ? `{"order_id":"o-${i}","revenue":${(i % 500) + 0.99},"currency":"USD"}`
            : '{"sku":"sku-1","price":12.5}',
        traits: '{}',
        consent: {},
      },
    });
  }
  return out;
}
