/**
 * The JSON rule language of segments (docs/segments.md has the reference with examples).
 *
 * A rule is a tree: `and` / `or` / `not` over conditions. Each condition is a JSON object whose
 * kind is told by one key — `trait`, `rfm`, `prediction`, `performed`, `lastPerformed`, `channels`,
 * `inSegment`, `consent` — and every other key must belong to that kind: unknown fields and
 * operators are refused with their JSON path, never ignored, so that a typo cannot silently
 * widen a segment. `parseRule` (parse-rule.ts) reports every problem at once.
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
