import type { ClickHouse } from '../../common/clickhouse/client-factory';
import { dateTime64Text } from '../../common/clickhouse/datetime64';
import { listSegments } from '../segments/segment.repository';
import { emailsOf } from './rfm-grid.repository';
import { isoTime } from './read-model';

export interface SegmentSummary {
  readonly id: string;
  readonly name: string;
  readonly kind: 'sql' | 'rule';
  readonly purpose: string | null;
  readonly createdAt: string;
  readonly members: number;
}

/** Live segments, oldest first, with their current sizes. */
export async function readSegmentSummaries(ch: ClickHouse): Promise<SegmentSummary[]> {
  const [segments, sizes] = await Promise.all([
    listSegments(ch),
    ch.query<{ segment_id: string; members: string }>(
      'SELECT segment_id, count() AS members FROM segment_members GROUP BY segment_id',
    ),
  ]);
  const size = new Map(sizes.map((s) => [s.segment_id, Number(s.members)]));
  return segments.map((s) => ({
    id: s.id,
    name: s.name,
    kind: s.kind,
    purpose: s.purpose,
    createdAt: s.createdAt,
    members: size.get(s.id) ?? 0,
  }));
}

/**
 * A segment's size over time, from its enters and exits (segment_changes): the size at the start
 * of the last `days` days, at the end of each bucket with a change, and now (segment_members, the
 * current membership). Changes older than the history kept (30 days) are summed into the first point.
 */
export async function readSegmentSizes(
  ch: ClickHouse,
  segmentId: string,
  options: { readonly days: number; readonly now: number },
): Promise<{ points: { at: string; members: number }[]; bucketSeconds: number }> {
  const bucketSeconds = options.days <= 2 ? 3_600 : 86_400;
  const start = options.now - options.days * 86_400_000;
  const since = dateTime64Text(start);
  const [before] = await ch.query<{ net: string }>(
    `SELECT sum(if(change = 'entered', 1, -1)) AS net FROM segment_changes
     WHERE segment_id = {id:String} AND at < {since:DateTime64(3, 'UTC')}`,
    { id: segmentId, since },
  );
  const buckets = await ch.query<{ bucket: string; net: string }>(
    `SELECT toString(toStartOfInterval(at, INTERVAL {bucket:UInt32} SECOND)) AS bucket, sum(if(change = 'entered', 1, -1)) AS net
     FROM segment_changes WHERE segment_id = {id:String} AND at >= {since:DateTime64(3, 'UTC')}
     GROUP BY bucket ORDER BY bucket`,
    { id: segmentId, since, bucket: bucketSeconds },
  );
  const [current] = await ch.query<{ members: string }>(
    'SELECT count() AS members FROM segment_members WHERE segment_id = {id:String}',
    { id: segmentId },
  );
  let members = Number(before?.net ?? 0);
  const points = [{ at: new Date(start).toISOString(), members }];
  for (const b of buckets) {
    members += Number(b.net);
    const end = Math.min(Date.parse(isoTime(b.bucket)) + bucketSeconds * 1000, options.now);
    points.push({ at: new Date(end).toISOString(), members });
  }
  points.push({ at: new Date(options.now).toISOString(), members: Number(current?.members ?? 0) });
  return { points, bucketSeconds };
}

export interface SegmentMember {
  readonly profileId: string;
  readonly since: string;
  readonly email: string | null;
}

/**
 * Members in profile id order, a page at a time (`after`: the last id shown), each with an email
 * read in `personal` (personal-data.ts): raw, or its pseudonym.
 */
export async function readSegmentMembers(
  ch: ClickHouse,
  personal: ClickHouse,
  segmentId: string,
  page: { readonly after: string; readonly limit: number },
): Promise<{ members: SegmentMember[]; next: string | null }> {
  // segment_members reads FINAL and hides exits, merged-away profiles and deleted segments.
  const rows = await ch.query<{ profile_id: string; since: string }>(
    `SELECT profile_id, toString(since) AS since FROM segment_members
     WHERE segment_id = {id:String} AND profile_id > {after:String}
     ORDER BY profile_id LIMIT {limit:UInt32}`,
    { id: segmentId, after: page.after, limit: page.limit },
  );
  const emails = await emailsOf(
    personal,
    rows.map((r) => r.profile_id),
  );
  return {
    members: rows.map((r) => ({
      profileId: r.profile_id,
      since: isoTime(r.since),
      email: emails.get(r.profile_id) ?? null,
    })),
    next: rows.length === page.limit ? rows.at(-1)!.profile_id : null,
  };
}

/** CSV text of one field: quoted when it holds a comma, quote or line break. */
export function csvField(value: string): string {
  return /[",\r\n]/.test(value) ? `"${value.replace(/"/g, '""')}"` : value;
}
