import { InvalidSegmentError } from '../../../../services/profile-materializer/segments/segment-errors';
import { parseRule } from '../../../../services/profile-materializer/segments/parse-rule';
import {
  durationMs,
  durationUnit,
  referencedSegments,
} from '../../../../services/profile-materializer/segments/segment-rule';
import { parseSegmentInput } from '../../../../services/profile-materializer/segments/segment.repository';

function problems(rule: unknown): { path: string; message: string }[] {
  try {
    parseRule(rule);
  } catch (error) {
    expect(error).toBeInstanceOf(InvalidSegmentError);
    expect(error).toMatchObject({ code: 'KUMIKI_INVALID_SEGMENT', isRetriable: false });
    return [...(error as InvalidSegmentError).problems];
  }
  throw new Error('the rule was accepted');
}

describe('parseRule accepts every condition kind', () => {
  it.each([
    ['trait eq', { trait: 'plan', op: 'eq', value: 'pro' }],
    ['trait path and number', { trait: 'address.floor', op: 'gte', value: 3 }],
    ['trait in', { trait: 'country', op: 'in', values: ['FR', 'DE'] }],
    ['trait range', { trait: 'age', op: 'range', min: 18, max: 30 }],
    ['trait contains', { trait: 'tags', op: 'contains', value: 'vip' }],
    ['trait exists', { trait: 'email', op: 'exists' }],
    ['birthday this month', { trait: 'birthday', part: 'month', op: 'eq', value: 'now' }],
    ['rfm score', { rfm: 'r_score', op: 'gte', value: 4 }],
    ['rfm label', { rfm: 'label', op: 'in', values: ['At risk', "Can't lose them"] }],
    ['prediction', { prediction: 'p_alive', op: 'lt', value: 0.3 }],
    ['prediction range', { prediction: 'days_to_next_purchase', op: 'range', min: 0, max: 7 }],
    [
      'bought twice in 14 days',
      { performed: { event: 'Order Completed' }, within: { days: 14 }, count: { op: 'gte', value: 2 } },
    ],
    [
      'revenue sum',
      {
        performed: { event: 'Order Completed', where: [{ property: 'category', op: 'eq', value: 'shoes' }] },
        sum: { field: 'revenue', op: 'gte', value: 100 },
      },
    ],
    [
      'cart abandonment',
      {
        performed: { event: 'Product Added' },
        notFollowedBy: { event: 'Order Completed' },
        within: { days: 1 },
        lookback: { days: 7 },
      },
    ],
    ['time since any event', { lastPerformed: {}, op: 'gte', value: { days: 30 } }],
    ['channels', { channels: ['web', 'mobile'], match: 'all' }],
    ['segment', { inSegment: 'seg_1' }],
    ['consent', { consent: 'marketing' }],
    [
      'combined',
      {
        and: [
          { consent: 'marketing' },
          { or: [{ trait: 'plan', op: 'eq', value: 'pro' }, { not: { trait: 'plan', op: 'exists' } }] },
        ],
      },
    ],
  ])('%s', (_name, rule) => {
    expect(parseRule(rule)).toEqual(rule);
  });
});

