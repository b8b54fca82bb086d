import type { ClickHouse } from '../../common/clickhouse/client-factory';
import { ApiError } from '../../common/error-codes';
import { readIdentityLinks } from '../identity-links.repository';
import { normaliseLookup } from '../read-api.routes';
import { readSnapshotRfm } from '../rfm/rfm.repository';
import { buildIdentityGraph, type IdentityGraph } from './identity-graph';
import { decodeCursor, encodeCursor, isoTime } from './read-model';

/** One profile found by an identifier (or its id), with what tells people apart in a list. */
export interface ProfileHit {
  readonly profileId: string;
  readonly matched: readonly { type: string; value: string }[];
  readonly name: string | null;
  readonly email: string | null;
  readonly lastSeen: string | null;
  readonly label: string | null;
}

/**
 * Profiles whose identifier equals the query or starts with it (any type), or whose id it is;
 * exact matches first, at most `limit` profiles. The query is normalised as lookups are (Unicode
 * folded, trimmed, lower-cased when it looks like an email; the spelling as given is tried too).
 * Identifiers read through the identities view, so merged-away ids resolve to the survivor and
 * erased identifiers are not found.
 *
 * `personal` is the session identifiers and traits are read in (personal-data.ts). In the masked
 * database identifier values are pseudonyms, so there a query matches profile ids and pseudonyms
 * only: a raw email never matches and the answer cannot tell whether it exists.
 */
export async function searchProfiles(
  ch: ClickHouse,
  personal: ClickHouse,
  raw: string,
  limit: number,
): Promise<ProfileHit[]> {
  const spellings = normaliseLookup(raw.includes('@') ? 'email' : '', raw);
  const query = spellings[0] ?? '';
  if (query === '') return [];
  const matches = await personal.query<{ identifier_type: string; identifier_value: string; profile_id: string }>(
    `SELECT identifier_type, identifier_value, profile_id FROM identities
     WHERE startsWith(identifier_value, {q:String}) OR identifier_value IN {spellings:Array(String)} OR profile_id = {q:String}
     ORDER BY NOT has({spellings:Array(String)}, identifier_value), profile_id != {q:String}, identifier_value, identifier_type
     LIMIT {rows:UInt32}`,
    { q: query, spellings, rows: limit * 5 },
  );
  const order: string[] = [];
  const matched = new Map<string, { type: string; value: string }[]>();
  for (const m of matches) {
    if (!matched.has(m.profile_id)) {
      if (order.length === limit) continue;
      order.push(m.profile_id);
      matched.set(m.profile_id, []);
    }
    if (m.profile_id !== query || m.identifier_value.startsWith(query) || spellings.includes(m.identifier_value))
      matched.get(m.profile_id)!.push({ type: m.identifier_type, value: m.identifier_value });
  }
  if (order.length === 0) return [];
  const summaries = await personal.query<{ profile_id: string; name: string; email: string; last_seen: string }>(
    `SELECT profile_id,
            coalesce(nullIf(JSONExtractString(traits, 'name'), ''),
                     nullIf(trim(concat(JSONExtractString(traits, 'firstName'), ' ', JSONExtractString(traits, 'lastName'))), ''),
                     nullIf(trim(concat(JSONExtractString(traits, 'first_name'), ' ', JSONExtractString(traits, 'last_name'))), ''),
                     '') AS name,
            coalesce(nullIf(JSONExtractString(traits, 'email'), ''),
                     arrayFirst(i -> startsWith(i, 'email:'), identifiers)) AS email,
            toString(last_seen) AS last_seen
     FROM profiles WHERE profile_id IN {ids:Array(String)}`,
    { ids: order },
  );
  const rfm = await readSnapshotRfm(ch, order);
  const byId = new Map(summaries.map((s) => [s.profile_id, s]));
  return order.map((profileId) => {
    const summary = byId.get(profileId);
    return {
      profileId,
      matched: matched.get(profileId) ?? [],
      name: summary?.name || null,
      email: summary?.email ? summary.email.replace(/^email:/, '') : null,
      lastSeen: summary ? isoTime(summary.last_seen) : null,
      label: rfm.get(profileId)?.label ?? null,
    };
  });
}

export interface Profile360 {
  readonly profileId: string;
  readonly identifiers: readonly { type: string; value: string }[];
  readonly mergedProfiles: readonly { profileId: string; mergedAt: string; messageId: string }[];
  readonly graph: IdentityGraph;
  readonly traits: Record<string, unknown>;
  readonly firstSeen: string | null;
  readonly lastSeen: string | null;
  readonly channels: readonly string[];
  readonly rfm: {
    readonly recencyDays: number;
    readonly frequency: number;
    readonly monetaryCents: string;
    readonly r: number;
    readonly f: number;
    readonly m: number;
    readonly label: string;
    readonly lastPurchaseAt: string;
    readonly currency: string;
  } | null;
  readonly segments: readonly {
    readonly segmentId: string;
    readonly name: string;
    readonly member: boolean;
    readonly since: string | null;
    readonly history: readonly { change: string; at: string; evaluation: string }[];
  }[];
  readonly consent: {
    readonly current: Record<string, boolean>;
    readonly history: readonly { at: string; messageId: string; purpose: string; granted: boolean }[];
  };
}

