import crypto from 'node:crypto';
import { z } from 'zod';
import type { ClickHouse } from '../../common/clickhouse/client-factory';
import { InvalidSegmentError, SegmentInUseError, SegmentNotFoundError } from './segment-errors';
import { formatPath, parseRule } from './parse-rule';
import { referencedSegments, type Rule } from './segment-rule';
import { segmentQuery, type SegmentSource } from './segment-query';
import { analyseSegmentReads, writeSegmentReads } from './segment-reads';
import { checkRunsWithinLimits, validateSegmentSql, type SegmentLimits } from './validate-segment-sql';

/**
 * Segment definitions in ClickHouse (`segments_store`, read through FINAL).
 *
 * Versioning: a segment is written as whole rows with a higher version each time
 * (ReplacingMergeTree(version) keyed by segment_id); a delete is a copy of the row with
 * deleted = 1. Versions are epoch milliseconds, raised to one above the previous version when the
 * clock has not moved on, so a delete right after the create still wins.
 */
export interface Segment {
  readonly id: string;
  readonly name: string;
  readonly kind: 'sql' | 'rule';
  /** SQL as given (kind sql), or compiled from the rule with the purpose applied (kind rule). */
  readonly sql: string;
  /** Values of the placeholders in `sql` ({now:DateTime64(3, 'UTC')} is supplied at evaluation). */
  readonly params: Record<string, unknown>;
  readonly rule: Rule | null;
  readonly purpose: string | null;
  readonly createdAt: string;
}

export interface SegmentStoreOptions {
  readonly limits: SegmentLimits;
  readonly now?: () => number;
  readonly newId?: () => string;
}

/** A segment's required consent purpose. */
export const purposeSchema = z
  .string()
  .regex(/^[A-Za-z0-9_.:-]{1,64}$/, { message: 'a consent purpose is 1-64 letters, digits, _ . : -' });

/** Body of POST /v1/segments: `{ name, sql }` or `{ name, rule }`, optional `purpose`. */
const inputSchema = z.strictObject({
  name: z.string().trim().min(1).max(200),
  sql: z.string().min(1).max(100_000).optional(),
  rule: z.unknown().optional(),
  purpose: purposeSchema.optional(),
});

export type SegmentInput = z.input<typeof inputSchema>;

interface ParsedInput {
  readonly name: string;
  readonly purpose: string | null;
  readonly definition: { readonly sql: string } | { readonly rule: Rule };
}

/** Validates the shape of a definition (no ClickHouse); every problem at once. */
export function parseSegmentInput(body: unknown): ParsedInput {
  const result = inputSchema.safeParse(body);
  if (!result.success) {
    throw new InvalidSegmentError(
      result.error.issues.flatMap((issue) =>
        issue.code === 'unrecognized_keys'
          ? issue.keys.map((key) => ({
              path: formatPath([...issue.path, key]),
              message: `unknown field ${JSON.stringify(key)}`,
            }))
          : [{ path: formatPath(issue.path) || 'body', message: issue.message }],
      ),
    );
  }
  const { name, sql, rule, purpose } = result.data;
  if ((sql === undefined) === (rule === undefined)) {
    throw InvalidSegmentError.at(
      sql === undefined ? 'rule' : 'sql',
      'a segment has exactly one of "sql" (a SELECT returning profile_id) or "rule" (JSON)',
    );
  }
  return { name, purpose: purpose ?? null, definition: sql !== undefined ? { sql } : { rule: parseRule(rule) } };
}

/**
 * Validates and saves a segment. Rules: the schema, then referenced segments must exist, then
 * the compiled SQL must run within the limits. SQL: see validateSegmentSql. Throws
 * InvalidSegmentError (non-retriable) naming the problem. The tables its member query reads are
 * stored with it (segment-reads.ts).
 */
export async function createSegment(ch: ClickHouse, body: unknown, options: SegmentStoreOptions): Promise<Segment> {
  const now = options.now ?? Date.now;
  const input = parseSegmentInput(body);
  const at = now();
  let source: SegmentSource;
  if ('rule' in input.definition) {
    const rule = input.definition.rule;
    const missing = await missingSegments(ch, referencedSegments(rule));
    if (missing.length > 0)
      throw InvalidSegmentError.at(
        'rule',
        `inSegment refers to unknown segment ${missing.map((id) => JSON.stringify(id)).join(', ')}`,
      );
    source = { kind: 'rule', sql: '', rule, purpose: input.purpose };
  } else {
    const statement = await validateSegmentSql(ch, input.definition.sql, options.limits, at);
    source = { kind: 'sql', sql: statement, rule: null, purpose: input.purpose };
  }
  await checkRunsWithinLimits(ch, source, options.limits, at);
  const reads = await analyseSegmentReads(ch, source, { now: at, limits: options.limits });

  const compiled = source.kind === 'rule' ? segmentQuery(source) : { sql: source.sql, params: {} };
  const segment: Segment = {
    id: options.newId?.() ?? `seg_${crypto.randomBytes(8).toString('hex')}`,
    name: input.name,
    kind: source.kind,
    sql: compiled.sql,
    params: compiled.params,
    rule: source.rule,
    purpose: input.purpose,
    createdAt: new Date(at).toISOString(),
  };
  // The tables first: a segment is never live without them (a failed save leaves an unread row).
  await writeSegmentReads(ch, [{ segmentId: segment.id, tables: reads, version: at }]);
  await ch.insert('segments_store', [storeRow(segment, { deleted: 0, updatedAt: at, version: at })]);
  return segment;
}

