import { compileRule } from '../../../../services/profile-materializer/segments/compile-rule';
import { evaluationParams, segmentQuery } from '../../../../services/profile-materializer/segments/segment-query';
import { dateTime64Text } from '../../../../services/common/clickhouse/datetime64';
import { parseRule } from '../../../../services/profile-materializer/segments/parse-rule';
import type { Rule } from '../../../../services/profile-materializer/segments/segment-rule';

/** Placeholders in the SQL, by name → type. */
function placeholders(sql: string): Map<string, string> {
  const found = new Map<string, string>();
  for (const match of sql.matchAll(/\{(\w+):([^{}]+)\}/g)) found.set(match[1]!, match[2]!);
  return found;
}

/** Every p<n> placeholder has a value and every value a placeholder; no value in the SQL text. */
function expectParameterised(rule: Rule, values: readonly string[] = []): void {
  const { sql, params } = compileRule(rule, { candidates: true, purpose: 'marketing' });
  const names = [...placeholders(sql).keys()].filter((n) => n !== 'now' && n !== 'candidates');
  expect(new Set(names)).toEqual(new Set(Object.keys(params)));
  for (const value of values) expect(sql).not.toContain(value);
}

describe('compileRule', () => {
  it('compiles a trait condition to one SELECT over profiles with typed parameters', () => {
    expect(compileRule({ trait: 'address.city', op: 'eq', value: 'Paris' })).toEqual({
      sql: [
        'SELECT profile_id',
        'FROM profiles',
        "WHERE (ifNull(JSONExtract(traits, {p1:String}, {p2:String}, 'Nullable(String)') = {p3:String}, 0))",
      ].join('\n'),
      params: { p1: 'address', p2: 'city', p3: 'Paris' },
    });
  });

  it('types the comparison by the value: numbers as Float64, booleans as Bool, lists as arrays', () => {
    expect(compileRule({ trait: 'age', op: 'gte', value: 18 }).sql).toContain(
      "JSONExtract(traits, {p1:String}, 'Nullable(Float64)') >= {p2:Float64}",
    );
    expect(compileRule({ trait: 'vip', op: 'eq', value: true }).sql).toContain("'Nullable(Bool)') = {p2:Bool}");
    const inList = compileRule({ trait: 'country', op: 'in', values: ['FR', 'DE'] });
    expect(inList.sql).toContain("has({p2:Array(String)}, JSONExtract(traits, {p1:String}, 'Nullable(String)'))");
    expect(inList.params).toEqual({ p1: 'country', p2: ['FR', 'DE'] });
  });

  it('compiles prediction conditions to the predictions view, the field from a closed list', () => {
    const { sql, params } = compileRule(
      {
        and: [
          { prediction: 'p_alive', op: 'lt', value: 0.3 },
          { prediction: 'days_to_next_purchase', op: 'lte', value: 7 },
        ],
      },
      { candidates: true },
    );
    expect(sql).toContain(
      'profile_id IN (SELECT profile_id FROM predictions WHERE p_alive < {p1:Float64} AND profile_id IN {candidates:Array(String)})',
    );
    expect(sql).toContain(
      "profile_id IN (SELECT profile_id FROM predictions WHERE (toUnixTimestamp64Milli(next_purchase_at) - toUnixTimestamp64Milli({now:DateTime64(3, 'UTC')})) / 86400000 <= {p2:Float64} AND profile_id IN {candidates:Array(String)})",
    );
    expect(params).toEqual({ p1: 0.3, p2: 7 });
  });

  it('adds the required purpose and the candidate restriction to the outer query and every subquery', () => {
    const { sql, params } = compileRule(
      {
        and: [
          { performed: { event: 'Order Completed' }, within: { days: 14 } },
          { inSegment: 'seg_a' },
          { rfm: 'label', op: 'eq', value: 'At risk' },
        ],
      },
      { candidates: true, purpose: 'marketing' },
    );
    expect(sql).toMatch(
      /\n {2}AND \(consent\[\{purpose:String\}\]\)\n {2}AND \(profile_id IN \{candidates:Array\(String\)\}\)$/,
    );
    expect(sql.match(/profile_id IN \{candidates:Array\(String\)\}/g)).toHaveLength(4);
    expect(sql).toContain(
      "FROM rfm_as_of(as_of = {now:DateTime64(3, 'UTC')}) WHERE label = {p5:String} AND profile_id IN {candidates:Array(String)}",
    );
    expect(params).toEqual({
      p1: 'Order Completed',
      p2: 1_209_600_000,
      p3: 1,
      p4: 'seg_a',
      p5: 'At risk',
      purpose: 'marketing',
    });
  });

  it('counts events once per order inside the window, never after now', () => {
    const { sql, params } = compileRule({
      performed: { event: 'Order Completed' },
      within: { days: 14 },
      count: { op: 'gte', value: 2 },
    });
    expect(sql).toContain(
      "profile_id IN (SELECT profile_id FROM (SELECT profile_id, if(order_id != '', order_id, message_id) AS order_key, argMin(1, (timestamp, message_id)) AS v " +
        "FROM events WHERE type = 'track' AND event = {p1:String} AND timestamp > {now:DateTime64(3, 'UTC')} - toIntervalMillisecond({p2:Int64}) AND timestamp <= {now:DateTime64(3, 'UTC')} " +
        'GROUP BY profile_id, order_key) GROUP BY profile_id HAVING count() >= {p3:Float64})',
    );
    expect(params).toEqual({ p1: 'Order Completed', p2: 14 * 86_400_000, p3: 2 });
  });

  it('selects the complement when the comparison holds at zero, so profiles without events match', () => {
    const { sql } = compileRule({
      performed: { event: 'Order Completed' },
      within: { days: 30 },
      count: { op: 'eq', value: 0 },
    });
    expect(sql).toContain('profile_id NOT IN (SELECT profile_id FROM (');
    expect(sql).toContain('HAVING NOT (count() = {p3:Float64}))');
    expect(compileRule({ performed: {}, sum: { field: 'revenue', op: 'lt', value: 50 } }).sql).toContain(
      'NOT (sum(v) < {p1:Decimal(38, 4)})',
    );
  });

  it('compiles "did X but not Y within N" to an ordered per-profile check', () => {
    const { sql, params } = compileRule({
      performed: { event: 'Product Added' },
      notFollowedBy: { event: 'Order Completed' },
      within: { days: 1 },
      lookback: { days: 7 },
    });
    expect(sql).toContain(
      "HAVING arrayExists(x -> x + {p3:Int64} <= toUnixTimestamp64Milli({now:DateTime64(3, 'UTC')}) AND NOT arrayExists(y -> y >= x AND y <= x + {p3:Int64}, " +
        "groupArrayIf(toUnixTimestamp64Milli(timestamp), type = 'track' AND event = {p2:String})), groupArrayIf(toUnixTimestamp64Milli(timestamp), type = 'track' AND event = {p1:String}))",
    );
    expect(params).toEqual({ p1: 'Product Added', p2: 'Order Completed', p3: 86_400_000, p4: 7 * 86_400_000 });
  });

  it('compares time since the last event in whole units of the given duration', () => {
    const { sql, params } = compileRule({ lastPerformed: { event: 'Order Completed' }, op: 'eq', value: { days: 4 } });
    expect(sql).toContain(
      "HAVING intDiv(toUnixTimestamp64Milli({now:DateTime64(3, 'UTC')}) - toUnixTimestamp64Milli(max(timestamp)), {p2:Int64}) = {p3:Int64}",
    );
    expect(params).toEqual({ p1: 'Order Completed', p2: 86_400_000, p3: 4 });
  });

  it('compares date parts of traits with the same part of now', () => {
    const { sql, params } = compileRule({ trait: 'birthday', part: 'month', op: 'eq', value: 'now' });
    expect(sql).toContain(
      "ifNull(toMonth(parseDateTime64BestEffortOrNull(JSONExtract(traits, {p1:String}, 'Nullable(String)'), 3, 'UTC')) = toMonth({now:DateTime64(3, 'UTC')}), 0)",
    );
    expect(params).toEqual({ p1: 'birthday' });
  });

  it('compiles and/or/not structurally, consent and channels', () => {
    const { sql, params } = compileRule({
      or: [{ consent: 'email' }, { not: { channels: ['web', 'store'], match: 'all' } }],
    });
    expect(sql).toContain(
      '(consent[{p1:String}])\n    OR (NOT (profile_id IN (SELECT profile_id FROM events WHERE has({p2:Array(String)}, channel)',
    );
    expect(sql).toContain('HAVING uniqExact(channel) >= length({p2:Array(String)})');
    expect(params).toEqual({ p1: 'email', p2: ['web', 'store'] });
  });

  it('never puts a value into the SQL text, whatever it contains', () => {
    const hostile = "x') OR 1=1 --";
    const rule = parseRule({
      and: [
        { trait: `a.${hostile}`, op: 'contains', value: hostile },
        {
          performed: {
            event: hostile,
            channel: [hostile],
            where: [{ property: hostile, op: 'in', values: [hostile] }],
          },
          sum: { property: hostile, op: 'gt', value: 1 },
        },
        { performed: { name: hostile }, notFollowedBy: { type: 'page' }, within: { hours: 2 } },
        { lastPerformed: { event: hostile }, op: 'gt', value: { minutes: 5 } },
        { inSegment: hostile },
        { consent: hostile },
        { rfm: 'label', op: 'in', values: ['Lost'] },
        { rfm: 'monetary', op: 'range', min: 1, max: 2 },
      ],
    });
    expectParameterised(rule, [hostile, 'Lost']);
  });
});

