import { z } from 'zod';
import type { ClickHouse } from '../../common/clickhouse/client-factory';
import { ClickHouseQueryError } from '../../common/clickhouse/errors';
import { InvalidSegmentError } from './segment-errors';
import { evaluationParams, segmentQuery, type SegmentSource } from './segment-query';
import { formatPath, parseRule } from './parse-rule';
import { referencedSegments } from './segment-rule';
import { getSegment, purposeSchema } from './segment.repository';
import { validateSegmentSql, type SegmentLimits } from './validate-segment-sql';

/**
 * What a segment definition would hold if it were saved now, without saving it: its size, a
 * sample of members, and its overlap with another segment. The rule builder asks this on every
 * change (POST /v1/segments/preview).
 *
 * The definition is validated exactly as a save validates it (the rule language, referenced
 * segments, the SQL checks), and counted with the query evaluation runs (segmentQuery) at `now`,
 * so the preview's count is the size the first evaluation after a save would give on the same
 * data. Reads only, within the segment limits.
 */
const previewSchema = z.strictObject({
  sql: z.string().min(1).max(100_000).optional(),
  rule: z.unknown().optional(),
  purpose: purposeSchema.optional(),
  /** A saved segment to compare with. */
  overlapWith: z.string().min(1).max(200).optional(),
  /** How many members to return (profile id order), 0–50. */
  sample: z.number().int().min(0).max(50).optional(),
});

export interface SegmentPreview {
  readonly members: number;
  readonly sample: readonly string[];
  readonly overlap: {
    readonly segmentId: string;
    /** Members of both. */
    readonly both: number;
    /** Current members of the other segment. */
    readonly other: number;
  } | null;
  readonly evaluatedAt: string;
}

export async function previewSegment(
  ch: ClickHouse,
  body: unknown,
  options: { readonly limits: SegmentLimits; readonly now: number },
): Promise<SegmentPreview> {
  const parsed = previewSchema.safeParse(body);
  if (!parsed.success) {
    throw new InvalidSegmentError(
      parsed.error.issues.flatMap((issue) =>
        issue.code === 'unrecognized_keys'
          ? issue.keys.map((key) => ({ path: formatPath([...issue.path, key]), message: `unknown field "${key}"` }))
          : [{ path: formatPath(issue.path) || 'body', message: issue.message }],
      ),
    );
  }
  const input = parsed.data;
  if ((input.sql === undefined) === (input.rule === undefined))
    throw InvalidSegmentError.at(
      input.sql === undefined ? 'rule' : 'sql',
      'a preview has exactly one of "sql" (a SELECT returning profile_id) or "rule" (JSON)',
    );
  let source: SegmentSource;
  if (input.rule !== undefined) {
    const rule = parseRule(input.rule);
    for (const id of referencedSegments(rule)) {
      await getSegment(ch, id).catch(() => {
        throw InvalidSegmentError.at('rule', `inSegment refers to unknown segment ${JSON.stringify(id)}`);
      });
    }
    source = { kind: 'rule', sql: '', rule, purpose: input.purpose ?? null };
  } else {
    const statement = await validateSegmentSql(ch, input.sql!, options.limits, options.now);
    source = { kind: 'sql', sql: statement, rule: null, purpose: input.purpose ?? null };
  }
  if (input.overlapWith !== undefined) await getSegment(ch, input.overlapWith);

  const query = segmentQuery(source);
  const params = { ...query.params, ...evaluationParams(options.now), preview_other: input.overlapWith ?? '' };
  const settings = {
    max_execution_time: options.limits.maxExecutionSeconds,
    timeout_overflow_mode: 'throw' as const,
    max_memory_usage: String(options.limits.maxMemoryBytes),
  };
  const run = async <T>(sql: string): Promise<T[]> => {
    try {
      return await ch.query<T>(sql, params, { readOnly: true, settings });
    } catch (error) {
      if (!(error instanceof ClickHouseQueryError)) throw error;
      throw new InvalidSegmentError(
        [{ path: source.kind, message: `the segment query failed on current data: ${error.message}` }],
        { clickhouseCode: error.code, clickhouseType: error.type },
        { cause: error },
      );
    }
  };
  const [counts] = await run<{ members: string; both: string; other: string }>(
    `SELECT count() AS members,
            countIf(profile_id IN (SELECT profile_id FROM segment_members WHERE segment_id = {preview_other:String})) AS both,
            (SELECT count() FROM segment_members WHERE segment_id = {preview_other:String}) AS other
     FROM (
${query.sql}
     )`,
  );
  const sample =
    (input.sample ?? 10) === 0
      ? []
      : await run<{ profile_id: string }>(
          `SELECT profile_id FROM (
${query.sql}
           ) ORDER BY profile_id LIMIT ${input.sample ?? 10}`,
        );
  return {
    members: Number(counts?.members ?? 0),
    sample: sample.map((s) => s.profile_id),
    overlap: input.overlapWith
      ? { segmentId: input.overlapWith, both: Number(counts?.both ?? 0), other: Number(counts?.other ?? 0) }
      : null,
    evaluatedAt: new Date(options.now).toISOString(),
  };
}