/** The profile a (possibly merged-away) id now belongs to, or 404. */
export async function survivorOf(ch: ClickHouse, profileId: string): Promise<string> {
  const [alias] = await ch.query<{ surviving_profile_id: string }>(
    'SELECT surviving_profile_id FROM profile_aliases WHERE absorbed_profile_id = {id:String}',
    { id: profileId },
  );
  if (alias) return alias.surviving_profile_id;
  const [known] = await ch.query<{ n: string }>(
    'SELECT count() AS n FROM profiles_store WHERE profile_id = {id:String} AND deleted = 0',
    { id: profileId },
  );
  if (Number(known?.n ?? 0) === 0) throw new ApiError('KUMIKI_PROFILE_NOT_FOUND', `no profile has id ${profileId}`);
  return profileId;
}

/** The profile and the ids merged into it: what per-person facts are stored under. */
async function idsOf(
  ch: ClickHouse,
  profileId: string,
): Promise<{ ids: string[]; merged: { absorbed_profile_id: string; merged_at: string; message_id: string }[] }> {
  const merged = await ch.query<{ absorbed_profile_id: string; merged_at: string; message_id: string }>(
    `SELECT absorbed_profile_id, toString(merged_at) AS merged_at, message_id FROM profile_aliases
     WHERE surviving_profile_id = {id:String} ORDER BY merged_at, absorbed_profile_id`,
    { id: profileId },
  );
  return { ids: [profileId, ...merged.map((m) => m.absorbed_profile_id)], merged };
}

/**
 * Everything the Profile 360 page shows but the timeline (paged separately). Identifiers, traits
 * and links are read in `personal` (personal-data.ts), through views both databases have; the
 * rest (merges, RFM, segments, consent) is not personal and is read in `ch`.
 */
export async function readProfile360(ch: ClickHouse, personal: ClickHouse, profileId: string): Promise<Profile360> {
  const { ids, merged } = await idsOf(ch, profileId);
  const [profile] = await personal.query<{
    traits: string;
    first_seen: string;
    last_seen: string;
    consent: Record<string, boolean>;
    channels: string[];
    identifiers: string[];
  }>(
    `SELECT traits, toString(first_seen) AS first_seen, toString(last_seen) AS last_seen, consent, channels, identifiers
     FROM profiles WHERE profile_id = {id:String}`,
    { id: profileId },
  );
  const links = await readIdentityLinks(personal, ids);
  const rfm = (await readSnapshotRfm(ch, [profileId])).get(profileId);
  const [settings] = await ch.query<{ currency: string }>(
    'SELECT argMax(reporting_currency, version) AS currency FROM rfm_settings_store',
  );
  const memberships = await ch.query<{ segment_id: string; since: string }>(
    'SELECT segment_id, toString(since) AS since FROM segment_members WHERE profile_id = {id:String}',
    { id: profileId },
  );
  const changes = await ch.query<{
    segment_id: string;
    segment_name: string;
    change: string;
    at: string;
    evaluation: string;
  }>(
    `SELECT segment_id, segment_name, change, toString(at) AS at, evaluation FROM segment_changes
     WHERE profile_id IN {ids:Array(String)} ORDER BY at, source_partition, source_offset`,
    { ids },
  );
  const names = await ch.query<{ segment_id: string; name: string }>('SELECT segment_id, name FROM segments');
  // Consent statements per event, latest receipt per (profile, message) (FINAL).
  const statements = await ch.query<{ timestamp: string; message_id: string; consent: Record<string, boolean> }>(
    `SELECT toString(timestamp) AS timestamp, message_id, consent FROM profile_statements_store FINAL
     WHERE profile_id IN {ids:Array(String)} AND notEmpty(consent) ORDER BY timestamp, message_id`,
    { ids },
  );

  const identifiers = (profile?.identifiers ?? []).map((text) => {
    const colon = text.indexOf(':');
    return { type: text.slice(0, colon), value: text.slice(colon + 1) };
  });
  const segmentName = new Map(names.map((n) => [n.segment_id, n.name]));
  const segmentIds = [...new Set([...memberships.map((m) => m.segment_id), ...changes.map((c) => c.segment_id)])];
  return {
    profileId,
    identifiers,
    mergedProfiles: merged.map((m) => ({
      profileId: m.absorbed_profile_id,
      mergedAt: isoTime(m.merged_at),
      messageId: m.message_id,
    })),
    graph: buildIdentityGraph({
      profileId,
      identifiers,
      links,
      merges: merged.map((m) => ({
        absorbedProfileId: m.absorbed_profile_id,
        mergedAt: isoTime(m.merged_at),
        messageId: m.message_id,
      })),
    }),
    traits: profile ? (JSON.parse(profile.traits) as Record<string, unknown>) : {},
    firstSeen: profile ? isoTime(profile.first_seen) : null,
    lastSeen: profile ? isoTime(profile.last_seen) : null,
    channels: profile?.channels ?? [],
    rfm: rfm
      ? {
          recencyDays: rfm.recencyDays,
          frequency: rfm.frequency,
          monetaryCents: rfm.monetaryCents.toString(),
          r: rfm.r,
          f: rfm.f,
          m: rfm.m,
          label: rfm.label,
          lastPurchaseAt: new Date(rfm.lastPurchaseAt).toISOString(),
          currency: settings?.currency || 'USD',
        }
      : null,
    segments: segmentIds.map((segmentId) => {
      const membership = memberships.find((m) => m.segment_id === segmentId);
      const history = changes.filter((c) => c.segment_id === segmentId);
      return {
        segmentId,
        name: segmentName.get(segmentId) ?? history.at(-1)?.segment_name ?? segmentId,
        member: membership !== undefined,
        since: membership ? isoTime(membership.since) : null,
        history: history.map((c) => ({ change: c.change, at: isoTime(c.at), evaluation: c.evaluation })),
      };
    }),
    consent: {
      current: profile?.consent ?? {},
      history: statements.flatMap((s) =>
        Object.entries(s.consent).map(([purpose, granted]) => ({
          at: isoTime(s.timestamp),
          messageId: s.message_id,
          purpose,
          granted,
        })),
      ),
    },
  };
}

