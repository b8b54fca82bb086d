import { z } from 'zod';
import {
  type Duration,
  type NumberComparison,
  dateParts,
  type PropertyCondition,
  eventTypes,
  type EventFilter,
  rfmFields,
  predictionFields,
  type SumComparison,
  type LastPerformedCondition,
  type ChannelsCondition,
  type InSegmentCondition,
  type ConsentCondition,
  type Rule,
  ruleLimits,
} from './segment-rule';
import { rfmLabels } from '../rfm/rfm-labels';
import { InvalidSegmentError, type SegmentProblem } from './segment-errors';
import {
  type Kind,
  type Shape,
  datePartComparisonSchemas,
  durationSchema,
  fieldPath,
  kindKeys,
  nonEmpty,
  numberComparisonSchemas,
  propertyConditionSchemas,
  valueComparisonSchemas,
} from './rule-schemas';

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
