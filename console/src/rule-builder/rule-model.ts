/**
 * The rule builder's form model and its two translations: `toRule` (form → the JSON rule the read
 * API takes, docs/segments.md) and `fromRule` (a JSON rule → form). Every construct of the rule
 * language has a form: and / or / not, trait (with date parts), rfm, performed (count / sum),
 * performed + notFollowedBy (sequence), lastPerformed, channels, inSegment, consent.
 * `fromRule` refuses, naming the JSON path, what the form cannot show: a key outside the
 * language, or a value of a shape the language does not take (the API would refuse it too).
 *
 * Pure: no DOM, no React, so unit tests run it with plain objects.
 */

import { rfmLabels } from '../../../services/profile-materializer/rfm/rfm-labels';

export type Json = null | boolean | number | string | Json[] | { [key: string]: Json };

export const units = ['minutes', 'hours', 'days', 'weeks'] as const;
export type Unit = (typeof units)[number];
export interface DurationForm {
  amount: string;
  unit: Unit;
}

export const valueOps = ['eq', 'neq', 'in', 'gt', 'gte', 'lt', 'lte', 'range', 'contains', 'exists'] as const;
export const numberOps = ['eq', 'neq', 'gt', 'gte', 'lt', 'lte', 'in', 'range'] as const;
export const compareOps = ['eq', 'neq', 'gt', 'gte', 'lt', 'lte'] as const;
export const labelOps = ['eq', 'neq', 'in'] as const;
export const eventTypes = ['track', 'page', 'screen', 'identify', 'group', 'alias'] as const;
export const channels = ['web', 'mobile', 'server', 'store', 'email', 'import'] as const;
export const dateParts = ['year', 'month', 'day', 'weekday'] as const;
export const rfmFields = ['r_score', 'f_score', 'm_score', 'recency_days', 'frequency', 'monetary', 'label'] as const;
// The one list of labels (the read API validates rules against it too).
export { rfmLabels };

/** The value side of a comparison as typed in the form: texts, parsed by `valueType`. */
export interface ComparisonForm {
  op: string;
  valueType: 'text' | 'number' | 'boolean';
  value: string;
  /** `in`: one value per line or comma. */
  values: string;
  min: string;
  max: string;
  /** Date parts: compare with the same part of the evaluation time. */
  now: boolean;
}

export interface PropertyForm extends ComparisonForm {
  property: string;
}

export interface EventFilterForm {
  event: string;
  type: string;
  name: string;
  channels: string[];
  where: PropertyForm[];
}

export type ConditionForm =
  | ({ type: 'trait'; path: string; part: string } & ComparisonForm)
  | ({ type: 'rfm'; field: string; labels: string[] } & ComparisonForm)
  | ({
      type: 'performed';
      filter: EventFilterForm;
      within: DurationForm | null;
      aggregate: 'none' | 'count' | 'sum';
      sumOf: 'revenue' | 'property';
      sumProperty: string;
    } & ComparisonForm)
  | {
      type: 'sequence';
      filter: EventFilterForm;
      notFollowedBy: EventFilterForm;
      within: DurationForm;
      lookback: DurationForm | null;
    }
  | { type: 'lastPerformed'; filter: EventFilterForm; op: string; duration: DurationForm }
  | { type: 'channels'; channels: string[]; match: 'any' | 'all'; within: DurationForm | null }
  | { type: 'inSegment'; segmentId: string }
  | { type: 'consent'; purpose: string };

export type ConditionType = ConditionForm['type'];
export const conditionTypes: readonly ConditionType[] = [
  'trait',
  'rfm',
  'performed',
  'sequence',
  'lastPerformed',
  'channels',
  'inSegment',
  'consent',
];

export type RuleNode =
  | { kind: 'group'; id: string; op: 'and' | 'or'; negate: boolean; children: RuleNode[] }
  | { kind: 'condition'; id: string; negate: boolean; condition: ConditionForm };

/** A problem of the form: where (a path of node ids and field names) and a message key. */
export class FormProblem extends Error {
  constructor(
    readonly at: string,
    readonly problem: 'required' | 'notANumber' | 'notAWholeNumber' | 'empty',
  ) {
    super(`${at}: ${problem}`);
  }
}

