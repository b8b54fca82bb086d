import {
  durationMs,
  durationUnit,
  type DatePart,
  type EventFilter,
  type NumberComparison,
  type PredictionField,
  type PropertyCondition,
  type Rule,
  type TraitCondition,
  type ValueComparison,
} from './segment-rule';

/**
 * Compiles a rule to ONE parameterised SELECT returning `profile_id`.
 *
 * Strategy: the universe is the `profiles` view (current, non-erased, alias-resolved profiles);
 * `and` / `or` / `not` become AND / OR / NOT over one boolean per condition, evaluated on each
 * profile row. Trait and consent conditions read the profile's own columns; every other
 * condition is `profile_id IN (subquery)` over the public views (`events`, `rfm_as_of`,
 * `segment_members`, `predictions`), which resolve merged profiles and deduplicate (FINAL), so the result never
 * holds a merged-away id. Every condition is a non-NULL 0/1 (NULLs from missing traits are
 * turned into 0), so NOT is the plain complement.
 *
 * Every value — trait paths, event names, property keys, numbers, lists — is a typed query
 * parameter (`{p1:String}`); the SQL text holds only the structure. Time is `{now:DateTime64(3)}`,
 * never the server clock, and events after `now` are ignored, so tests and the sweep control the
 * clock. With `candidates`, the outer query and every subquery are restricted to
 * `{candidates:Array(String)}` (incremental evaluation of the profiles a batch touched).
 */
export interface CompileOptions {
  /** Restrict to `{candidates:Array(String)}`. */
  readonly candidates?: boolean;
  /** Members must have granted this consent purpose (the segment's required purpose). */
  readonly purpose?: string;
}

/** SQL with its parameter values; `now` (and `candidates`) are supplied at evaluation. */
export interface CompiledQuery {
  readonly sql: string;
  /** Values of the `p<n>` (and `purpose`) placeholders. */
  readonly params: Record<string, unknown>;
}

/** Placeholders the evaluator fills. */
export const NOW_PARAM = "{now:DateTime64(3, 'UTC')}";
export const CANDIDATES_PARAM = '{candidates:Array(String)}';

const nowMs = `toUnixTimestamp64Milli(${NOW_PARAM})`;

class Params {
  readonly values: Record<string, unknown> = {};
  private next = 1;

  add(type: string, value: unknown): string {
    const name = `p${this.next++}`;
    this.values[name] = value;
    return `{${name}:${type}}`;
  }
}

type Context = { readonly params: Params; readonly candidates: boolean };

export function compileRule(rule: Rule, options: CompileOptions = {}): CompiledQuery {
  const ctx: Context = { params: new Params(), candidates: options.candidates === true };
  const where = [condition(rule, ctx, '    ')];
  const params = ctx.params.values;
  if (options.purpose !== undefined) {
    where.push('consent[{purpose:String}]');
    params.purpose = options.purpose;
  }
  if (ctx.candidates) where.push(`profile_id IN ${CANDIDATES_PARAM}`);
  const sql = ['SELECT profile_id', 'FROM profiles', `WHERE ${where.map((w) => `(${w})`).join('\n  AND ')}`].join('\n');
  return { sql, params };
}