interface SegmentDbRow {
  segment_id: string;
  name: string;
  kind: string;
  sql: string;
  params: string;
  rule: string;
  purpose: string;
  created_ms: string;
  version: string;
}

// Exact via FINAL: the latest row per segment_id whether or not parts have merged.
const selectSegments = `SELECT segment_id, name, kind, sql, params, rule, purpose,
       toString(toUnixTimestamp64Milli(created_at)) AS created_ms, toString(version) AS version
FROM segments_store FINAL
WHERE deleted = 0`;

/** Live segments, oldest first. */
export async function listSegments(ch: ClickHouse): Promise<Segment[]> {
  const rows = await ch.query<SegmentDbRow>(`${selectSegments} ORDER BY created_at, segment_id`);
  return rows.map(toSegment);
}

/** A live segment, or SegmentNotFoundError. */
export async function getSegment(ch: ClickHouse, id: string): Promise<Segment> {
  return toSegment(await getRow(ch, id));
}

/**
 * Deletes a segment (a row with deleted = 1 and a higher version). Refused with
 * SegmentInUseError while live rules refer to it, so no rule is left pointing at nothing.
 */
export async function deleteSegment(
  ch: ClickHouse,
  id: string,
  options: Pick<SegmentStoreOptions, 'now'> = {},
): Promise<void> {
  const row = await getRow(ch, id);
  const usedBy = (await listSegments(ch))
    .filter((s) => s.id !== id && s.rule !== null && referencedSegments(s.rule).includes(id))
    .map((s) => s.id);
  if (usedBy.length > 0) throw new SegmentInUseError(id, usedBy);
  const at = (options.now ?? Date.now)();
  const version = Math.max(at, Number(row.version) + 1);
  await ch.insert('segments_store', [storeRow(toSegment(row), { deleted: 1, updatedAt: at, version })]);
}

async function getRow(ch: ClickHouse, id: string): Promise<SegmentDbRow> {
  const [row] = await ch.query<SegmentDbRow>(`${selectSegments} AND segment_id = {id:String}`, { id });
  if (!row) throw new SegmentNotFoundError(id);
  return row;
}

async function missingSegments(ch: ClickHouse, ids: readonly string[]): Promise<string[]> {
  if (ids.length === 0) return [];
  const rows = await ch.query<{ segment_id: string }>(
    'SELECT segment_id FROM segments_store FINAL WHERE deleted = 0 AND segment_id IN {ids:Array(String)}',
    { ids: [...ids] },
  );
  const found = new Set(rows.map((r) => r.segment_id));
  return ids.filter((id) => !found.has(id));
}

function storeRow(
  segment: Segment,
  state: { deleted: 0 | 1; updatedAt: number; version: number },
): Record<string, unknown> {
  return {
    segment_id: segment.id,
    name: segment.name,
    kind: segment.kind,
    sql: segment.sql,
    params: JSON.stringify(segment.params),
    rule: segment.rule ? JSON.stringify(segment.rule) : '',
    purpose: segment.purpose ?? '',
    created_at: segment.createdAt,
    updated_at: new Date(state.updatedAt).toISOString(),
    deleted: state.deleted,
    version: String(state.version),
  };
}

function toSegment(row: SegmentDbRow): Segment {
  return {
    id: row.segment_id,
    name: row.name,
    kind: row.kind === 'rule' ? 'rule' : 'sql',
    sql: row.sql,
    params: JSON.parse(row.params || '{}') as Record<string, unknown>,
    rule: row.rule ? (JSON.parse(row.rule) as Rule) : null,
    purpose: row.purpose === '' ? null : row.purpose,
    createdAt: new Date(Number(row.created_ms)).toISOString(),
  };
}

/** What evaluation needs of a stored segment (see segmentQuery). */
export function segmentSource(segment: Segment): SegmentSource {
  return { kind: segment.kind, sql: segment.sql, rule: segment.rule, purpose: segment.purpose };
}
