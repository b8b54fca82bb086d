import { z } from 'zod';
import { rfmLabels } from '../rfm/rfm-labels';
import { InvalidSegmentError, type SegmentProblem } from './segment-errors';

/**
 * The JSON rule language of segments (docs/segments.md has the reference with examples).
 *
 * A rule is a tree: `and` / `or` / `not` over conditions. Each condition is a JSON object whose
 * kind is told by one key — `trait`, `rfm`, `prediction`, `performed`, `lastPerformed`, `channels`,
 * `inSegment`, `consent` — and every other key must belong to that kind: unknown fields and
 * operators are refused with their JSON path, never ignored, so that a typo cannot silently
 * widen a segment. `parseRule` reports every problem at once.
 */

/** A duration: exactly one unit. Comparisons of "time since" count whole units of it. */
export type Duration =
  | { readonly minutes: number }
  | { readonly hours: number }
  | { readonly days: number }
  | { readonly weeks: number };

export type Scalar = string | number | boolean;

/** Comparison of a JSON value (a trait, or an event property). */
export type ValueComparison =
  | { readonly op: 'eq' | 'neq'; readonly value: Scalar }
  | { readonly op: 'in'; readonly values: readonly string[] | readonly number[] }
  | { readonly op: 'gt' | 'gte' | 'lt' | 'lte'; readonly value: string | number }
  | { readonly op: 'range'; readonly min: string | number; readonly max: string | number }
  | { readonly op: 'contains'; readonly value: string }
  | { readonly op: 'exists' };

/** Comparison of a number: counts, sums, scores. */
export type NumberComparison =
  | { readonly op: 'eq' | 'neq' | 'gt' | 'gte' | 'lt' | 'lte'; readonly value: number }
  | { readonly op: 'in'; readonly values: readonly number[] }
  | { readonly op: 'range'; readonly min: number; readonly max: number };

export const dateParts = ['year', 'month', 'day', 'weekday'] as const;
export type DatePart = (typeof dateParts)[number];

/** A part of a date trait against a number or the same part of `now`. */
export type DatePartComparison =
  | { readonly op: 'eq' | 'neq' | 'gt' | 'gte' | 'lt' | 'lte'; readonly value: number | 'now' }
  | { readonly op: 'in'; readonly values: readonly number[] }
  | { readonly op: 'range'; readonly min: number; readonly max: number };

export type TraitCondition = { readonly trait: string } & (
  | ValueComparison
  | ({ readonly part: DatePart } & DatePartComparison)
);

export type PropertyCondition = { readonly property: string } & ValueComparison;

export const eventTypes = ['track', 'page', 'screen', 'identify', 'group', 'alias'] as const;

/** Which events: all given fields must match; `{}` is any event. */
export interface EventFilter {
  readonly event?: string;
  readonly type?: (typeof eventTypes)[number];
  readonly name?: string;
  readonly channel?: string | readonly string[];
  readonly where?: readonly PropertyCondition[];
}

export const rfmFields = ['r_score', 'f_score', 'm_score', 'recency_days', 'frequency', 'monetary'] as const;
export type RfmField = (typeof rfmFields)[number];

export type RfmCondition =
  | ({ readonly rfm: RfmField } & NumberComparison)
  | { readonly rfm: 'label'; readonly op: 'eq' | 'neq'; readonly value: string }
  | { readonly rfm: 'label'; readonly op: 'in'; readonly values: readonly string[] };

/**
 * Prediction fields (the predictions view, docs/predictions.md); `days_to_next_purchase` is the
 * time from the evaluation to next_purchase_at in days (negative once it has passed).
 */
export const predictionFields = [
  'p_alive',
  'expected_purchases_30d',
  'expected_purchases_90d',
  'expected_order_value',
  'clv_365d',
  'purchase_propensity_30d',
  'days_to_next_purchase',
] as const;
export type PredictionField = (typeof predictionFields)[number];

export type PredictionCondition = { readonly prediction: PredictionField } & NumberComparison;

/** A sum over the matching events: the revenue column, or a numeric event property. */
export type SumComparison = ({ readonly field: 'revenue' } | { readonly property: string }) & NumberComparison;

