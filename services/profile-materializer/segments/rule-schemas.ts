import { z } from 'zod';
import type { ValueComparison, NumberComparison, DatePartComparison } from './segment-rule';

/*
 * The zod schemas of rule conditions (segment-rule.ts has the types, parse-rule.ts uses these).
 * Objects are strict: an unknown key is an error naming it.
 */

export const positiveInt = z.number().int().positive().max(100_000);
export const durationSchema = z
  .strictObject({
    minutes: positiveInt.optional(),
    hours: positiveInt.optional(),
    days: positiveInt.optional(),
    weeks: positiveInt.optional(),
  })
  .refine((d) => Object.values(d).filter((v) => v !== undefined).length === 1, {
    message: 'a duration has exactly one of minutes, hours, days, weeks',
  });

export const nonEmpty = z.string().min(1).max(500);
/** `address.city` → keys address, city; empty segments would silently read the wrong value. */
export const fieldPath = nonEmpty.refine((p) => p.split('.').every((part) => part.length > 0), {
  message: 'a path is dot-separated names, none empty',
});
export const scalar = z.union([z.string().max(1000), z.number(), z.boolean()]);
export const orderable = z.union([z.string().max(1000), z.number()]);
export const sameTypeList = z.union([
  z.array(z.string().max(1000)).min(1).max(1000),
  z.array(z.number()).min(1).max(1000),
]);

export type Shape = Record<string, z.ZodType>;

export function valueComparisonSchemas(base: Shape): Record<ValueComparison['op'], z.ZodType> {
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

export function numberComparisonSchemas(base: Shape): Record<NumberComparison['op'], z.ZodType> {
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

export function datePartComparisonSchemas(base: Shape): Record<DatePartComparison['op'], z.ZodType> {
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

export const propertyConditionSchemas = valueComparisonSchemas({ property: fieldPath });

/** Kind keys, in the order they are looked for; `notFollowedBy` turns `performed` into a sequence. */
export const kindKeys = [
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
export type Kind = (typeof kindKeys)[number];
