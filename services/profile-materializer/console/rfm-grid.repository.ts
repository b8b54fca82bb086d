import type { ClickHouse } from '../../common/clickhouse/client-factory';
import { isoTime } from './read-model';

export interface RfmGrid {
  readonly computedAt: string | null;
  readonly previousComputedAt: string | null;
  readonly currency: string;
  readonly purchasers: number;
  /** R score × F score: profiles and revenue (cents, a decimal string). Empty cells are left out. */
  readonly cells: readonly { r: number; f: number; profiles: number; revenueCents: string }[];
  readonly labels: readonly { label: string; profiles: number; revenueCents: string }[];
  /** Profiles by (label in the previous snapshot, label now); '' = not a purchaser in that snapshot. */
  readonly movement: readonly { from: string; to: string; profiles: number }[];
}

/**
 * The RFM page: the latest snapshot (the rfm view) as an R × F grid and by label, and how
 * profiles moved between labels since the previous complete snapshot, whose rows are kept until
 * the next one is complete (migration 0010). Movement compares the two snapshots' own rows.
 */
export async function readRfmGrid(ch: ClickHouse): Promise<RfmGrid> {
  const snapshots = await ch.query<{ version: string; computed_at: string }>(
    'SELECT toString(version) AS version, toString(computed_at) AS computed_at FROM rfm_snapshots_store FINAL ORDER BY version DESC LIMIT 2',
  );
  const [latest, previous] = snapshots;
  const [cells, labels, currency, movement] = await Promise.all([
    ch.query<{ r: number; f: number; profiles: string; cents: string }>(
      `SELECT r_score AS r, f_score AS f, count() AS profiles, toString(sum(monetary_cents)) AS cents
       FROM rfm GROUP BY r, f ORDER BY r DESC, f`,
    ),
    ch.query<{ label: string; profiles: string; cents: string }>(
      `SELECT label, count() AS profiles, toString(sum(monetary_cents)) AS cents
       FROM rfm GROUP BY label ORDER BY count() DESC, label`,
    ),
    ch.query<{ currency: string }>('SELECT argMax(reporting_currency, version) AS currency FROM rfm_settings_store'),
    latest && previous
      ? ch.query<{ from_label: string; to_label: string; profiles: string }>(
          `SELECT p.label AS from_label, c.label AS to_label, count() AS profiles
           FROM (SELECT profile_id, label FROM rfm_snapshot_rows_store WHERE version = {current:UInt64}) AS c
           FULL OUTER JOIN (SELECT profile_id, label FROM rfm_snapshot_rows_store WHERE version = {previous:UInt64}) AS p
           USING (profile_id)
           GROUP BY from_label, to_label ORDER BY profiles DESC, from_label, to_label
           SETTINGS join_use_nulls = 0`,
          { current: latest.version, previous: previous.version },
        )
      : Promise.resolve([]),
  ]);
  const profileCells = cells.map((c) => ({
    r: Number(c.r),
    f: Number(c.f),
    profiles: Number(c.profiles),
    revenueCents: c.cents,
  }));
  return {
    computedAt: latest ? isoTime(latest.computed_at) : null,
    previousComputedAt: previous ? isoTime(previous.computed_at) : null,
    currency: currency[0]?.currency || 'USD',
    purchasers: profileCells.reduce((sum, c) => sum + c.profiles, 0),
    cells: profileCells,
    labels: labels.map((l) => ({ label: l.label, profiles: Number(l.profiles), revenueCents: l.cents })),
    movement: movement.map((m) => ({ from: m.from_label, to: m.to_label, profiles: Number(m.profiles) })),
  };
}

export interface RfmMember {
  readonly profileId: string;
  readonly email: string | null;
  readonly recencyDays: number;
  readonly frequency: number;
  readonly monetaryCents: string;
  readonly label: string;
}

/**
 * The profiles of one cell, in profile id order, a page at a time (`after`: the last id shown),
 * each with an email read in `personal` (personal-data.ts): raw, or its pseudonym.
 */
export async function readRfmCell(
  ch: ClickHouse,
  personal: ClickHouse,
  cell: { readonly r: number; readonly f: number },
  page: { readonly after: string; readonly limit: number },
): Promise<{ members: RfmMember[]; next: string | null }> {
  const rows = await ch.query<{
    profile_id: string;
    recency_days: number;
    frequency: number;
    cents: string;
    label: string;
  }>(
    `SELECT profile_id, recency_days, frequency, toString(monetary_cents) AS cents, label FROM rfm
     WHERE r_score = {r:UInt8} AND f_score = {f:UInt8} AND profile_id > {after:String}
     ORDER BY profile_id LIMIT {limit:UInt32}`,
    { r: cell.r, f: cell.f, after: page.after, limit: page.limit },
  );
  const emails = await emailsOf(
    personal,
    rows.map((r) => r.profile_id),
  );
  return {
    members: rows.map((r) => ({
      profileId: r.profile_id,
      email: emails.get(r.profile_id) ?? null,
      recencyDays: Number(r.recency_days),
      frequency: Number(r.frequency),
      monetaryCents: r.cents,
      label: r.label,
    })),
    next: rows.length === page.limit ? rows.at(-1)!.profile_id : null,
  };
}

/**
 * An email of each profile (the first in order), for lists where ids alone say nothing; from the
 * profiles view, so in the masked database it is the email's pseudonym.
 */
export async function emailsOf(ch: ClickHouse, profileIds: readonly string[]): Promise<Map<string, string>> {
  if (profileIds.length === 0) return new Map();
  const rows = await ch.query<{ profile_id: string; email: string }>(
    `SELECT profile_id, substring(arrayFirst(i -> startsWith(i, 'email:'), identifiers), 7) AS email
     FROM profiles WHERE profile_id IN {ids:Array(String)}`,
    { ids: [...profileIds] },
  );
  return new Map(rows.filter((r) => r.email !== '').map((r) => [r.profile_id, r.email]));
}
