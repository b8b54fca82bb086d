import { CANDIDATES_PARAM, compileRule, NOW_PARAM, type CompiledQuery } from './compile-rule';
import type { Rule } from './segment-rule';
import { dateTime64Text } from '../../common/clickhouse/datetime64';

/** What evaluation needs of a stored segment. */
export interface SegmentSource {
  readonly kind: 'sql' | 'rule';
  /** SQL segments: the user's SELECT as saved (one statement, no trailing `;`). */
  readonly sql: string;
  /** Rule segments: the validated rule. */
  readonly rule: Rule | null;
  /** Consent purpose members must have granted; null for none. */
  readonly purpose: string | null;
}

export interface SegmentQueryOptions {
  /** Restrict to these profiles (incremental evaluation); all profiles without it. */
  readonly candidates?: readonly string[];
}

/**
 * The query that lists a segment's members at `now`: one SELECT returning distinct `profile_id`,
 * with every value a typed parameter. Pass `evaluationParams(now, candidates)` with its params.
 *
 * Rule segments are compiled from the rule each time (the compiler is pure and cheap), so the
 * incremental form can push the candidate restriction into every subquery.
 *
 * SQL segments are wrapped: their rows are reduced to current profiles (the `profiles` view:
 * no merged-away or erased ids, whatever tables the SQL read), deduplicated, restricted to
 * consenting profiles and to the candidates. The user's SQL goes on its own lines so a trailing
 * `-- comment` cannot swallow the closing parenthesis; it may use `{now:DateTime64(3, 'UTC')}`.
 */
export function segmentQuery(segment: SegmentSource, options: SegmentQueryOptions = {}): CompiledQuery {
  const candidates = options.candidates !== undefined;
  if (segment.kind === 'rule') {
    if (!segment.rule) throw new TypeError('a rule segment without its rule');
    return compileRule(segment.rule, { candidates, ...(segment.purpose ? { purpose: segment.purpose } : {}) });
  }
  // The candidates also restrict the profiles read (a primary-key range of profiles_store), so an
  // incremental run does not read every profile.
  const conditions = [
    ...(segment.purpose ? ['consent[{purpose:String}]'] : []),
    ...(candidates ? [`profile_id IN ${CANDIDATES_PARAM}`] : []),
  ];
  const members = `SELECT profile_id FROM profiles${conditions.length > 0 ? ` WHERE ${conditions.join(' AND ')}` : ''}`;
  const sql = [
    'SELECT DISTINCT toString(s.profile_id) AS profile_id',
    'FROM (',
    segment.sql,
    ') AS s',
    `WHERE toString(s.profile_id) IN (${members})`,
    ...(candidates ? [`  AND toString(s.profile_id) IN ${CANDIDATES_PARAM}`] : []),
  ].join('\n');
  return { sql, params: segment.purpose ? { purpose: segment.purpose } : {} };
}

/** `now` (and `candidates`) for a segment query. */
export function evaluationParams(now: number, candidates?: readonly string[]): Record<string, unknown> {
  return { now: dateTime64Text(now), ...(candidates ? { candidates: [...candidates] } : {}) };
}

export { NOW_PARAM, CANDIDATES_PARAM };