describe('segmentQuery', () => {
  it('wraps SQL segments: current profiles only, distinct, consent and candidates as parameters', () => {
    const query = segmentQuery(
      { kind: 'sql', sql: 'SELECT profile_id FROM events -- all', rule: null, purpose: 'marketing' },
      { candidates: ['a'] },
    );
    expect(query.sql).toBe(
      [
        'SELECT DISTINCT toString(s.profile_id) AS profile_id',
        'FROM (',
        'SELECT profile_id FROM events -- all',
        ') AS s',
        'WHERE toString(s.profile_id) IN (SELECT profile_id FROM profiles WHERE consent[{purpose:String}] AND profile_id IN {candidates:Array(String)})',
        '  AND toString(s.profile_id) IN {candidates:Array(String)}',
      ].join('\n'),
    );
    expect(query.params).toEqual({ purpose: 'marketing' });
  });

  it('recompiles rule segments, with candidates when asked', () => {
    const rule: Rule = { consent: 'marketing' };
    expect(segmentQuery({ kind: 'rule', sql: '', rule, purpose: null }).sql).not.toContain('candidates');
    expect(segmentQuery({ kind: 'rule', sql: '', rule, purpose: null }, { candidates: [] }).sql).toContain(
      '{candidates:Array(String)}',
    );
  });

  it('formats now as DateTime64(3) text in UTC', () => {
    expect(dateTime64Text(Date.UTC(2026, 10, 23, 9, 5, 7, 45))).toBe('2026-11-23 09:05:07.045');
    expect(evaluationParams(0, ['p'])).toEqual({ now: '1970-01-01 00:00:00.000', candidates: ['p'] });
  });
});