/**
 * Counts (default: at least one) or sums of matching events, in the last `within` (all time
 * without it); at most one of `count` and `sum`. An order reported twice counts once.
 */
export interface PerformedCondition {
  readonly performed: EventFilter;
  readonly within?: Duration;
  readonly count?: NumberComparison;
  readonly sum?: SumComparison;
}

/** X happened (in the last `lookback`) and no Y followed within `within` of it; the window has passed. */
export interface SequenceCondition {
  readonly performed: EventFilter;
  readonly notFollowedBy: EventFilter;
  readonly within: Duration;
  readonly lookback?: Duration;
}

/** Time since the latest matching event, in whole units of `value`; profiles without one never match. */
export interface LastPerformedCondition {
  readonly lastPerformed: EventFilter;
  readonly op: 'eq' | 'neq' | 'gt' | 'gte' | 'lt' | 'lte';
  readonly value: Duration;
}

/** Events seen on any (or all) of the channels, in the last `within`. */
export interface ChannelsCondition {
  readonly channels: readonly string[];
  readonly match?: 'any' | 'all';
  readonly within?: Duration;
}

export interface InSegmentCondition {
  readonly inSegment: string;
}

export interface ConsentCondition {
  readonly consent: string;
}

export type Rule =
  | { readonly and: readonly Rule[] }
  | { readonly or: readonly Rule[] }
  | { readonly not: Rule }
  | TraitCondition
  | RfmCondition
  | PredictionCondition
  | PerformedCondition
  | SequenceCondition
  | LastPerformedCondition
  | ChannelsCondition
  | InSegmentCondition
  | ConsentCondition;

/** Bounds on a rule's size, so that the compiled SQL stays reasonable. */
export const ruleLimits = { maxDepth: 8, maxConditions: 64 } as const;

// ---------------------------------------------------------------------------------------------
// Schemas. Objects are strict: an unknown key is an error naming it.

const positiveInt = z.number().int().positive().max(100_000);
const durationSchema = z
  .strictObject({
    minutes: positiveInt.optional(),
    hours: positiveInt.optional(),
    days: positiveInt.optional(),
    weeks: positiveInt.optional(),
  })
  .refine((d) => Object.values(d).filter((v) => v !== undefined).length === 1, {
    message: 'a duration has exactly one of minutes, hours, days, weeks',
  });

const nonEmpty = z.string().min(1).max(500);
/** `address.city` → keys address, city; empty segments would silently read the wrong value. */
const fieldPath = nonEmpty.refine((p) => p.split('.').every((part) => part.length > 0), {
  message: 'a path is dot-separated names, none empty',
});
const scalar = z.union([z.string().max(1000), z.number(), z.boolean()]);
const orderable = z.union([z.string().max(1000), z.number()]);
const sameTypeList = z.union([z.array(z.string().max(1000)).min(1).max(1000), z.array(z.number()).min(1).max(1000)]);

type Shape = Record<string, z.ZodType>;

function valueComparisonSchemas(base: Shape): Record<ValueComparison['op'], z.ZodType> {
  return {
    eq: z.strictObject({ ...base, op: z.literal('eq'), value: scalar }),
    neq: z.strictObject({ ...base, op: z.literal('neq'), value: scalar }),
    in: z.strictObject({ ...base, op: z.literal('in'), values: sameTypeList }),
    gt: z.strictObject({ ...base, op: z.literal('gt'), value: orderable }),
    gte: z.strictObject({ ...base, op: z.literal('gte'), value: orderable }),
    lt: z.strictObject({ ...base, op: z.literal('lt'), value: orderable }),
    lte: z.strictObject({ ...base, op: z.literal('lte'), value: orderable }),
    range: z
      .strictObject({ ...base, op: z.literal('range'), min: orderable, max: orderable })
      .refine((r) => typeof r.min === typeof r.max, {
        message: 'min and max must both be numbers or both strings',
        path: ['max'],
      }),
    contains: z.strictObject({ ...base, op: z.literal('contains'), value: z.string().min(1).max(1000) }),
    exists: z.strictObject({ ...base, op: z.literal('exists') }),
  };
}

