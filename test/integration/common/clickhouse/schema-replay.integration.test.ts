import { closeAll, migratedDatabase } from './clickhouse-test-env';

afterAll(closeAll);

const event = (overrides: Record<string, unknown> = {}): Record<string, unknown> => ({
  message_id: 'msg-1',
  profile_id: 'p-1',
  type: 'track',
  event: 'Order Completed',
  timestamp: '2025-03-01T10:00:00.123Z',
  received_at: '2025-03-01T10:00:01.000Z',
  channel: 'web',
  source: 'website',
  user_id: 'u-1',
  anonymous_id: 'a-1',
  order_id: 'o-1',
  revenue: 19.99,
  currency: 'EUR',
  properties: JSON.stringify({ order_id: 'o-1', total: 19.99 }),
  version: 1740823201000,
  ...overrides,
});

describe('the schema under replay and merges', () => {
  it('shows an event written twice as one row in the events view (FINAL), however the parts are merged', async () => {
    const ch = await migratedDatabase();
    await ch.insert('events_store', [event()]);
    await ch.insert('events_store', [event()]); // a replay: a second part holding the same row

    // Exact reads: the view reads FINAL; by hand, argMax by version per message_id.
    await expect(ch.query('SELECT count() AS n, sum(revenue) AS revenue FROM events')).resolves.toEqual([
      { n: '1', revenue: 19.99 },
    ]);
    await expect(
      ch.query(
        'SELECT count() AS n FROM (SELECT message_id, argMax(revenue, version) AS r FROM events_store GROUP BY message_id)',
      ),
    ).resolves.toEqual([{ n: '1' }]);

    // A retry received later, stitched when its timestamp was corrected differently: still one event.
    await ch.insert('events_store', [
      event({ timestamp: '2025-03-01T10:00:00.456Z', received_at: '2025-03-01T10:05:00.000Z', version: 1740823500000 }),
    ]);
    await expect(ch.query('SELECT message_id, timestamp, revenue, currency FROM events')).resolves.toEqual([
      { message_id: 'msg-1', timestamp: '2025-03-01 10:00:00.456', revenue: 19.99, currency: 'EUR' },
    ]);
    await ch.command('OPTIMIZE TABLE events_store FINAL');
    await expect(ch.query('SELECT count() AS n FROM events_store')).resolves.toEqual([{ n: '1' }]);
  });

  it('resolves merged-away profile ids to the survivor in every public view', async () => {
    const ch = await migratedDatabase();
    const now = '2025-03-02T00:00:00.000Z';
    await ch.insert('events_store', [
      event({ message_id: 'm-old', profile_id: 'p-old' }),
      event({ message_id: 'm-new', profile_id: 'p-new', order_id: 'o-2' }),
    ]);
    await ch.insert('identities_store', [
      {
        identifier_type: 'email',
        identifier_value: 'ann@example.com',
        profile_id: 'p-old',
        linked_at: now,
        version: 1,
      },
      { identifier_type: 'anonymous_id', identifier_value: 'a-9', profile_id: 'p-new', linked_at: now, version: 2 },
    ]);
    await ch.insert('profiles_store', [
      {
        profile_id: 'p-old',
        first_seen: now,
        last_seen: now,
        consent: { email: true },
        channels: ['web'],
        identifiers: ['email:ann@example.com'],
        version: 1,
      },
      {
        profile_id: 'p-new',
        first_seen: now,
        last_seen: now,
        consent: {},
        channels: ['store'],
        identifiers: ['anonymous_id:a-9'],
        version: 1,
      },
    ]);
    await ch.insert('segment_members_store', [
      { segment_id: 's-1', profile_id: 'p-old', is_member: 1, since: now, changed_at: now, version: 1 },
      { segment_id: 's-1', profile_id: 'p-new', is_member: 1, since: now, changed_at: now, version: 1 },
    ]);

    // The stitcher merges p-new into the older p-old.
    await ch.insert('profile_aliases_store', [
      { absorbed_profile_id: 'p-new', surviving_profile_id: 'p-old', merged_at: now, message_id: 'm-new', version: 3 },
    ]);

    await expect(
      ch.query('SELECT message_id, profile_id, stitched_profile_id FROM events ORDER BY message_id'),
    ).resolves.toEqual([
      { message_id: 'm-new', profile_id: 'p-old', stitched_profile_id: 'p-new' },
      { message_id: 'm-old', profile_id: 'p-old', stitched_profile_id: 'p-old' },
    ]);
    await expect(
      ch.query('SELECT identifier_type, profile_id FROM identities ORDER BY identifier_type'),
    ).resolves.toEqual([
      { identifier_type: 'anonymous_id', profile_id: 'p-old' },
      { identifier_type: 'email', profile_id: 'p-old' },
    ]);
    await expect(ch.query('SELECT profile_id, consent FROM profiles')).resolves.toEqual([
      { profile_id: 'p-old', consent: { email: true } },
    ]);
    await expect(ch.query('SELECT segment_id, profile_id FROM segment_members')).resolves.toEqual([
      { segment_id: 's-1', profile_id: 'p-old' },
    ]);
    await expect(ch.query('SELECT absorbed_profile_id, surviving_profile_id FROM profile_aliases')).resolves.toEqual([
      { absorbed_profile_id: 'p-new', surviving_profile_id: 'p-old' },
    ]);
    await expect(ch.query("SELECT count() AS n FROM events WHERE profile_id = 'p-new'")).resolves.toEqual([{ n: '0' }]);
  });

  it('keeps the latest snapshot per key and hides exits and deletions', async () => {
    const ch = await migratedDatabase();
    const at = (minute: number): string => `2025-03-02T00:0${minute}:00.000Z`;
    await ch.insert('segments_store', [
      {
        segment_id: 's-1',
        name: 'buyers',
        kind: 'sql',
        sql: 'SELECT 1',
        created_at: at(0),
        updated_at: at(0),
        version: 1,
      },
    ]);
    await ch.insert('segments_store', [
      {
        segment_id: 's-2',
        name: 'gone',
        kind: 'sql',
        sql: 'SELECT 1',
        created_at: at(0),
        updated_at: at(1),
        deleted: 1,
        version: 2,
      },
    ]);
    await ch.insert('segment_members_store', [
      { segment_id: 's-1', profile_id: 'p-1', is_member: 1, since: at(0), changed_at: at(0), version: 1 },
      { segment_id: 's-1', profile_id: 'p-2', is_member: 1, since: at(0), changed_at: at(0), version: 1 },
      { segment_id: 's-2', profile_id: 'p-1', is_member: 1, since: at(0), changed_at: at(0), version: 1 },
    ]);
    await ch.insert('segment_members_store', [
      { segment_id: 's-1', profile_id: 'p-2', is_member: 0, since: at(0), changed_at: at(2), version: 2 },
    ]);
    await ch.insert('rfm_store', [
      {
        profile_id: 'p-1',
        last_purchase_at: at(0),
        recency_days: 3,
        frequency: 1,
        monetary: '19.99',
        r_score: 3,
        f_score: 1,
        m_score: 1,
        label: 'New',
        computed_at: at(0),
        version: 1,
      },
      {
        profile_id: 'p-1',
        last_purchase_at: at(1),
        recency_days: 0,
        frequency: 2,
        monetary: '59.99',
        r_score: 5,
        f_score: 2,
        m_score: 3,
        label: 'Promising',
        computed_at: at(1),
        version: 2,
      },
    ]);

    await expect(ch.query('SELECT segment_id, name FROM segments')).resolves.toEqual([
      { segment_id: 's-1', name: 'buyers' },
    ]);
    await expect(ch.query('SELECT segment_id, profile_id FROM segment_members')).resolves.toEqual([
      { segment_id: 's-1', profile_id: 'p-1' },
    ]);
    // rfm_store has no alias-resolving view of its own any more (0006 computes the rfm view from events): read it FINAL.
    await expect(ch.query('SELECT frequency, monetary, label FROM rfm_store FINAL')).resolves.toEqual([
      { frequency: 2, monetary: 59.99, label: 'Promising' },
    ]);
  });
});
