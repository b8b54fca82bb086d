import type { ClickHouse } from '../../../common/clickhouse/client-factory';
import { stringList, stringListParam } from '../../../common/clickhouse/string-list';
import { loadAliasGroups } from '../../alias.repository';
import { evaluationParams, segmentQuery, type SegmentSource } from '../segment-query';
import { referencedSegments, type Rule } from '../segment-rule';

/**
 * Segment membership in ClickHouse, as evaluation reads and writes it.
 *
 * State is `segment_members_store` read FINAL (latest row per segment and profile; exact
 * whether or not parts merged). Evaluation diffs against the STORE, not the `segment_members`
 * view, on purpose: the view hides merged-away profiles and deleted segments, while their rows
 * are still members as far as the changes topic is concerned and must get their exit.
 *
 * Every diff is computed in SQL: the segment's member query (`segmentQuery`, at `now`) FULL
 * OUTER JOINed with the current members; a row on one side only is a change. No membership
 * list is ever loaded into the process except the changes themselves, a page at a time.
 */
export interface EvaluatedSegment {
  readonly id: string;
  readonly name: string;
  readonly source: SegmentSource;
  /** Deleted segments are swept with an empty member query, so their members exit. */
  readonly deleted: boolean;
  /** Segments this one's rule reads (inSegment). */
  readonly references: readonly string[];
  /** Tables and views its member query reads (segment_reads_store); null until analysed, which counts as reading every table. */
  readonly reads: readonly string[] | null;
}

/** One computed change, before it is published. */
export interface MembershipDiff {
  readonly profileId: string;
  readonly entered: boolean;
}

/** A segment_members_store row applying one published SegmentChange (see 0012_segment_evaluation.sql). */
export interface MemberRow {
  readonly segment_id: string;
  readonly profile_id: string;
  readonly is_member: 0 | 1;
  readonly since: string;
  readonly changed_at: string;
  /** Offset + 1: a profile's changes share a partition, so later changes win. */
  readonly version: string;
  readonly source_partition: number;
  readonly source_offset: string;
}

const SEGMENT_PARAM = 'kumiki_segment';
const EMPTY_MEMBERS = "SELECT '' AS profile_id WHERE 0";

// join_use_nulls = 0: the side without a match reads '' (profile ids are never empty).
const diffSettings = { join_use_nulls: 0 } as const;

export class MembershipRepository {
  constructor(private readonly ch: ClickHouse) {}

  /**
   * Live segments and, with `withDeleted` (the sweep), deleted ones that still have members in
   * the store, each with the tables it reads. Exact via FINAL. Ordered so that a segment comes after the segments its rule
   * reads (inSegment). The members check reads only the deleted segments' key ranges.
   */
  async segmentsToEvaluate(options: { withDeleted?: boolean } = {}): Promise<EvaluatedSegment[]> {
    const rows = await this.ch.query<{
      segment_id: string;
      name: string;
      kind: string;
      sql: string;
      rule: string;
      purpose: string;
      deleted: number;
      tables: string[];
      analysed: number;
    }>(
      `SELECT s.segment_id AS segment_id, s.name AS name, s.kind AS kind, s.sql AS sql, s.rule AS rule,
              s.purpose AS purpose, s.deleted AS deleted, r.tables AS tables, r.segment_id != '' AS analysed
       FROM segments_store AS s FINAL
       LEFT JOIN (SELECT segment_id, tables FROM segment_reads_store FINAL) AS r ON r.segment_id = s.segment_id
       ${options.withDeleted ? '' : 'WHERE s.deleted = 0'}
       ORDER BY s.created_at, s.segment_id`,
      {},
      { settings: diffSettings },
    );
    const deleted = rows.filter((row) => Number(row.deleted) === 1).map((row) => row.segment_id);
    let withMembers = new Set<string>();
    if (deleted.length > 0) {
      const found = await this.ch.query<{ segment_id: string }>(
        `SELECT segment_id FROM segment_members_store FINAL
         WHERE segment_id IN {ids:Array(String)}
         GROUP BY segment_id HAVING max(is_member) = 1`,
        { ids: deleted },
      );
      withMembers = new Set(found.map((r) => r.segment_id));
    }
    return dependencyOrder(
      rows
        .filter((row) => Number(row.deleted) === 0 || withMembers.has(row.segment_id))
        .map((row) => {
          const rule = row.rule ? (JSON.parse(row.rule) as Rule) : null;
          return {
            id: row.segment_id,
            name: row.name,
            deleted: Number(row.deleted) === 1,
            references: rule ? referencedSegments(rule) : [],
            reads: Number(row.analysed) === 1 ? row.tables : null,
            source: {
              kind: row.kind === 'rule' ? 'rule' : 'sql',
              sql: row.sql,
              rule,
              purpose: row.purpose === '' ? null : row.purpose,
            },
          };
        }),
    );
  }