function condition(rule: Rule, ctx: Context, indent: string): string {
  if ('and' in rule) return rule.and.map((r) => `(${condition(r, ctx, `${indent}  `)})`).join(`\n${indent}AND `);
  if ('or' in rule) return rule.or.map((r) => `(${condition(r, ctx, `${indent}  `)})`).join(`\n${indent}OR `);
  if ('not' in rule) return `NOT (${condition(rule.not, ctx, `${indent}  `)})`;
  if ('trait' in rule) return traitCondition(rule, ctx);
  if ('consent' in rule) return `consent[${ctx.params.add('String', rule.consent)}]`;
  if ('inSegment' in rule) {
    return subquery(
      `SELECT profile_id FROM segment_members WHERE segment_id = ${ctx.params.add('String', rule.inSegment)}${restrict(ctx)}`,
    );
  }
  if ('rfm' in rule) {
    const view = `rfm_as_of(as_of = ${NOW_PARAM})`;
    const test =
      rule.rfm === 'label'
        ? rule.op === 'in'
          ? `has(${ctx.params.add('Array(String)', rule.values)}, label)`
          : `label ${rule.op === 'eq' ? '=' : '!='} ${ctx.params.add('String', rule.value)}`
        : numberTest(`toFloat64(${rule.rfm})`, rule, ctx);
    // The profile filter stays outside the view, after its window functions: scores are ranks among all purchasers.
    return subquery(`SELECT profile_id FROM ${view} WHERE ${test}${restrict(ctx)}`);
  }
  if ('prediction' in rule) {
    // The latest model version's figures; a profile without them (NULL) matches no comparison.
    const value = predictionValues[rule.prediction];
    return subquery(`SELECT profile_id FROM predictions WHERE ${numberTest(value, rule, ctx)}${restrict(ctx)}`);
  }
  if ('lastPerformed' in rule) {
    const { unitMs, amount } = durationUnit(rule.value);
    const filter = eventFilter(rule.lastPerformed, ctx);
    const elapsed = `intDiv(${nowMs} - toUnixTimestamp64Milli(max(timestamp)), ${ctx.params.add('Int64', unitMs)})`;
    return subquery(
      `SELECT profile_id FROM events WHERE ${filter} AND timestamp <= ${NOW_PARAM}${restrict(ctx)} GROUP BY profile_id HAVING ${elapsed} ${sqlOperator(rule.op)} ${ctx.params.add('Int64', amount)}`,
    );
  }
  if ('channels' in rule) {
    const list = ctx.params.add('Array(String)', rule.channels);
    const needed = rule.match === 'all' ? `length(${list})` : '1';
    return subquery(
      `SELECT profile_id FROM events WHERE has(${list}, channel)${timeWindow(rule.within ? durationMs(rule.within) : undefined, ctx)}${restrict(ctx)} GROUP BY profile_id HAVING uniqExact(channel) >= ${needed}`,
    );
  }
  if ('notFollowedBy' in rule) {
    // Per profile, the times of X and of Y (ms); a member has an X whose follow-up window has
    // passed (x + within <= now) with no Y in [x, x + within]. Y before X does not count.
    const first = eventFilter(rule.performed, ctx);
    const then = eventFilter(rule.notFollowedBy, ctx);
    const within = ctx.params.add('Int64', durationMs(rule.within));
    const ts = 'toUnixTimestamp64Milli(timestamp)';
    return subquery(
      [
        `SELECT profile_id FROM events`,
        `WHERE ((${first}) OR (${then}))${timeWindow(rule.lookback ? durationMs(rule.lookback) : undefined, ctx)}${restrict(ctx)}`,
        `GROUP BY profile_id`,
        `HAVING arrayExists(x -> x + ${within} <= ${nowMs} AND NOT arrayExists(y -> y >= x AND y <= x + ${within}, groupArrayIf(${ts}, ${then})), groupArrayIf(${ts}, ${first}))`,
      ].join(' '),
    );
  }
  // performed: count (default: at least one) or sum, once per order (an order reported twice —
  // web and store import — counts once; events without order_id count once per message_id).
  // Parameters are numbered in the order they appear in the SQL: filter and window first.
  const filter = eventFilter(rule.performed, ctx);
  const window = `${timeWindow(rule.within ? durationMs(rule.within) : undefined, ctx)}${restrict(ctx)}`;
  let comparison: NumberComparison;
  let value: string;
  let aggregate: string;
  if (rule.sum) {
    comparison = rule.sum;
    if ('field' in rule.sum) {
      value = 'ifNull(revenue, toDecimal64(0, 4))';
      aggregate = numberTest('sum(v)', comparison, ctx, 'Decimal(38, 4)');
    } else {
      value = `ifNull(JSONExtract(properties, ${jsonKeys(rule.sum.property, ctx)}, 'Nullable(Float64)'), 0)`;
      aggregate = numberTest('sum(v)', comparison, ctx, 'Float64');
    }
  } else {
    comparison = rule.count ?? { op: 'gte', value: 1 };
    value = '1';
    aggregate = numberTest('count()', comparison, ctx, 'Float64');
  }
  const perOrder = [
    `SELECT profile_id, if(order_id != '', order_id, message_id) AS order_key, argMin(${value}, (timestamp, message_id)) AS v`,
    `FROM events WHERE ${filter}${window}`,
    `GROUP BY profile_id, order_key`,
  ].join(' ');
  // A comparison that holds for zero ("count lt 1") must also match profiles without any such
  // event, which the subquery cannot list: select the complement instead.
  if (holdsAtZero(comparison)) {
    return `profile_id NOT IN (SELECT profile_id FROM (${perOrder}) GROUP BY profile_id HAVING NOT (${aggregate}))`;
  }
  return `profile_id IN (SELECT profile_id FROM (${perOrder}) GROUP BY profile_id HAVING ${aggregate})`;
}