export interface TimelineEvent {
  readonly messageId: string;
  readonly type: string;
  readonly event: string;
  readonly name: string;
  readonly timestamp: string;
  readonly channel: string;
  readonly source: string;
  readonly revenue: string | null;
  readonly currency: string;
  readonly orderId: string;
  readonly properties: string;
}

/**
 * A profile's events across channels, newest first, a page at a time (`before`: the cursor of
 * the previous page). The page is chosen from events_store by the profile's ids (its bloom filter
 * index on profile_id), each messageId once at its latest version, as the events view keeps it,
 * reading only columns that are not personal. The payloads (properties) of the page's events are
 * then read in `personal` (personal-data.ts) from the events view by message_id, its primary key:
 * raw, or with personal keys and email-like values pseudonymised.
 */
export async function readTimeline(
  ch: ClickHouse,
  personal: ClickHouse,
  profileId: string,
  options: { readonly before?: string; readonly limit: number; readonly channel?: string },
): Promise<{ events: TimelineEvent[]; next: string | null }> {
  const { ids } = await idsOf(ch, profileId);
  const cursor = decodeCursor(options.before, 2);
  const rows = await ch.query<{
    message_id: string;
    type: string;
    event: string;
    name: string;
    event_time: string;
    ts: string;
    channel: string;
    source: string;
    revenue: string | null;
    currency: string;
    order_id: string;
  }>(
    `SELECT message_id, type, event, name, toString(timestamp) AS event_time, toString(toUnixTimestamp64Milli(timestamp)) AS ts,
            channel, source, toString(revenue) AS revenue, currency, order_id
     FROM (
       SELECT * FROM events_store WHERE profile_id IN {ids:Array(String)}
       ORDER BY message_id, version DESC LIMIT 1 BY message_id)
     WHERE ({channel:String} = '' OR channel = {channel:String})
       AND (toUnixTimestamp64Milli(timestamp), message_id) < ({before_ts:Int64}, {before_id:String})
     ORDER BY timestamp DESC, message_id DESC
     LIMIT {limit:UInt32}`,
    {
      ids,
      channel: options.channel ?? '',
      before_ts: cursor ? Number(cursor[0]) : Number.MAX_SAFE_INTEGER,
      before_id: cursor ? String(cursor[1]) : '',
      limit: options.limit,
    },
  );
  const payloads =
    rows.length === 0
      ? []
      : await personal.query<{ message_id: string; properties: string }>(
          'SELECT message_id, properties FROM events WHERE message_id IN {ids:Array(String)}',
          { ids: rows.map((r) => r.message_id) },
        );
  const properties = new Map(payloads.map((p) => [p.message_id, p.properties]));
  const events = rows.map((r) => ({
    messageId: r.message_id,
    type: r.type,
    event: r.event,
    name: r.name,
    timestamp: isoTime(r.event_time),
    channel: r.channel,
    source: r.source,
    revenue: r.revenue,
    currency: r.currency,
    orderId: r.order_id,
    properties: properties.get(r.message_id) ?? '{}',
  }));
  const last = rows.at(-1);
  return {
    events,
    next: rows.length === options.limit && last ? encodeCursor([Number(last.ts), last.message_id]) : null,
  };
}
