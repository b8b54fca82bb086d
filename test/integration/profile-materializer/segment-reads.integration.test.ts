import pino from 'pino';
import type { ClickHouse } from '../../../services/common/clickhouse/client-factory';
import { refreshSegmentReads } from '../../../services/profile-materializer/segments/segment-reads';
import { createSegment } from '../../../services/profile-materializer/segments/segment.repository';
import { tablesRead } from '../../../services/profile-materializer/segments/tables-read';
import { defaultSegmentLimits } from '../../../services/profile-materializer/segments/validate-segment-sql';
import { embeddedHome, freshDatabase } from './materializer-test-env';

/**
 * Which tables a segment reads, as ClickHouse's analyzer resolves them (chDB here; the same SQL
 * runs on a server), closed over view definitions. The expected lists are the views and store
 * tables of the migrations: a segment over the `rfm` view reads the snapshot's rows through it.
 */
jest.setTimeout(120_000);

const now = Date.UTC(2026, 10, 23, 12, 0, 0);
const home = embeddedHome('segment-reads');
const options = { now, limits: defaultSegmentLimits };
let ch: ClickHouse;

// What every member query reads: the wrapper (or the rule) keeps current profiles only, and the
// profiles view leaves merged-away ids out.
const profiles = ['profile_aliases', 'profile_aliases_store', 'profiles', 'profiles_store'];
// The rfm view: the latest complete snapshot's rows, merged-away ids left out.
const rfmView = ['profile_aliases', 'profile_aliases_store', 'rfm', 'rfm_snapshot_rows_store', 'rfm_snapshots_store'];
const sorted = (...lists: string[][]): string[] => [...new Set(lists.flat())].sort();

beforeAll(async () => {
  ch = await freshDatabase(home);
});

afterAll(async () => {
  await ch.close();
});

async function readsOf(definition: Record<string, unknown>): Promise<string[]> {
  const segment = await createSegment(
    ch,
    { name: 'reads', ...definition },
    { limits: defaultSegmentLimits, now: () => now },
  );
  const [row] = await ch.query<{ reads: string[] }>('SELECT reads FROM segments WHERE segment_id = {id:String}', {
    id: segment.id,
  });
  return row!.reads;
}

describe('tables a segment reads', () => {
  it('an SQL segment over rfm reads the snapshot through the view; stored with the segment', async () => {
    expect(await readsOf({ sql: 'SELECT profile_id FROM rfm WHERE monetary >= 100' })).toEqual(
      sorted(profiles, rfmView),
    );
  });

  it('a rule on RFM reads rfm_as_of and what it is computed from; a trait rule only profiles', async () => {
    expect(await readsOf({ rule: { rfm: 'label', op: 'eq', value: 'Champions' } })).toEqual(
      sorted(profiles, ['order_events_store', 'orders_as_of', 'rfm_as_of', 'rfm_settings_store']),
    );
    expect(await readsOf({ rule: { trait: 'plan', op: 'eq', value: 'pro' } })).toEqual(profiles);
  });

  it('finds tables in joins, IN, CTEs, UNION and scalar subqueries; table functions and other databases read none', async () => {
    const sql = `
      WITH buyers AS (SELECT profile_id FROM events WHERE event = 'Order Completed')
      SELECT b.profile_id AS profile_id FROM buyers AS b JOIN identities AS i ON i.profile_id = b.profile_id
      WHERE b.profile_id IN (SELECT profile_id FROM segment_members)
        AND length(b.profile_id) > (SELECT count() FROM rfm)
      UNION ALL
      SELECT toString(number) AS profile_id FROM numbers(2) WHERE number > (SELECT count() FROM system.one)`;
    expect(await tablesRead(ch, { sql, params: {} }, options)).toEqual(
      sorted(
        ['events', 'events_store', 'profile_aliases', 'profile_aliases_store'],
        ['identities', 'identities_store'],
        ['segment_members', 'segment_members_store', 'segments_store'],
        rfmView,
      ),
    );
  });

  it('at start, segments saved before their tables were stored are analysed once', async () => {
    const logger = pino({ level: 'silent' });
    await ch.insert('segments_store', [
      {
        segment_id: 'seg_before_reads',
        name: 'older',
        kind: 'sql',
        sql: 'SELECT profile_id FROM rfm',
        created_at: '2026-11-01 00:00:00.000',
        updated_at: '2026-11-01 00:00:00.000',
        version: '1',
      },
    ]);
    const before = await ch.query<{ reads: string[] }>(
      "SELECT reads FROM segments WHERE segment_id = 'seg_before_reads'",
    );
    expect(before).toEqual([{ reads: [] }]);
    expect(await refreshSegmentReads(ch, logger, { now: () => now })).toBe(1);
    const after = await ch.query<{ reads: string[] }>(
      "SELECT reads FROM segments WHERE segment_id = 'seg_before_reads'",
    );
    expect(after).toEqual([{ reads: sorted(profiles, rfmView) }]);
    // Nothing changed since: nothing is written again.
    expect(await refreshSegmentReads(ch, logger, { now: () => now + 1 })).toBe(0);
  });
});