function numberComparisonSchemas(base: Shape): Record<NumberComparison['op'], z.ZodType> {
  const cmp = (op: string): z.ZodType => z.strictObject({ ...base, op: z.literal(op), value: z.number() });
  return {
    eq: cmp('eq'),
    neq: cmp('neq'),
    gt: cmp('gt'),
    gte: cmp('gte'),
    lt: cmp('lt'),
    lte: cmp('lte'),
    in: z.strictObject({ ...base, op: z.literal('in'), values: z.array(z.number()).min(1).max(1000) }),
    range: z
      .strictObject({ ...base, op: z.literal('range'), min: z.number(), max: z.number() })
      .refine((r) => r.min <= r.max, { message: 'min must not be above max', path: ['max'] }),
  };
}

function datePartComparisonSchemas(base: Shape): Record<DatePartComparison['op'], z.ZodType> {
  const partValue = z.union([z.number().int(), z.literal('now')]);
  const cmp = (op: string): z.ZodType => z.strictObject({ ...base, op: z.literal(op), value: partValue });
  const numbers = numberComparisonSchemas(base);
  return {
    eq: cmp('eq'),
    neq: cmp('neq'),
    gt: cmp('gt'),
    gte: cmp('gte'),
    lt: cmp('lt'),
    lte: cmp('lte'),
    in: numbers.in,
    range: numbers.range,
  };
}

const propertyConditionSchemas = valueComparisonSchemas({ property: fieldPath });

/** Kind keys, in the order they are looked for; `notFollowedBy` turns `performed` into a sequence. */
const kindKeys = [
  'and',
  'or',
  'not',
  'trait',
  'rfm',
  'prediction',
  'performed',
  'lastPerformed',
  'channels',
  'inSegment',
  'consent',
] as const;
type Kind = (typeof kindKeys)[number];

// ---------------------------------------------------------------------------------------------

/** Formats a path as the API reports fields: `rule.and[0].op`. */
export function formatPath(path: readonly PropertyKey[]): string {
  let text = '';
  for (const part of path) {
    if (typeof part === 'number') text += `[${part}]`;
    else text += text === '' ? String(part) : `.${String(part)}`;
  }
  return text;
}

class Parser {
  readonly problems: SegmentProblem[] = [];
  private conditions = 0;

  problem(path: readonly PropertyKey[], message: string): void {
    this.problems.push({ path: formatPath(path), message });
  }

  /** Validates `value` with `schema`; problems are recorded under `path`. */
  check<T>(schema: z.ZodType, value: unknown, path: readonly PropertyKey[]): T | undefined {
    const result = schema.safeParse(value);
    if (result.success) return result.data as T;
    for (const issue of result.error.issues) {
      if (issue.code === 'unrecognized_keys') {
        for (const key of issue.keys)
          this.problem([...path, ...issue.path, key], `unknown field ${JSON.stringify(key)}`);
      } else {
        this.problem([...path, ...issue.path], issue.message);
      }
    }
    return undefined;
  }

  /** The operator first, so that an unknown one is named as such rather than as a shape mismatch. */
  withOperator<T>(
    schemas: Record<string, z.ZodType>,
    node: Record<string, unknown>,
    path: readonly PropertyKey[],
    what: string,
  ): T | undefined {
    const op = node.op;
    const allowed = Object.keys(schemas);
    if (op === undefined) {
      this.problem([...path, 'op'], `missing operator; ${what} take one of ${allowed.join(', ')}`);
      return undefined;
    }
    const schema = typeof op === 'string' && Object.hasOwn(schemas, op) ? schemas[op] : undefined;
    if (!schema) {
      this.problem(
        [...path, 'op'],
        `unknown operator ${JSON.stringify(op)} for ${what}; expected one of ${allowed.join(', ')}`,
      );
      return undefined;
    }
    return this.check<T>(schema, node, path);
  }