/** A rule the form cannot show, with the JSON path of the reason. */
export class NotExpressible extends Error {
  constructor(
    readonly path: string,
    readonly reason: string,
  ) {
    super(`${path}: ${reason}`);
  }
}

let nextId = 1;
export const newId = (): string => `n${nextId++}`;

export const emptyComparison = (op = 'eq'): ComparisonForm => ({
  op,
  valueType: 'text',
  value: '',
  values: '',
  min: '',
  max: '',
  now: false,
});
export const emptyFilter = (): EventFilterForm => ({ event: '', type: '', name: '', channels: [], where: [] });
export const duration = (amount: number, unit: Unit): DurationForm => ({ amount: String(amount), unit });

/** A new condition of a kind, with the defaults a person most often wants. */
export function newCondition(type: ConditionType): ConditionForm {
  switch (type) {
    case 'trait':
      return { type, path: '', part: '', ...emptyComparison() };
    case 'rfm':
      return { type, field: 'label', labels: [], ...emptyComparison('in'), valueType: 'number' };
    case 'performed':
      return {
        type,
        filter: emptyFilter(),
        within: duration(30, 'days'),
        aggregate: 'none',
        sumOf: 'revenue',
        sumProperty: '',
        ...emptyComparison('gte'),
        valueType: 'number',
      };
    case 'sequence':
      return {
        type,
        filter: emptyFilter(),
        notFollowedBy: emptyFilter(),
        within: duration(1, 'days'),
        lookback: duration(7, 'days'),
      };
    case 'lastPerformed':
      return { type, filter: emptyFilter(), op: 'gte', duration: duration(30, 'days') };
    case 'channels':
      return { type, channels: [], match: 'any', within: null };
    case 'inSegment':
      return { type, segmentId: '' };
    case 'consent':
      return { type, purpose: '' };
  }
}

export function newConditionNode(type: ConditionType): RuleNode {
  return { kind: 'condition', id: newId(), negate: false, condition: newCondition(type) };
}

export function newGroup(op: 'and' | 'or' = 'and', children: RuleNode[] = []): Extract<RuleNode, { kind: 'group' }> {
  return { kind: 'group', id: newId(), op, negate: false, children };
}

// ---------------------------------------------------------------------------------------------
// form → rule

export function toRule(node: RuleNode): Json {
  const inner = node.kind === 'group' ? groupRule(node) : conditionRule(node.condition, node.id);
  return node.negate ? { not: inner } : inner;
}

function groupRule(group: Extract<RuleNode, { kind: 'group' }>): Json {
  if (group.children.length === 0) throw new FormProblem(group.id, 'empty');
  const children = group.children.map(toRule);
  return children.length === 1 && !group.negate ? children[0]! : { [group.op]: children };
}

const text = (value: string, at: string): string => {
  if (value.trim() === '') throw new FormProblem(at, 'required');
  return value.trim();
};
const number = (value: string, at: string): number => {
  const n = Number(value.trim());
  if (value.trim() === '' || !Number.isFinite(n)) throw new FormProblem(at, 'notANumber');
  return n;
};
const whole = (value: string, at: string): number => {
  const n = number(value, at);
  if (!Number.isInteger(n) || n <= 0) throw new FormProblem(at, 'notAWholeNumber');
  return n;
};
const list = (value: string): string[] =>
  value
    .split(/[\n,]/)
    .map((v) => v.trim())
    .filter((v) => v !== '');

function durationRule(d: DurationForm, at: string): Json {
  return { [d.unit]: whole(d.amount, at) };
}

function scalar(c: ComparisonForm, at: string): Json {
  if (c.valueType === 'number') return number(c.value, at);
  if (c.valueType === 'boolean') return c.value === 'true';
  return text(c.value, at);
}

/** The comparison keys (op, value | values | min+max) of a value comparison (traits, properties). */
function valueComparison(c: ComparisonForm, at: string): Record<string, Json> {
  switch (c.op) {
    case 'exists':
      return { op: 'exists' };
    case 'in': {
      const values = list(c.values);
      if (values.length === 0) throw new FormProblem(`${at}.values`, 'required');
      return { op: 'in', values: c.valueType === 'number' ? values.map((v) => number(v, `${at}.values`)) : values };
    }
    case 'range':
      return c.valueType === 'number'
        ? { op: 'range', min: number(c.min, `${at}.min`), max: number(c.max, `${at}.max`) }
        : { op: 'range', min: text(c.min, `${at}.min`), max: text(c.max, `${at}.max`) };
    case 'contains':
      return { op: 'contains', value: text(c.value, `${at}.value`) };
    default:
      return { op: c.op, value: scalar(c, `${at}.value`) };
  }
}