/** The SQL value of each prediction field (a closed list: the field name never reaches the SQL text). */
const predictionValues: Record<PredictionField, string> = {
  p_alive: 'p_alive',
  expected_purchases_30d: 'expected_purchases_30d',
  expected_purchases_90d: 'expected_purchases_90d',
  expected_order_value: 'expected_order_value',
  clv_365d: 'clv_365d',
  purchase_propensity_30d: 'purchase_propensity_30d',
  days_to_next_purchase: `(toUnixTimestamp64Milli(next_purchase_at) - ${nowMs}) / 86400000`,
};

function subquery(sql: string): string {
  return `profile_id IN (${sql})`;
}

/** ` AND profile_id IN {candidates}` inside subqueries over events. */
function restrict(ctx: Context): string {
  return ctx.candidates ? ` AND profile_id IN ${CANDIDATES_PARAM}` : '';
}

/** Events up to `now`, and after `now - window` when there is a window. */
function timeWindow(windowMs: number | undefined, ctx: Context): string {
  const upper = ` AND timestamp <= ${NOW_PARAM}`;
  if (windowMs === undefined) return upper;
  return ` AND timestamp > ${NOW_PARAM} - toIntervalMillisecond(${ctx.params.add('Int64', windowMs)})${upper}`;
}

function eventFilter(filter: EventFilter, ctx: Context): string {
  const parts: string[] = [];
  if (filter.event !== undefined) parts.push(`type = 'track'`, `event = ${ctx.params.add('String', filter.event)}`);
  if (filter.type !== undefined) parts.push(`type = ${ctx.params.add('String', filter.type)}`);
  if (filter.name !== undefined) parts.push(`name = ${ctx.params.add('String', filter.name)}`);
  if (filter.channel !== undefined) {
    const channels = typeof filter.channel === 'string' ? [filter.channel] : [...filter.channel];
    parts.push(`has(${ctx.params.add('Array(String)', channels)}, channel)`);
  }
  for (const condition of filter.where ?? [])
    parts.push(valueCondition('properties', condition.property, condition, ctx));
  return parts.length === 0 ? '1' : parts.join(' AND ');
}

/** `address.city` → `{p1:String}, {p2:String}`: JSON keys as parameters. */
function jsonKeys(path: string, ctx: Context): string {
  return path
    .split('.')
    .map((key) => ctx.params.add('String', key))
    .join(', ');
}

function traitCondition(rule: TraitCondition, ctx: Context): string {
  if ('part' in rule) return datePartCondition(rule as TraitCondition & { part: DatePart }, ctx);
  return valueCondition('traits', rule.trait, rule as ValueComparison, ctx);
}

/**
 * A JSON value (traits or properties) compared by the type of the given value: strings as
 * strings, numbers as Float64, booleans as Bool. A missing value (or one of another type)
 * compares as false, `neq` included: "plan neq free" needs a plan; `not` of `eq` does not.
 */