  rule(value: unknown, path: readonly PropertyKey[], depth: number): Rule | undefined {
    if (typeof value !== 'object' || value === null || Array.isArray(value)) {
      this.problem(path, 'expected a condition object, e.g. { "trait": "plan", "op": "eq", "value": "pro" }');
      return undefined;
    }
    if (depth > ruleLimits.maxDepth) {
      this.problem(path, `rules nest at most ${ruleLimits.maxDepth} levels deep`);
      return undefined;
    }
    const node = value as Record<string, unknown>;
    const kinds = kindKeys.filter((k) => Object.hasOwn(node, k));
    if (kinds.length === 0) {
      const keys = Object.keys(node);
      this.problem(
        path,
        keys.length === 0
          ? `empty condition; expected one of the keys ${kindKeys.join(', ')}`
          : `unknown condition ${keys.map((k) => JSON.stringify(k)).join(', ')}; expected one of the keys ${kindKeys.join(', ')}`,
      );
      return undefined;
    }
    if (kinds.length > 1) {
      this.problem(
        path,
        `a condition has one kind, got ${kinds.map((k) => JSON.stringify(k)).join(' and ')}; combine conditions with "and" or "or"`,
      );
      return undefined;
    }
    const kind = kinds[0] as Kind;
    if (kind !== 'and' && kind !== 'or' && kind !== 'not' && ++this.conditions === ruleLimits.maxConditions + 1) {
      this.problem(path, `a rule has at most ${ruleLimits.maxConditions} conditions`);
    }
    switch (kind) {
      case 'and':
      case 'or':
        return this.combination(kind, node, path, depth);
      case 'not': {
        const extra = Object.keys(node).filter((k) => k !== 'not');
        for (const key of extra) this.problem([...path, key], `unknown field ${JSON.stringify(key)}`);
        const inner = this.rule(node.not, [...path, 'not'], depth + 1);
        return inner && extra.length === 0 ? { not: inner } : undefined;
      }
      case 'trait':
        return this.trait(node, path);
      case 'rfm':
        return this.rfm(node, path);
      case 'prediction':
        return this.prediction(node, path);
      case 'performed':
        return Object.hasOwn(node, 'notFollowedBy') ? this.sequence(node, path) : this.performed(node, path);
      case 'lastPerformed':
        return this.lastPerformed(node, path);
      case 'channels':
        return this.check<ChannelsCondition>(
          z.strictObject({
            channels: z.array(nonEmpty).min(1).max(20),
            match: z.enum(['any', 'all']).optional(),
            within: durationSchema.optional(),
          }),
          node,
          path,
        );
      case 'inSegment':
        return this.check<InSegmentCondition>(z.strictObject({ inSegment: nonEmpty }), node, path);
      case 'consent':
        return this.check<ConsentCondition>(z.strictObject({ consent: nonEmpty }), node, path);
    }
  }

  private combination(
    kind: 'and' | 'or',
    node: Record<string, unknown>,
    path: readonly PropertyKey[],
    depth: number,
  ): Rule | undefined {
    const extra = Object.keys(node).filter((k) => k !== kind);
    for (const key of extra) this.problem([...path, key], `unknown field ${JSON.stringify(key)}`);
    const list = node[kind];
    if (!Array.isArray(list) || list.length === 0) {
      this.problem([...path, kind], `"${kind}" takes a non-empty list of conditions`);
      return undefined;
    }
    const children = list.map((child, i) => this.rule(child, [...path, kind, i], depth + 1));
    if (extra.length > 0 || children.some((c) => c === undefined)) return undefined;
    return kind === 'and' ? { and: children as Rule[] } : { or: children as Rule[] };
  }

  private trait(node: Record<string, unknown>, path: readonly PropertyKey[]): Rule | undefined {
    if (Object.hasOwn(node, 'part')) {
      const part = node.part;
      if (typeof part !== 'string' || !(dateParts as readonly string[]).includes(part)) {
        this.problem(
          [...path, 'part'],
          `unknown date part ${JSON.stringify(part)}; expected one of ${dateParts.join(', ')}`,
        );
        return undefined;
      }
      return this.withOperator(
        datePartComparisonSchemas({ trait: fieldPath, part: z.enum(dateParts) }),
        node,
        path,
        'date parts of traits',
      );
    }
    return this.withOperator(valueComparisonSchemas({ trait: fieldPath }), node, path, 'trait conditions');
  }