/** The comparison keys of a number comparison (counts, sums, scores, date parts). */
function numberComparison(c: ComparisonForm, at: string): Record<string, Json> {
  switch (c.op) {
    case 'in': {
      const values = list(c.values);
      if (values.length === 0) throw new FormProblem(`${at}.values`, 'required');
      return { op: 'in', values: values.map((v) => number(v, `${at}.values`)) };
    }
    case 'range':
      return { op: 'range', min: number(c.min, `${at}.min`), max: number(c.max, `${at}.max`) };
    default:
      return { op: c.op, value: c.now ? 'now' : number(c.value, `${at}.value`) };
  }
}

function filterRule(f: EventFilterForm, at: string): Json {
  const rule: Record<string, Json> = {};
  if (f.event.trim()) rule.event = f.event.trim();
  if (f.type) rule.type = f.type;
  if (f.name.trim()) rule.name = f.name.trim();
  if (f.channels.length === 1) rule.channel = f.channels[0]!;
  else if (f.channels.length > 1) rule.channel = [...f.channels];
  if (f.where.length > 0)
    rule.where = f.where.map((w, i) => ({
      property: text(w.property, `${at}.where.${i}.property`),
      ...valueComparison(w, `${at}.where.${i}`),
    }));
  return rule;
}

function conditionRule(c: ConditionForm, at: string): Json {
  switch (c.type) {
    case 'trait':
      return c.part
        ? { trait: text(c.path, `${at}.path`), part: c.part, ...numberComparison(c, at) }
        : { trait: text(c.path, `${at}.path`), ...valueComparison(c, at) };
    case 'rfm':
      if (c.field === 'label') {
        if (c.op === 'in') {
          if (c.labels.length === 0) throw new FormProblem(`${at}.labels`, 'required');
          return { rfm: 'label', op: 'in', values: [...c.labels] };
        }
        return { rfm: 'label', op: c.op, value: text(c.labels[0] ?? '', `${at}.labels`) };
      }
      return { rfm: c.field, ...numberComparison({ ...c, now: false }, at) };
    case 'performed': {
      const rule: Record<string, Json> = { performed: filterRule(c.filter, `${at}.filter`) };
      if (c.within) rule.within = durationRule(c.within, `${at}.within`);
      if (c.aggregate === 'count') rule.count = numberComparison({ ...c, now: false }, at);
      if (c.aggregate === 'sum')
        rule.sum = {
          ...(c.sumOf === 'revenue' ? { field: 'revenue' } : { property: text(c.sumProperty, `${at}.sumProperty`) }),
          ...numberComparison({ ...c, now: false }, at),
        };
      return rule;
    }
    case 'sequence': {
      const rule: Record<string, Json> = {
        performed: filterRule(c.filter, `${at}.filter`),
        notFollowedBy: filterRule(c.notFollowedBy, `${at}.notFollowedBy`),
        within: durationRule(c.within, `${at}.within`),
      };
      if (c.lookback) rule.lookback = durationRule(c.lookback, `${at}.lookback`);
      return rule;
    }
    case 'lastPerformed':
      return {
        lastPerformed: filterRule(c.filter, `${at}.filter`),
        op: c.op,
        value: durationRule(c.duration, `${at}.duration`),
      };
    case 'channels': {
      if (c.channels.length === 0) throw new FormProblem(`${at}.channels`, 'required');
      const rule: Record<string, Json> = { channels: [...c.channels] };
      if (c.match === 'all') rule.match = 'all';
      if (c.within) rule.within = durationRule(c.within, `${at}.within`);
      return rule;
    }
    case 'inSegment':
      return { inSegment: text(c.segmentId, `${at}.segmentId`) };
    case 'consent':
      return { consent: text(c.purpose, `${at}.purpose`) };
  }
}