  /**
   * The profiles whose membership a batch can have changed: the touched ids, the survivors they
   * were merged into, and every profile merged into those survivors (their rows must exit).
   */
  async expandCandidates(touched: readonly string[]): Promise<string[]> {
    const groups = await loadAliasGroups(this.ch, touched);
    return [...new Set([...touched, ...groups.keys(), ...groups.values()])].sort();
  }

  /** Changes of `segment` among `candidates` at `now` (incremental evaluation; small by construction). */
  async diffCandidates(
    segment: EvaluatedSegment,
    candidates: readonly string[],
    now: number,
  ): Promise<MembershipDiff[]> {
    if (candidates.length === 0) return [];
    const { sql, params } = this.diffQuery(segment, now, candidates);
    const rows = await this.ch.query<{ profile_id: string; entered: number }>(`${sql}\nORDER BY profile_id`, params, {
      settings: diffSettings,
    });
    return rows.map((r) => ({ profileId: r.profile_id, entered: Number(r.entered) === 1 }));
  }

  /**
   * Stages every change of `segment` at `now` in segment_sweep_diffs under `runId`, inside
   * ClickHouse (INSERT … SELECT), and returns how many there are. Read them with sweepPage.
   */
  async stageSweep(runId: string, segment: EvaluatedSegment, now: number): Promise<number> {
    const { sql, params } = this.diffQuery(segment, now);
    await this.ch.command(
      `INSERT INTO segment_sweep_diffs (run_id, segment_id, profile_id, entered)
       SELECT {kumiki_run:String}, {${SEGMENT_PARAM}:String}, profile_id, entered FROM (\n${sql}\n)`,
      { ...params, kumiki_run: runId },
      { settings: diffSettings },
    );
    const [row] = await this.ch.query<{ n: string }>(
      'SELECT count() AS n FROM segment_sweep_diffs WHERE run_id = {run:String}',
      { run: runId },
    );
    return Number(row?.n ?? 0);
  }

  /** The staged changes of a run after `after` (profile id order), at most `limit`. */
  async sweepPage(runId: string, after: string, limit: number): Promise<MembershipDiff[]> {
    const rows = await this.ch.query<{ profile_id: string; entered: number }>(
      `SELECT profile_id, entered FROM segment_sweep_diffs
       WHERE run_id = {run:String} AND profile_id > {after:String}
       ORDER BY profile_id LIMIT {limit:UInt32}`,
      { run: runId, after, limit },
    );
    return rows.map((r) => ({ profileId: r.profile_id, entered: Number(r.entered) === 1 }));
  }

  /** Which of `profileIds` are members of the segment now (store, FINAL; a primary-key read). */
  async membersAmong(segmentId: string, profileIds: readonly string[]): Promise<Set<string>> {
    if (profileIds.length === 0) return new Set();
    const rows = await this.ch.query<{ profile_id: string }>(
      `SELECT profile_id FROM segment_members_store FINAL
       WHERE segment_id = {segment:String} AND profile_id IN {ids:Array(String)} AND is_member = 1`,
      { segment: segmentId, ids: [...profileIds] },
    );
    return new Set(rows.map((r) => r.profile_id));
  }

  /**
   * The segments (live or deleted) each of `profileIds` is a member of in the store, with the
   * segment's name: what an erasure exits them from. Exact via FINAL.
   */
  async membershipsOf(
    profileIds: readonly string[],
  ): Promise<{ segmentId: string; name: string; profileId: string }[]> {
    if (profileIds.length === 0) return [];
    const rows = await this.ch.query<{ segment_id: string; name: string; profile_id: string }>(
      `SELECT m.segment_id AS segment_id, s.name AS name, m.profile_id AS profile_id
       FROM (SELECT segment_id, profile_id FROM segment_members_store FINAL
             WHERE profile_id IN {ids:Array(String)} AND is_member = 1) AS m
       LEFT JOIN (SELECT segment_id, name FROM segments_store FINAL) AS s ON s.segment_id = m.segment_id
       ORDER BY segment_id, profile_id`,
      { ids: [...profileIds] },
    );
    return rows.map((r) => ({ segmentId: r.segment_id, name: r.name, profileId: r.profile_id }));
  }