  private rfm(node: Record<string, unknown>, path: readonly PropertyKey[]): Rule | undefined {
    const field = node.rfm;
    if (field === 'label') {
      const label = z.enum(rfmLabels, { message: `unknown RFM label; expected one of ${rfmLabels.join(', ')}` });
      const base = { rfm: z.literal('label') };
      return this.withOperator(
        {
          eq: z.strictObject({ ...base, op: z.literal('eq'), value: label }),
          neq: z.strictObject({ ...base, op: z.literal('neq'), value: label }),
          in: z.strictObject({ ...base, op: z.literal('in'), values: z.array(label).min(1) }),
        },
        node,
        path,
        'RFM labels',
      );
    }
    if (typeof field !== 'string' || !(rfmFields as readonly string[]).includes(field)) {
      this.problem(
        [...path, 'rfm'],
        `unknown RFM field ${JSON.stringify(field)}; expected one of ${[...rfmFields, 'label'].join(', ')}`,
      );
      return undefined;
    }
    return this.withOperator(numberComparisonSchemas({ rfm: z.enum(rfmFields) }), node, path, 'RFM figures');
  }

  private prediction(node: Record<string, unknown>, path: readonly PropertyKey[]): Rule | undefined {
    const field = node.prediction;
    if (typeof field !== 'string' || !(predictionFields as readonly string[]).includes(field)) {
      this.problem(
        [...path, 'prediction'],
        `unknown prediction ${JSON.stringify(field)}; expected one of ${predictionFields.join(', ')}`,
      );
      return undefined;
    }
    return this.withOperator(
      numberComparisonSchemas({ prediction: z.enum(predictionFields) }),
      node,
      path,
      'predictions',
    );
  }

  eventFilter(value: unknown, path: readonly PropertyKey[]): EventFilter | undefined {
    const shape = z.strictObject({
      event: nonEmpty.optional(),
      type: z.enum(eventTypes).optional(),
      name: nonEmpty.optional(),
      channel: z.union([nonEmpty, z.array(nonEmpty).min(1).max(20)]).optional(),
      where: z.array(z.unknown()).max(20).optional(),
    });
    const filter = this.check<EventFilter & { where?: unknown[] }>(shape, value, path);
    if (!filter) return undefined;
    if (filter.where === undefined) return filter;
    const where = filter.where.map((condition, i) => {
      const at = [...path, 'where', i];
      if (typeof condition !== 'object' || condition === null || Array.isArray(condition)) {
        this.problem(
          at,
          'expected a property condition, e.g. { "property": "category", "op": "eq", "value": "shoes" }',
        );
        return undefined;
      }
      if (!Object.hasOwn(condition, 'property')) {
        this.problem([...at, 'property'], 'missing "property" (the event property path)');
        return undefined;
      }
      return this.withOperator<PropertyCondition>(
        propertyConditionSchemas,
        condition as Record<string, unknown>,
        at,
        'property conditions',
      );
    });
    return where.every((c) => c !== undefined) ? { ...filter, where: where as PropertyCondition[] } : undefined;
  }

  private performed(node: Record<string, unknown>, path: readonly PropertyKey[]): Rule | undefined {
    const { performed, count, sum, ...rest } = node;
    const filter = this.eventFilter(performed, [...path, 'performed']);
    const outer = this.check<{ within?: Duration }>(z.strictObject({ within: durationSchema.optional() }), rest, path);
    if (count !== undefined && sum !== undefined) {
      this.problem(path, 'give "count" or "sum", not both; combine two conditions with "and"');
      return undefined;
    }
    let aggregate: { count?: NumberComparison; sum?: SumComparison } | undefined = {};
    if (count !== undefined) {
      const comparison = this.comparisonObject(count, [...path, 'count'], numberComparisonSchemas({}), 'counts');
      aggregate = comparison ? { count: comparison as NumberComparison } : undefined;
    } else if (sum !== undefined) {
      const base = this.sumBase(sum, [...path, 'sum']);
      const comparison = base
        ? this.comparisonObject(sum, [...path, 'sum'], numberComparisonSchemas(base), 'sums')
        : undefined;
      aggregate = comparison ? { sum: comparison as SumComparison } : undefined;
    }
    if (!filter || !outer || !aggregate) return undefined;
    return { performed: filter, ...(outer.within ? { within: outer.within } : {}), ...aggregate };
  }

