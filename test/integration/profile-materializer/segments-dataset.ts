import type { ClickHouse } from '../../../services/common/clickhouse/client-factory';
import { dateTime64Text } from '../../../services/common/clickhouse/datetime64';
import { parseRates } from '../../../services/profile-materializer/rfm/money';
import { writeRfmSettings } from '../../../services/profile-materializer/rfm/rfm.repository';
import {
  evaluationParams,
  segmentQuery,
  type SegmentSource,
} from '../../../services/profile-materializer/segments/segment-query';
import { freshDatabase } from './materializer-test-env';

/**
 * The segment tests' dataset (segment-rules and segment-definitions): a small known population
 * written straight into the store tables, evaluated at a controlled `now`.
 *
 * The people (now = 2026-11-23 12:00 UTC):
 *   alice  pro, 34, Paris, tags vip, birthday 1990-11-03, marketing consent. Orders o1 (web, shoes,
 *          50, 4 days ago) and o2 (store, 30, 10 days ago); a web page view 20 days ago; her absorbed
 *          profile alice-anon viewed a page on mobile 1 day ago.
 *   bob    free, 19, birthday 1985-04-12, marketing refused. Added to cart 2 days ago, no order
 *          (his order "in 1 hour" is after now and must be ignored).
 *   carol  pro, birthday 2000-11-30, marketing consent. Added to cart 3 days ago and bought 12 h
 *          later (order o3 reported twice: web and store import).
 *   dave   45, no consent recorded. Added to cart 4 d 8 h ago, bought 2 h later (o4, 4 d 6 h ago).
 *   erin   added to cart 30 days ago (never bought) and 3 hours ago.
 *   frank  bought o5 (200) 3 days ago, then added to cart 2 days ago without buying.
 */
export const now = Date.UTC(2026, 10, 23, 12, 0, 0);
export const HOUR = 3_600_000;
export const DAY = 24 * HOUR;
export const ago = (ms: number): string => dateTime64Text(now - ms);

export let messages = 0;
export function event(profile: string, at: string, fields: Record<string, unknown>): Record<string, unknown> {
  messages += 1;
  return {
    message_id: `m${messages}`,
    profile_id: profile,
    type: 'track',
    event: '',
    timestamp: at,
    received_at: at,
    channel: 'web',
    version: messages,
    ...fields,
  };
}
export const order = (
  profile: string,
  at: string,
  id: string,
  revenue: number,
  fields: Record<string, unknown> = {},
): Record<string, unknown> =>
  event(profile, at, { event: 'Order Completed', order_id: id, revenue, currency: 'USD', ...fields });
export const added = (profile: string, at: string): Record<string, unknown> =>
  event(profile, at, { event: 'Product Added' });
export const page = (profile: string, at: string, channel: string): Record<string, unknown> =>
  event(profile, at, { type: 'page', name: 'Home', channel });

export const events = [
  order('alice', ago(4 * DAY), 'o1', 50, { properties: JSON.stringify({ category: 'shoes' }) }),
  order('alice', ago(10 * DAY), 'o2', 30, { channel: 'store' }),
  page('alice', ago(20 * DAY), 'web'),
  page('alice-anon', ago(1 * DAY), 'mobile'),
  added('bob', ago(2 * DAY)),
  order('bob', dateTime64Text(now + HOUR), 'o-future', 999),
  added('carol', ago(3 * DAY)),
  order('carol', ago(2.5 * DAY), 'o3', 20),
  order('carol', ago(2.5 * DAY - 60_000), 'o3', 20, { channel: 'store' }),
  added('dave', ago(4 * DAY + 8 * HOUR)),
  order('dave', ago(4 * DAY + 6 * HOUR), 'o4', 10),
  added('erin', ago(30 * DAY)),
  added('erin', ago(3 * HOUR)),
  order('frank', ago(3 * DAY), 'o5', 200),
  added('frank', ago(2 * DAY)),
];

export function profile(
  id: string,
  traits: Record<string, unknown>,
  consent: Record<string, boolean> = {},
): Record<string, unknown> {
  return {
    profile_id: id,
    traits: JSON.stringify(traits),
    first_seen: ago(40 * DAY),
    last_seen: ago(0),
    consent,
    channels: [],
    identifiers: [],
    version: 1,
  };
}

export const profiles = [
  profile(
    'alice',
    {
      plan: 'pro',
      age: 34,
      email: 'alice@example.com',
      birthday: '1990-11-03',
      tags: ['vip', 'newsletter'],
      address: { city: 'Paris' },
    },
    { marketing: true },
  ),
  profile('alice-anon', { plan: 'pro' }, { marketing: true }),
  profile('bob', { plan: 'free', age: 19, birthday: '1985-04-12' }, { marketing: false }),
  profile('carol', { plan: 'pro', birthday: '2000-11-30T08:00:00Z' }, { marketing: true }),
  profile('dave', { age: 45 }),
  profile('erin', {}),
  profile('frank', { age: 'unknown' }),
];
export const everyone = ['alice', 'bob', 'carol', 'dave', 'erin', 'frank'];

/** A fresh database of `home` holding the dataset, the alias of alice-anon and the RFM settings. */
export async function segmentsDatabase(home: string): Promise<ClickHouse> {
  const ch = await freshDatabase(home);
  await ch.insert('events_store', events);
  await ch.insert('profiles_store', profiles);
  await ch.insert('profile_aliases_store', [
    { absorbed_profile_id: 'alice-anon', surviving_profile_id: 'alice', merged_at: ago(DAY), version: 1 },
  ]);
  await writeRfmSettings(ch, {
    purchaseEvents: ['Order Completed'],
    refundEvents: ['Order Refunded'],
    windowDays: 365,
    rates: parseRates('', 'USD'),
    reportingCurrency: 'USD',
  });
  return ch;
}

/** The members of a segment source at `now`, sorted. */
export async function membersOf(
  ch: ClickHouse,
  source: SegmentSource,
  candidates?: readonly string[],
): Promise<string[]> {
  const query = segmentQuery(source, candidates ? { candidates } : {});
  const rows = await ch.query<{ profile_id: string }>(
    query.sql,
    { ...query.params, ...evaluationParams(now, candidates) },
    { readOnly: true },
  );
  return rows.map((r) => r.profile_id).sort();
}