// ---------------------------------------------------------------------------------------------
// rule → form

type Obj = { [key: string]: Json };
const isObj = (v: Json | undefined): v is Obj => typeof v === 'object' && v !== null && !Array.isArray(v);

function only(node: Obj, allowed: readonly string[], path: string): void {
  for (const key of Object.keys(node))
    if (!allowed.includes(key)) throw new NotExpressible(`${path}.${key}`, `unknown field "${key}"`);
}

function durationForm(value: Json | undefined, path: string): DurationForm {
  if (!isObj(value)) throw new NotExpressible(path, 'expected a duration such as { "days": 7 }');
  const keys = Object.keys(value);
  const unit = keys[0];
  if (keys.length !== 1 || !units.includes(unit as Unit) || typeof value[unit!] !== 'number')
    throw new NotExpressible(path, 'a duration has exactly one of minutes, hours, days, weeks');
  return { amount: String(value[unit!]), unit: unit as Unit };
}

function comparisonForm(node: Obj, path: string, allowed: readonly string[]): ComparisonForm {
  const op = node.op;
  if (typeof op !== 'string') throw new NotExpressible(`${path}.op`, 'missing operator');
  if (!allowed.includes(op)) throw new NotExpressible(`${path}.op`, `unknown operator "${op}"`);
  const form = emptyComparison(op);
  const typeOf = (v: Json | undefined): ComparisonForm['valueType'] =>
    typeof v === 'number' ? 'number' : typeof v === 'boolean' ? 'boolean' : 'text';
  if (op === 'in') {
    if (!Array.isArray(node.values)) throw new NotExpressible(`${path}.values`, 'expected a list');
    form.values = node.values.map(String).join(', ');
    form.valueType = typeOf(node.values[0]);
  } else if (op === 'range') {
    form.min = String(node.min ?? '');
    form.max = String(node.max ?? '');
    form.valueType = typeOf(node.min);
  } else if (op !== 'exists') {
    if (node.value === 'now') form.now = true;
    else form.value = String(node.value ?? '');
    form.valueType = typeOf(node.value);
  }
  return form;
}

function filterForm(value: Json | undefined, path: string): EventFilterForm {
  if (!isObj(value)) throw new NotExpressible(path, 'expected an event filter object');
  only(value, ['event', 'type', 'name', 'channel', 'where'], path);
  const channel = value.channel;
  const where = value.where;
  if (where !== undefined && !Array.isArray(where)) throw new NotExpressible(`${path}.where`, 'expected a list');
  return {
    event: typeof value.event === 'string' ? value.event : '',
    type: typeof value.type === 'string' ? value.type : '',
    name: typeof value.name === 'string' ? value.name : '',
    channels: typeof channel === 'string' ? [channel] : Array.isArray(channel) ? channel.map(String) : [],
    where: (where ?? []).map((w, i) => {
      const at = `${path}.where[${i}]`;
      if (!isObj(w)) throw new NotExpressible(at, 'expected a property condition');
      only(w, ['property', 'op', 'value', 'values', 'min', 'max'], at);
      return { property: String(w.property ?? ''), ...comparisonForm(w, at, valueOps) };
    }),
  };
}

export function fromRule(rule: Json, path = 'rule'): RuleNode {
  if (!isObj(rule)) throw new NotExpressible(path, 'expected a condition object');
  if ('not' in rule) {
    only(rule, ['not'], path);
    const inner = fromRule(rule.not!, `${path}.not`);
    return inner.negate ? { ...newGroup('and', [inner]), negate: true } : { ...inner, negate: true };
  }
  for (const op of ['and', 'or'] as const) {
    if (op in rule) {
      only(rule, [op], path);
      const children = rule[op];
      if (!Array.isArray(children) || children.length === 0)
        throw new NotExpressible(`${path}.${op}`, `"${op}" takes a non-empty list`);
      return { ...newGroup(op), children: children.map((child, i) => fromRule(child, `${path}.${op}[${i}]`)) };
    }
  }
  return { kind: 'condition', id: newId(), negate: false, condition: conditionForm(rule, path) };
}