  private sumBase(value: unknown, path: readonly PropertyKey[]): Shape | undefined {
    if (typeof value !== 'object' || value === null) return undefined; // comparisonObject reports it
    const hasField = Object.hasOwn(value, 'field');
    const hasProperty = Object.hasOwn(value, 'property');
    if (hasField === hasProperty) {
      this.problem(path, 'a sum has exactly one of "field": "revenue" or "property": "<event property path>"');
      return undefined;
    }
    return hasField
      ? {
          field: z.literal('revenue', {
            message: 'the only summable field is "revenue"; sum other values with "property"',
          }),
        }
      : { property: fieldPath };
  }

  private comparisonObject(
    value: unknown,
    path: readonly PropertyKey[],
    schemas: Record<string, z.ZodType>,
    what: string,
  ): unknown {
    if (typeof value !== 'object' || value === null || Array.isArray(value)) {
      this.problem(path, `expected a comparison, e.g. { "op": "gte", "value": 2 }`);
      return undefined;
    }
    return this.withOperator(schemas, value as Record<string, unknown>, path, what);
  }

  private sequence(node: Record<string, unknown>, path: readonly PropertyKey[]): Rule | undefined {
    const { performed, notFollowedBy, ...rest } = node;
    const first = this.eventFilter(performed, [...path, 'performed']);
    const then = this.eventFilter(notFollowedBy, [...path, 'notFollowedBy']);
    const outer = this.check<{ within: Duration; lookback?: Duration }>(
      z.strictObject({ within: durationSchema, lookback: durationSchema.optional() }),
      rest,
      path,
    );
    if (!first || !then || !outer) return undefined;
    return {
      performed: first,
      notFollowedBy: then,
      within: outer.within,
      ...(outer.lookback ? { lookback: outer.lookback } : {}),
    };
  }

  private lastPerformed(node: Record<string, unknown>, path: readonly PropertyKey[]): Rule | undefined {
    const { lastPerformed, ...rest } = node;
    const filter = this.eventFilter(lastPerformed, [...path, 'lastPerformed']);
    const ops = ['eq', 'neq', 'gt', 'gte', 'lt', 'lte'] as const;
    const schemas = Object.fromEntries(
      ops.map((op) => [op, z.strictObject({ op: z.literal(op), value: durationSchema })]),
    );
    const comparison = this.withOperator<{ op: LastPerformedCondition['op']; value: Duration }>(
      schemas,
      rest,
      path,
      'time since the last event',
    );
    if (!filter || !comparison) return undefined;
    return { lastPerformed: filter, ...comparison };
  }
}

/**
 * Validates a rule. Returns it typed, or throws InvalidSegmentError listing every problem with
 * its JSON path (`rule.and[1].op: unknown operator "like" for trait conditions; …`).
 */
export function parseRule(value: unknown, path: readonly PropertyKey[] = ['rule']): Rule {
  const parser = new Parser();
  const rule = parser.rule(value, path, 1);
  if (parser.problems.length > 0 || !rule) {
    throw new InvalidSegmentError(
      parser.problems.length > 0 ? parser.problems : [{ path: formatPath(path), message: 'invalid rule' }],
    );
  }
  return rule;
}

/** Ids of the segments a rule refers to (inSegment), each once. */
export function referencedSegments(rule: Rule): string[] {
  const ids = new Set<string>();
  const visit = (node: Rule): void => {
    if ('and' in node) node.and.forEach(visit);
    else if ('or' in node) node.or.forEach(visit);
    else if ('not' in node) visit(node.not);
    else if ('inSegment' in node) ids.add(node.inSegment);
  };
  visit(rule);
  return [...ids];
}

const unitMs = { minutes: 60_000, hours: 3_600_000, days: 86_400_000, weeks: 604_800_000 } as const;

/** The duration's unit and its length in milliseconds. */
export function durationUnit(duration: Duration): { unit: keyof typeof unitMs; unitMs: number; amount: number } {
  const [unit, amount] = Object.entries(duration).find(([, v]) => v !== undefined) as [keyof typeof unitMs, number];
  return { unit, unitMs: unitMs[unit], amount };
}

export function durationMs(duration: Duration): number {
  const { unitMs: ms, amount } = durationUnit(duration);
  return ms * amount;
}
