import type { ClickHouse } from '../../../services/common/clickhouse/client-factory';
import { readRfm } from '../../../services/profile-materializer/rfm/rfm.repository';
import {
  evaluationParams,
  segmentQuery,
  type SegmentSource,
} from '../../../services/profile-materializer/segments/segment-query';
import { parseRule } from '../../../services/profile-materializer/segments/parse-rule';
import { embeddedHome } from './materializer-test-env';

import { HOUR, everyone, membersOf, now, segmentsDatabase } from './segments-dataset';

/**
 * Every rule kind evaluated against real chDB at a controlled `now`, exact member lists asserted
 * (the people are described in segments-dataset.ts).
 */
describe('segment rules on chDB', () => {
  const home = embeddedHome('segment-rules');
  let ch: ClickHouse;
  beforeAll(async () => {
    ch = await segmentsDatabase(home);
  });
  afterAll(async () => ch.close());
  const members = (source: SegmentSource, candidates?: readonly string[]): Promise<string[]> =>
    membersOf(ch, source, candidates);
  const rule = (json: unknown, purpose: string | null = null, candidates?: readonly string[]): Promise<string[]> =>
    members({ kind: 'rule', sql: '', rule: parseRule(json), purpose }, candidates);

  describe('traits', () => {
    it.each([
      ['eq', { trait: 'plan', op: 'eq', value: 'pro' }, ['alice', 'carol']],
      ['neq needs the trait', { trait: 'plan', op: 'neq', value: 'free' }, ['alice', 'carol']],
      [
        'not eq includes profiles without it',
        { not: { trait: 'plan', op: 'eq', value: 'free' } },
        ['alice', 'carol', 'dave', 'erin', 'frank'],
      ],
      ['in', { trait: 'plan', op: 'in', values: ['pro', 'free'] }, ['alice', 'bob', 'carol']],
      ['range (a string age does not match)', { trait: 'age', op: 'range', min: 18, max: 40 }, ['alice', 'bob']],
      ['gt', { trait: 'age', op: 'gt', value: 40 }, ['dave']],
      ['contains in an array', { trait: 'tags', op: 'contains', value: 'vip' }, ['alice']],
      ['contains in a string', { trait: 'email', op: 'contains', value: '@example.com' }, ['alice']],
      ['nested path', { trait: 'address.city', op: 'eq', value: 'Paris' }, ['alice']],
      ['exists', { trait: 'age', op: 'exists' }, ['alice', 'bob', 'dave', 'frank']],
      [
        'or',
        {
          or: [
            { trait: 'plan', op: 'eq', value: 'free' },
            { trait: 'age', op: 'gt', value: 40 },
          ],
        },
        ['bob', 'dave'],
      ],
    ])('%s', async (_name, json, expected) => {
      expect(await rule(json)).toEqual(expected);
    });

    it('birthday month = this month, and this day', async () => {
      expect(await rule({ trait: 'birthday', part: 'month', op: 'eq', value: 'now' })).toEqual(['alice', 'carol']);
      expect(
        await rule({
          and: [
            { trait: 'birthday', part: 'month', op: 'eq', value: 'now' },
            { trait: 'birthday', part: 'day', op: 'eq', value: 3 },
          ],
        }),
      ).toEqual(['alice']);
      expect(await rule({ trait: 'birthday', part: 'year', op: 'lt', value: 1990 })).toEqual(['bob']);
    });
  });

  describe('events', () => {
    it('bought twice in 14 days (an order reported twice counts once)', async () => {
      expect(
        await rule({ performed: { event: 'Order Completed' }, within: { days: 14 }, count: { op: 'gte', value: 2 } }),
      ).toEqual(['alice']);
      expect(await rule({ performed: { event: 'Order Completed' }, count: { op: 'gte', value: 2 } })).toEqual([
        'alice',
      ]);
    });

    it('no purchase in the last 3 days includes profiles that never bought; future events are ignored', async () => {
      expect(
        await rule({ performed: { event: 'Order Completed' }, within: { days: 3 }, count: { op: 'eq', value: 0 } }),
      ).toEqual(['alice', 'bob', 'dave', 'erin', 'frank']);
      expect(await rule({ not: { performed: { event: 'Order Completed' }, within: { days: 3 } } })).toEqual([
        'alice',
        'bob',
        'dave',
        'erin',
        'frank',
      ]);
    });

    it('sums revenue and filters on properties', async () => {
      expect(
        await rule({ performed: { event: 'Order Completed' }, sum: { field: 'revenue', op: 'gte', value: 80 } }),
      ).toEqual(['alice', 'frank']);
      expect(
        await rule({
          performed: { event: 'Order Completed' },
          sum: { field: 'revenue', op: 'range', min: 20, max: 20 },
        }),
      ).toEqual(['carol']);
      expect(
        await rule({
          performed: { event: 'Order Completed', where: [{ property: 'category', op: 'eq', value: 'shoes' }] },
        }),
      ).toEqual(['alice']);
    });

    it('cart abandonment: added to cart, no Order Completed within 1 day after it (window passed)', async () => {
      const abandoned = {
        performed: { event: 'Product Added' },
        notFollowedBy: { event: 'Order Completed' },
        within: { days: 1 },
      };
      // bob: no order; frank: his order came before the cart; erin: 30 days ago (her 3-hour-old cart is still open).
      expect(await rule(abandoned)).toEqual(['bob', 'erin', 'frank']);
      expect(await rule({ ...abandoned, lookback: { days: 7 } })).toEqual(['bob', 'frank']);
      // At now + 22 h, erin's cart of 3 hours ago has waited a day too.
      const later = segmentQuery({
        kind: 'rule',
        sql: '',
        rule: parseRule({ ...abandoned, lookback: { days: 7 } }),
        purpose: null,
      });
      const rows = await ch.query<{ profile_id: string }>(later.sql, {
        ...later.params,
        ...evaluationParams(now + 22 * HOUR),
      });
      expect(rows.map((r) => r.profile_id).sort()).toEqual(['bob', 'erin', 'frank']);
    });

    it('repurchase day 4: bought within 14 days and exactly 4 days since the last purchase', async () => {
      const repurchase = {
        and: [
          { performed: { event: 'Order Completed' }, within: { days: 14 } },
          { lastPerformed: { event: 'Order Completed' }, op: 'eq', value: { days: 4 } },
        ],
      };
      expect(await rule(repurchase)).toEqual(['alice', 'dave']);
      expect(await rule(repurchase, 'marketing')).toEqual(['alice']);
      expect(await rule(repurchase, null, ['dave', 'bob', 'carol'])).toEqual(['dave']);
    });

    it('time since the last event of any kind (events of absorbed profiles count for the survivor)', async () => {
      expect(await rule({ lastPerformed: {}, op: 'gte', value: { days: 2 } })).toEqual([
        'bob',
        'carol',
        'dave',
        'frank',
      ]);
      expect(await rule({ lastPerformed: {}, op: 'lt', value: { hours: 25 } })).toEqual(['alice', 'erin']);
    });

    it('channels: browsed online and bought in store; seen on every channel', async () => {
      expect(
        await rule({
          and: [
            { performed: { type: 'page', channel: ['web', 'mobile'] } },
            { performed: { event: 'Order Completed', channel: 'store' } },
          ],
        }),
      ).toEqual(['alice']);
      expect(await rule({ channels: ['web', 'mobile'], match: 'all' })).toEqual(['alice']);
      expect(await rule({ channels: ['store'] })).toEqual(['alice', 'carol']);
      expect(await rule({ channels: ['mobile'], within: { hours: 12 } })).toEqual([]);
    });
  });

  it('consent as a condition and as the segment purpose; not', async () => {
    expect(await rule({ consent: 'marketing' })).toEqual(['alice', 'carol']);
    expect(await rule({ not: { consent: 'marketing' } })).toEqual(['bob', 'dave', 'erin', 'frank']);
    expect(await rule({ trait: 'plan', op: 'exists' }, 'marketing')).toEqual(['alice', 'carol']);
  });

  it('RFM figures and labels (rfm_as_of at now)', async () => {
    expect(await rule({ rfm: 'frequency', op: 'gte', value: 2 })).toEqual(['alice']);
    expect(await rule({ rfm: 'monetary', op: 'gt', value: 100 })).toEqual(['frank']);
    const rfm = await readRfm(ch, now);
    expect([...rfm.keys()].sort()).toEqual(['alice', 'carol', 'dave', 'frank']);
    const frankLabel = rfm.get('frank')!.label;
    const sameLabel = [...rfm]
      .filter(([, row]) => row.label === frankLabel)
      .map(([id]) => id)
      .sort();
    expect(await rule({ rfm: 'label', op: 'eq', value: frankLabel })).toEqual(sameLabel);
    expect(await rule({ not: { rfm: 'r_score', op: 'gte', value: 1 } })).toEqual(['bob', 'erin']);
  });

  it('never returns a merged-away profile id', async () => {
    expect(await rule({ trait: 'plan', op: 'eq', value: 'pro' }, 'marketing')).not.toContain('alice-anon');
    expect(
      await members({
        kind: 'sql',
        sql: 'SELECT stitched_profile_id AS profile_id FROM events',
        rule: null,
        purpose: null,
      }),
    ).toEqual(everyone);
  });
});