function conditionForm(rule: Obj, path: string): ConditionForm {
  if ('trait' in rule) {
    only(rule, ['trait', 'part', 'op', 'value', 'values', 'min', 'max'], path);
    const part = typeof rule.part === 'string' ? rule.part : '';
    return {
      type: 'trait',
      path: String(rule.trait),
      part,
      ...comparisonForm(rule, path, part ? numberOps : valueOps),
    };
  }
  if ('rfm' in rule) {
    only(rule, ['rfm', 'op', 'value', 'values', 'min', 'max'], path);
    const field = String(rule.rfm);
    if (field === 'label') {
      if (!labelOps.includes(rule.op as never))
        throw new NotExpressible(`${path}.op`, `unknown operator "${String(rule.op)}"`);
      const labels =
        rule.op === 'in' && Array.isArray(rule.values) ? rule.values.map(String) : [String(rule.value ?? '')];
      return { type: 'rfm', field, labels, ...emptyComparison(String(rule.op)) };
    }
    return { type: 'rfm', field, labels: [], ...comparisonForm(rule, path, numberOps) };
  }
  if ('performed' in rule && 'notFollowedBy' in rule) {
    only(rule, ['performed', 'notFollowedBy', 'within', 'lookback'], path);
    return {
      type: 'sequence',
      filter: filterForm(rule.performed, `${path}.performed`),
      notFollowedBy: filterForm(rule.notFollowedBy, `${path}.notFollowedBy`),
      within: durationForm(rule.within, `${path}.within`),
      lookback: rule.lookback === undefined ? null : durationForm(rule.lookback, `${path}.lookback`),
    };
  }
  if ('performed' in rule) {
    only(rule, ['performed', 'within', 'count', 'sum'], path);
    const aggregate = rule.count !== undefined ? 'count' : rule.sum !== undefined ? 'sum' : 'none';
    const comparison = aggregate === 'none' ? undefined : rule[aggregate];
    if (aggregate !== 'none' && !isObj(comparison))
      throw new NotExpressible(`${path}.${aggregate}`, 'expected a comparison');
    if (isObj(comparison))
      only(
        comparison,
        aggregate === 'sum'
          ? ['field', 'property', 'op', 'value', 'values', 'min', 'max']
          : ['op', 'value', 'values', 'min', 'max'],
        `${path}.${aggregate}`,
      );
    const sum = aggregate === 'sum' && isObj(comparison) ? comparison : null;
    return {
      type: 'performed',
      filter: filterForm(rule.performed, `${path}.performed`),
      within: rule.within === undefined ? null : durationForm(rule.within, `${path}.within`),
      aggregate,
      sumOf: sum && 'property' in sum ? 'property' : 'revenue',
      sumProperty: sum && typeof sum.property === 'string' ? sum.property : '',
      ...(isObj(comparison) ? comparisonForm(comparison, `${path}.${aggregate}`, numberOps) : emptyComparison('gte')),
      valueType: 'number',
    };
  }
  if ('lastPerformed' in rule) {
    only(rule, ['lastPerformed', 'op', 'value'], path);
    if (!compareOps.includes(rule.op as never))
      throw new NotExpressible(`${path}.op`, `unknown operator "${String(rule.op)}"`);
    return {
      type: 'lastPerformed',
      filter: filterForm(rule.lastPerformed, `${path}.lastPerformed`),
      op: String(rule.op),
      duration: durationForm(rule.value, `${path}.value`),
    };
  }
  if ('channels' in rule) {
    only(rule, ['channels', 'match', 'within'], path);
    if (!Array.isArray(rule.channels)) throw new NotExpressible(`${path}.channels`, 'expected a list');
    return {
      type: 'channels',
      channels: rule.channels.map(String),
      match: rule.match === 'all' ? 'all' : 'any',
      within: rule.within === undefined ? null : durationForm(rule.within, `${path}.within`),
    };
  }
  if ('inSegment' in rule) {
    only(rule, ['inSegment'], path);
    return { type: 'inSegment', segmentId: String(rule.inSegment) };
  }
  if ('consent' in rule) {
    only(rule, ['consent'], path);
    return { type: 'consent', purpose: String(rule.consent) };
  }
  throw new NotExpressible(
    path,
    `unknown condition ${
      Object.keys(rule)
        .map((k) => `"${k}"`)
        .join(', ') || '{}'
    }`,
  );
}