describe('parseRule refuses with the JSON path and the name of the problem', () => {
  it('an unknown operator, naming it and the operators that exist', () => {
    expect(problems({ and: [{ consent: 'marketing' }, { trait: 'plan', op: 'like', value: 'p%' }] })).toEqual([
      {
        path: 'rule.and[1].op',
        message:
          'unknown operator "like" for trait conditions; expected one of eq, neq, in, gt, gte, lt, lte, range, contains, exists',
      },
    ]);
  });

  it('unknown fields, each by name, all at once', () => {
    expect(
      problems({
        or: [
          { trait: 'plan', op: 'eq', value: 'pro', valeu: 1 },
          { performed: { evnt: 'X' }, within: { days: 1 } },
        ],
      }),
    ).toEqual([
      { path: 'rule.or[0].valeu', message: 'unknown field "valeu"' },
      { path: 'rule.or[1].performed.evnt', message: 'unknown field "evnt"' },
    ]);
  });

  it('an unknown condition kind', () => {
    expect(problems({ not: { traits: 'plan' } })).toEqual([
      {
        path: 'rule.not',
        message: expect.stringMatching(
          /^unknown condition "traits"; expected one of the keys and, or, not, trait, rfm/,
        ),
      },
    ]);
  });

  it('two kinds in one object', () => {
    expect(problems({ trait: 'plan', consent: 'marketing', op: 'exists' })[0]!.message).toMatch(
      /one kind, got "trait" and "consent"/,
    );
  });

  it('a wrong value type for the operator', () => {
    expect(problems({ trait: 'tags', op: 'contains', value: 3 })).toEqual([
      { path: 'rule.value', message: expect.stringMatching(/expected string/) },
    ]);
  });

  it('unknown RFM labels, fields and date parts', () => {
    expect(problems({ rfm: 'label', op: 'eq', value: 'At Risk' })[0]).toMatchObject({
      path: 'rule.value',
      message: expect.stringMatching(/^unknown RFM label/),
    });
    expect(problems({ rfm: 'score', op: 'eq', value: 1 })[0]).toMatchObject({
      path: 'rule.rfm',
      message: expect.stringMatching(/^unknown RFM field "score"/),
    });
    expect(problems({ prediction: 'churn', op: 'lt', value: 0.3 })[0]).toEqual({
      path: 'rule.prediction',
      message:
        'unknown prediction "churn"; expected one of p_alive, expected_purchases_30d, expected_purchases_90d, expected_order_value, clv_365d, purchase_propensity_30d, days_to_next_purchase',
    });
    expect(problems({ prediction: 'p_alive', op: 'contains', value: 0.3 })[0]).toMatchObject({
      path: 'rule.op',
      message: expect.stringMatching(/^unknown operator "contains" for predictions/),
    });
    expect(problems({ trait: 'birthday', part: 'season', op: 'eq', value: 'now' })[0]).toMatchObject({
      path: 'rule.part',
    });
  });

  it('durations with more or less than one unit, and count with sum', () => {
    expect(problems({ performed: {}, within: { days: 1, hours: 2 } })[0]).toMatchObject({
      path: 'rule.within',
      message: 'a duration has exactly one of minutes, hours, days, weeks',
    });
    expect(problems({ performed: {}, notFollowedBy: {}, within: {} })[0]).toMatchObject({ path: 'rule.within' });
    expect(problems({ performed: {}, notFollowedBy: {} })[0]).toMatchObject({ path: 'rule.within' });
    expect(
      problems({ performed: {}, count: { op: 'gte', value: 1 }, sum: { field: 'revenue', op: 'gte', value: 1 } })[0]!
        .message,
    ).toMatch(/"count" or "sum", not both/);
  });

  it('an unknown property operator inside an event filter', () => {
    expect(
      problems({ performed: { event: 'Order Completed', where: [{ property: 'x', op: 'regex', value: '.' }] } }),
    ).toEqual([
      {
        path: 'rule.performed.where[0].op',
        message: expect.stringMatching(/^unknown operator "regex" for property conditions/),
      },
    ]);
  });

  it('empty and/or, and non-object conditions', () => {
    expect(problems({ and: [] })).toEqual([
      { path: 'rule.and', message: '"and" takes a non-empty list of conditions' },
    ]);
    expect(problems({ or: ['plan'] })[0]).toMatchObject({
      path: 'rule.or[0]',
      message: expect.stringMatching(/^expected a condition object/),
    });
  });

  it('rules nested too deeply', () => {
    let rule: unknown = { consent: 'x' };
    for (let i = 0; i < 10; i++) rule = { not: rule };
    expect(problems(rule)[0]!.message).toMatch(/at most 8 levels/);
  });
});

describe('parseSegmentInput', () => {
  it('needs exactly one of sql and rule, and names unknown fields', () => {
    expect(() => parseSegmentInput({ name: 'x' })).toThrow('rule: a segment has exactly one of "sql"');
    expect(() => parseSegmentInput({ name: 'x', sql: 'SELECT 1', rule: { consent: 'x' } })).toThrow(
      InvalidSegmentError,
    );
    expect(() => parseSegmentInput({ name: 'x', sql: 'SELECT 1', purpos: 'marketing' })).toThrow(
      'purpos: unknown field "purpos"',
    );
  });

  it('validates the rule with paths under rule', () => {
    expect(() => parseSegmentInput({ name: 'x', rule: { trait: 'a', op: 'like' } })).toThrow(
      /^rule\.op: unknown operator "like"/,
    );
  });
});

describe('helpers', () => {
  it('lists referenced segments once and converts durations', () => {
    expect(
      referencedSegments({ and: [{ inSegment: 'a' }, { not: { or: [{ inSegment: 'b' }, { inSegment: 'a' }] } }] }),
    ).toEqual(['a', 'b']);
    expect(durationMs({ days: 2 })).toBe(172_800_000);
    expect(durationUnit({ hours: 3 })).toEqual({ unit: 'hours', unitMs: 3_600_000, amount: 3 });
  });
});
