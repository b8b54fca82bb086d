import type { ClickHouse } from '../../../services/common/clickhouse/client-factory';
import { dateTime64Text } from '../../../services/common/clickhouse/datetime64';
import { applyRetention, tableTtlOf } from '../../../services/profile-materializer/retention/retention-ttl';
import { parseRates } from '../../../services/profile-materializer/rfm/money';
import { writeRfmSettings } from '../../../services/profile-materializer/rfm/rfm.repository';
import { embeddedHome, freshDatabase } from './materializer-test-env';

/**
 * Retention by ClickHouse TTL on real (embedded) ClickHouse: old events and long-inactive
 * profiles go at the next merge, recent ones stay; the TTL is set only when it changes (a change
 * rewrites the table's parts), and 0 removes it.
 */
const home = embeddedHome('retention');
let ch: ClickHouse;

beforeAll(async () => {
  ch = await freshDatabase(home);
  await writeRfmSettings(ch, {
    purchaseEvents: ['Order Completed'],
    refundEvents: [],
    windowDays: 365,
    rates: parseRates('', 'USD'),
    reportingCurrency: 'USD',
  });
});

afterAll(async () => {
  await ch?.close();
});

const day = 86_400_000;

async function ttlOf(table: string): Promise<string | undefined> {
  const [row] = await ch.query<{ engine_full: string }>(
    'SELECT engine_full FROM system.tables WHERE database = currentDatabase() AND name = {t:String}',
    { t: table },
  );
  return tableTtlOf(row!.engine_full);
}

it('removes events and inactive profiles past their days, keeps the rest, and changes a TTL only when it differs', async () => {
  expect(await applyRetention(ch, { eventsDays: 30, profilesDays: 365 })).toEqual([
    'events_store',
    'profile_activity_store',
    'order_events_store',
    'unprofiled_events_store',
    'profiles_store',
    'profile_facts_store',
  ]);
  expect(await ttlOf('events_store')).toBe('toDateTime(timestamp) + toIntervalDay(30)');
  expect(await applyRetention(ch, { eventsDays: 30, profilesDays: 365 })).toEqual([]);

  const now = Date.now();
  const event = (id: string, at: number) => ({
    message_id: id,
    profile_id: `p-${id}`,
    type: 'track',
    event: 'Viewed',
    timestamp: dateTime64Text(at),
    received_at: dateTime64Text(at),
    version: at,
  });
  const order = (id: string, at: number) => ({ ...event(id, at), event: 'Order Completed', order_id: id });
  await ch.insert('events_store', [
    event('old', now - 40 * day),
    event('new', now - 2 * day),
    order('old-order', now - 40 * day),
    order('new-order', now - 2 * day),
  ]);
  const profile = (id: string, lastSeen: number) => ({
    profile_id: id,
    first_seen: dateTime64Text(lastSeen),
    last_seen: dateTime64Text(lastSeen),
    consent: {},
    channels: [],
    identifiers: [],
    version: 1,
  });
  await ch.insert('profiles_store', [profile('gone', now - 400 * day), profile('active', now - 10 * day)]);
  for (const table of ['events_store', 'order_events_store', 'profiles_store'])
    await ch.command(`OPTIMIZE TABLE ${table} FINAL`);
  expect(await ch.query('SELECT message_id FROM events_store ORDER BY message_id')).toEqual([
    { message_id: 'new' },
    { message_id: 'new-order' },
  ]);
  expect(await ch.query('SELECT message_id FROM order_events_store')).toEqual([{ message_id: 'new-order' }]);
  expect(await ch.query('SELECT profile_id FROM profiles_store ORDER BY profile_id')).toEqual([
    { profile_id: 'active' },
  ]);

  expect(await applyRetention(ch, { eventsDays: 0, profilesDays: 365 })).toEqual([
    'events_store',
    'profile_activity_store',
    'order_events_store',
    'unprofiled_events_store',
  ]);
  expect(await ttlOf('events_store')).toBeUndefined();
  expect(await ttlOf('profiles_store')).toBe('toDateTime(last_seen) + toIntervalDay(365)');
});
