import {
  conditionTypes,
  FormProblem,
  fromRule,
  newCondition,
  newConditionNode,
  newGroup,
  NotExpressible,
  toRule,
  type ConditionForm,
  type Json,
  type RuleNode,
} from '../../../console/src/rule-builder/rule-model';
import { parseRule } from '../../../services/profile-materializer/segments/parse-rule';

/** Every example of docs/segments.md, one per construct of the rule language. */
const documented: Json[] = [
  {
    and: [
      { consent: 'marketing' },
      {
        or: [
          { trait: 'plan', op: 'eq', value: 'pro' },
          { rfm: 'label', op: 'in', values: ['Champions', 'Loyal customers'] },
        ],
      },
      { not: { inSegment: 'seg_3f2a' } },
    ],
  },
  { trait: 'plan', op: 'eq', value: 'pro' },
  { trait: 'age', op: 'range', min: 18, max: 30 },
  { trait: 'tags', op: 'contains', value: 'vip' },
  { trait: 'email', op: 'exists' },
  { trait: 'score', op: 'in', values: [1, 2, 3] },
  { trait: 'newsletter', op: 'neq', value: false },
  { trait: 'birthday', part: 'month', op: 'eq', value: 'now' },
  { trait: 'birthday', part: 'weekday', op: 'in', values: [6, 7] },
  { rfm: 'label', op: 'in', values: ['At risk', "Can't lose them"] },
  { rfm: 'label', op: 'eq', value: 'Lost' },
  { rfm: 'r_score', op: 'gte', value: 4 },
  { rfm: 'monetary', op: 'range', min: 100, max: 500 },
  { performed: { event: 'Order Completed' }, within: { days: 14 }, count: { op: 'gte', value: 2 } },
  { performed: { event: 'Order Completed' }, within: { days: 365 }, sum: { field: 'revenue', op: 'gte', value: 500 } },
  { performed: { event: 'Order Completed' }, sum: { property: 'items', op: 'lt', value: 3 } },
  { performed: { event: 'Order Completed', where: [{ property: 'category', op: 'eq', value: 'shoes' }] } },
  { performed: { type: 'page', name: 'Pricing', channel: ['web', 'mobile'] } },
  { performed: { event: 'Order Completed', channel: 'store' } },
  {
    performed: { event: 'Product Added' },
    notFollowedBy: { event: 'Order Completed' },
    within: { days: 1 },
    lookback: { days: 7 },
  },
  { lastPerformed: { event: 'Order Completed' }, op: 'eq', value: { days: 4 } },
  { lastPerformed: {}, op: 'gte', value: { weeks: 2 } },
  { channels: ['web', 'store'], match: 'all', within: { hours: 48 } },
  { channels: ['email'] },
  { inSegment: 'seg_1' },
  { consent: 'marketing' },
  { not: { performed: { event: 'Order Completed' }, within: { minutes: 30 } } },
];

describe('rule builder form', () => {
  it.each(documented.map((rule) => [JSON.stringify(rule), rule]))('shows and gives back %s unchanged', (_, rule) => {
    expect(toRule(fromRule(rule as Json))).toEqual(rule);
  });

  it('builds, for every kind of condition, a rule the read API accepts', () => {
    const filled: Record<ConditionForm['type'], (c: ConditionForm) => ConditionForm> = {
      trait: (c) => ({ ...c, path: 'plan', value: 'pro' }) as ConditionForm,
      rfm: (c) => ({ ...c, labels: ['Champions'] }) as ConditionForm,
      performed: (c) => c,
      sequence: (c) => c,
      lastPerformed: (c) => c,
      channels: (c) => ({ ...c, channels: ['web'] }) as ConditionForm,
      inSegment: (c) => ({ ...c, segmentId: 'seg_1' }) as ConditionForm,
      consent: (c) => ({ ...c, purpose: 'marketing' }) as ConditionForm,
    };
    const children: RuleNode[] = conditionTypes.map((type) => ({
      kind: 'condition',
      id: type,
      negate: type === 'consent',
      condition: filled[type](newCondition(type)),
    }));
    const rule = toRule({ ...newGroup('or', children) });
    expect(() => parseRule(rule)).not.toThrow();
    expect((rule as { or: Json[] }).or).toHaveLength(conditionTypes.length);
  });

  it('says which field of which condition is missing or not a number', () => {
    const empty = newConditionNode('trait');
    expect(() => toRule(empty)).toThrow(FormProblem);
    try {
      toRule(empty);
    } catch (problem) {
      expect(problem).toMatchObject({ at: `${empty.id}.path`, problem: 'required' });
    }
    const count: RuleNode = {
      kind: 'condition',
      id: 'c1',
      negate: false,
      condition: {
        ...(newCondition('performed') as Extract<ConditionForm, { type: 'performed' }>),
        aggregate: 'count',
        value: 'two',
      },
    };
    expect(() => toRule(count)).toThrow(expect.objectContaining({ at: 'c1.value', problem: 'notANumber' }));
    expect(() => toRule(newGroup('and'))).toThrow(expect.objectContaining({ problem: 'empty' }));
  });

  it('refuses, naming the JSON path, a rule the form cannot show', () => {
    expect(() => fromRule({ and: [{ trait: 'plan', op: 'like', value: 'p', weight: 2 }] })).toThrow(NotExpressible);
    expect(() => fromRule({ and: [{ trait: 'plan', op: 'eq', value: 'p', weight: 2 }] })).toThrow(
      expect.objectContaining({ path: 'rule.and[0].weight' }),
    );
    expect(() => fromRule({ or: [{ consent: 'x' }, { trait: 'plan', op: 'like', value: 'p' }] })).toThrow(
      expect.objectContaining({ path: 'rule.or[1].op' }),
    );
    expect(() => fromRule({ score: 3 })).toThrow(expect.objectContaining({ path: 'rule' }));
    expect(() => fromRule({ performed: {}, within: { days: 1, hours: 2 } })).toThrow(
      expect.objectContaining({ path: 'rule.within' }),
    );
  });
});