function valueCondition(
  column: 'traits' | 'properties',
  path: string,
  comparison: ValueComparison | PropertyCondition,
  ctx: Context,
): string {
  const keys = jsonKeys(path, ctx);
  const extract = (type: string): string => `JSONExtract(${column}, ${keys}, 'Nullable(${type})')`;
  switch (comparison.op) {
    case 'exists':
      return `JSONType(${column}, ${keys}) != 'Null'`;
    case 'contains': {
      const needle = ctx.params.add('String', comparison.value);
      return `if(JSONType(${column}, ${keys}) = 'Array', has(JSONExtract(${column}, ${keys}, 'Array(Nullable(String))'), ${needle}), ifNull(position(${extract('String')}, ${needle}) > 0, 0))`;
    }
    case 'in': {
      const numeric = typeof comparison.values[0] === 'number';
      return `ifNull(has(${ctx.params.add(numeric ? 'Array(Float64)' : 'Array(String)', comparison.values)}, ${extract(numeric ? 'Float64' : 'String')}), 0)`;
    }
    case 'range': {
      const type = scalarType(comparison.min);
      return `ifNull(${extract(type)} BETWEEN ${ctx.params.add(type, comparison.min)} AND ${ctx.params.add(type, comparison.max)}, 0)`;
    }
    default: {
      const type = scalarType(comparison.value);
      return `ifNull(${extract(type)} ${sqlOperator(comparison.op)} ${ctx.params.add(type, comparison.value)}, 0)`;
    }
  }
}

const partFunctions: Record<DatePart, string> = {
  year: 'toYear',
  month: 'toMonth',
  day: 'toDayOfMonth',
  weekday: 'toDayOfWeek',
};

/** A date trait (ISO 8601 text, read best-effort in UTC); `"now"` means the same part of `now`. */
function datePartCondition(rule: TraitCondition & { part: DatePart }, ctx: Context): string {
  const fn = partFunctions[rule.part];
  const value = `${fn}(parseDateTime64BestEffortOrNull(JSONExtract(traits, ${jsonKeys(rule.trait, ctx)}, 'Nullable(String)'), 3, 'UTC'))`;
  const comparison = rule as unknown as NumberComparison | { op: 'eq'; value: 'now' };
  if ('value' in comparison && comparison.value === 'now') {
    return `ifNull(${value} ${sqlOperator(comparison.op)} ${fn}(${NOW_PARAM}), 0)`;
  }
  return `ifNull(${numberTest(value, comparison as NumberComparison, ctx, 'Int64')}, 0)`;
}

/** A number comparison: `x >= {p3:Float64}`, `has({p4:Array(Float64)}, x)`, `x BETWEEN … AND …`. */
function numberTest(expression: string, comparison: NumberComparison, ctx: Context, type = 'Float64'): string {
  switch (comparison.op) {
    case 'in':
      return `has(${ctx.params.add(`Array(${type})`, comparison.values)}, ${expression})`;
    case 'range':
      return `${expression} BETWEEN ${ctx.params.add(type, comparison.min)} AND ${ctx.params.add(type, comparison.max)}`;
    default:
      return `${expression} ${sqlOperator(comparison.op)} ${ctx.params.add(type, comparison.value)}`;
  }
}

function holdsAtZero(comparison: NumberComparison): boolean {
  switch (comparison.op) {
    case 'eq':
      return comparison.value === 0;
    case 'neq':
      return comparison.value !== 0;
    case 'gt':
      return 0 > comparison.value;
    case 'gte':
      return 0 >= comparison.value;
    case 'lt':
      return 0 < comparison.value;
    case 'lte':
      return 0 <= comparison.value;
    case 'in':
      return comparison.values.includes(0);
    case 'range':
      return comparison.min <= 0 && 0 <= comparison.max;
  }
}

function scalarType(value: string | number | boolean): string {
  if (typeof value === 'number') return 'Float64';
  if (typeof value === 'boolean') return 'Bool';
  return 'String';
}

function sqlOperator(op: 'eq' | 'neq' | 'gt' | 'gte' | 'lt' | 'lte'): string {
  return { eq: '=', neq: '!=', gt: '>', gte: '>=', lt: '<', lte: '<=' }[op];
}