  /** Applies published changes. Idempotent: the same change always writes the same row. */
  async apply(rows: readonly MemberRow[]): Promise<void> {
    await this.ch.insert('segment_members_store', rows);
  }

  /** Highest applied offset per partition of the changes topic (rows of older versions are dominated, so max over all rows is exact). */
  async appliedOffsets(): Promise<Map<number, bigint>> {
    const rows = await this.ch.query<{ p: number; o: string }>(
      'SELECT source_partition AS p, toString(max(source_offset)) AS o FROM segment_members_store WHERE source_partition >= 0 GROUP BY p',
    );
    return new Map(rows.map((r) => [Number(r.p), BigInt(r.o)]));
  }

  /** Current members per live segment (the segment_members view: exact, aliases and deletions resolved). */
  async sizes(): Promise<Map<string, number>> {
    const rows = await this.ch.query<{ segment_id: string; n: string }>(
      'SELECT segment_id, count() AS n FROM segment_members GROUP BY segment_id',
    );
    return new Map(rows.map((r) => [r.segment_id, Number(r.n)]));
  }

  /**
   * Segment ids per profile (the segment_members view), sorted; every asked id is in the map.
   * This is what a ProfileUpdate's `segments` holds.
   */
  async currentSegments(profileIds: readonly string[]): Promise<Map<string, string[]>> {
    const found = await segmentsOfProfiles(this.ch, profileIds);
    return new Map(profileIds.map((id) => [id, found.get(id) ?? []]));
  }

  /**
   * The diff of one segment: its member query at `now` (restricted to candidates when given)
   * against its current members in the store. `entered` = 1 for a qualifying non-member, 0 for
   * a member that no longer qualifies (including merged-away and erased profiles, which no
   * member query returns). Deleted segments qualify nobody.
   */
  private diffQuery(
    segment: EvaluatedSegment,
    now: number,
    candidates?: readonly string[],
  ): { sql: string; params: Record<string, unknown> } {
    const members = segment.deleted
      ? { sql: EMPTY_MEMBERS, params: {} }
      : segmentQuery(segment.source, candidates ? { candidates } : {});
    const current = [
      'SELECT profile_id FROM segment_members_store FINAL',
      `WHERE segment_id = {${SEGMENT_PARAM}:String} AND is_member = 1`,
      ...(candidates ? ['  AND profile_id IN {candidates:Array(String)}'] : []),
    ].join('\n');
    const sql = [
      "SELECT if(n.profile_id != '', n.profile_id, c.profile_id) AS profile_id, toUInt8(n.profile_id != '') AS entered",
      'FROM (',
      members.sql,
      ') AS n',
      'FULL OUTER JOIN (',
      current,
      ') AS c ON n.profile_id = c.profile_id',
      "WHERE n.profile_id = '' OR c.profile_id = ''",
    ].join('\n');
    return { sql, params: { ...members.params, ...evaluationParams(now, candidates), [SEGMENT_PARAM]: segment.id } };
  }
}

/**
 * Segments ordered so that each comes after the segments it reads (inSegment), otherwise in
 * the given order. References cannot form a cycle (a rule may only refer to existing
 * segments), but a cycle would not loop: the rest are appended as they are.
 */
export function dependencyOrder<T extends { readonly id: string; readonly references: readonly string[] }>(
  segments: readonly T[],
): T[] {
  const byId = new Map(segments.map((s) => [s.id, s]));
  const placed = new Set<string>();
  const visiting = new Set<string>();
  const out: T[] = [];
  const place = (segment: T): void => {
    if (placed.has(segment.id) || visiting.has(segment.id)) return;
    visiting.add(segment.id);
    for (const ref of segment.references) {
      const dependency = byId.get(ref);
      if (dependency) place(dependency);
    }
    visiting.delete(segment.id);
    placed.add(segment.id);
    out.push(segment);
  };
  segments.forEach(place);
  return out;
}

/** Segment ids (sorted) per profile that is a member of any, from the segment_members view. */
export async function segmentsOfProfiles(
  ch: ClickHouse,
  profileIds: readonly string[],
): Promise<Map<string, string[]>> {
  if (profileIds.length === 0) return new Map();
  const rows = await ch.query<{ profile_id: string; segments: string[] }>(
    `SELECT profile_id, arraySort(groupArray(segment_id)) AS segments FROM segment_members WHERE profile_id IN ${stringList('ids')} GROUP BY profile_id`,
    { ids: stringListParam(profileIds) },
  );
  return new Map(rows.map((r) => [r.profile_id, r.segments]));
}
