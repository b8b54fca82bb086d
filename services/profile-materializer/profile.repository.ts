import type { ClickHouse } from '../common/clickhouse/client-factory';
import type { Identifier } from '../../schemas';
import type { AliasChange } from './alias-map';
import { parseObject, type EventRow, type IdentityLinkRow, type IdentityRow } from './store-rows';
import { dateTime64Text } from '../common/clickhouse/datetime64';
import { encodeRows, type EncodedRows } from '../common/clickhouse/encoded-rows';
import { stringList, stringListParam } from '../common/clickhouse/string-list';
import { loadAliasGroups, loadAliases } from './alias.repository';
import { segmentsOfProfiles } from './segments/evaluation/membership.repository';

/**
 * The materializer's reads and writes of profile state in ClickHouse.
 *
 * Exactness, query by query:
 * - writes go to ReplacingMergeTree stores with deterministic keys and versions, so a replay
 *   writes rows identical to those already there (collapsed by FINAL at read time);
 * - `loadAliases` reads the profile_aliases view (argMax by version);
 * - `readSnapshots` reads profile_facts_store (min/max/set union: a replayed event changes
 *   nothing) and profile_statements_store FINAL (one row per profile and message), folding
 *   statements latest-per-key by (timestamp, message_id), so arrival order does not matter;
 * - identifiers come from identities_store FINAL (the latest owner of each identifier), read
 *   by key for the candidates its index by profile names (migration 0014).
 */
export interface ProfileSnapshot {
  readonly profileId: string;
  /** JSON object text, keys sorted. */
  readonly traits: string;
  /** Set only when `traits` is above UPDATE_TRAITS_BYTES: what its ProfileUpdate carries instead (see boundedTraits). */
  readonly updateTraits?: BoundedTraits;
  readonly firstSeen: number;
  readonly lastSeen: number;
  readonly consent: Record<string, boolean>;
  readonly channels: string[];
  readonly identifiers: Identifier[];
}

/** A statement of values (traits, consent) made by one event. */
export interface Statement {
  readonly at: number;
  readonly messageId: string;
  readonly values: Readonly<Record<string, unknown>>;
}

/**
 * Latest value per key by event time, messageId breaking ties: the order the statements
 * arrived in (late events, replays, merges) cannot change the outcome. Keys come out sorted.
 */
export function latestPerKey(statements: readonly Statement[]): Record<string, unknown> {
  // A Map, not an object: a key named `__proto__` is a trait like any other, not a prototype.
  const merged = new Map<string, unknown>();
  for (const statement of ordered(statements))
    for (const [key, value] of Object.entries(statement.values)) merged.set(key, value);
  return Object.fromEntries([...merged].sort(byKey));
}

/**
 * The most traits text a ProfileUpdate carries. Merged traits grow with every new key (a client
 * that puts ids or dates in key names never stops adding them), and a record above the topic's
 * limit would fail every publish of its chunk, for good. 512 KiB leaves the rest of the record
 * (identifiers within their limits, segments) room under the topic's 2 MiB.
 */
export const UPDATE_TRAITS_BYTES = 512 * 1024;

export interface BoundedTraits {
  /** JSON object text, keys sorted. */
  readonly text: string;
  /** Keys left out: those set longest ago. */
  readonly leftOut: number;
}

/**
 * The traits latestPerKey gives, keeping the keys set most recently (by event time, then
 * messageId) while their JSON fits in `maxBytes`.
 */
export function boundedTraits(statements: readonly Statement[], maxBytes: number): BoundedTraits {
  // Deleted and set again, a key moves to the end: the map's order is the order keys were last set.
  const lastSet = new Map<string, unknown>();
  for (const statement of ordered(statements)) {
    for (const [key, value] of Object.entries(statement.values)) {
      lastSet.delete(key);
      lastSet.set(key, value);
    }
  }
  const kept: [string, unknown][] = [];
  let bytes = 1; // the braces, less the comma the first entry does not need
  for (const [key, value] of [...lastSet].reverse()) {
    const entry = Buffer.byteLength(JSON.stringify(key)) + Buffer.byteLength(JSON.stringify(value)) + 2; // colon and comma
    if (bytes + entry > maxBytes) break;
    kept.push([key, value]);
    bytes += entry;
  }
  kept.sort(byKey);
  return { text: JSON.stringify(Object.fromEntries(kept)), leftOut: lastSet.size - kept.length };
}

/** Entries in key order (UTF-16 code units, as `Array.prototype.sort` without a comparator). */
function byKey([a]: [string, unknown], [b]: [string, unknown]): number {
  return a < b ? -1 : a > b ? 1 : 0;
}

function ordered(statements: readonly Statement[]): Statement[] {
  return [...statements].sort(
    (a, b) => a.at - b.at || (a.messageId < b.messageId ? -1 : a.messageId > b.messageId ? 1 : 0),
  );
}

/** Every events_store column the materializer writes, for the compact insert format. */
const eventColumns = [
  'message_id',
  'profile_id',
  'type',
  'event',
  'name',
  'timestamp',
  'received_at',
  'channel',
  'source',
  'user_id',
  'anonymous_id',
  'device_id',
  'page_path',
  'order_id',
  'revenue',
  'currency',
  'properties',
  'traits',
  'context',
  'consent',
  'version',
] as const satisfies readonly (keyof EventRow)[];

/** events_store rows as writeEvents takes them, serialised when a chunk is decoded (see encoded-rows.ts). */
export function encodeEventRows(rows: readonly EventRow[]): EncodedRows {
  return encodeRows(rows, eventColumns);
}

/** The profiles_store columns a snapshot writes (updated_at takes its default). */
const profileColumns = [
  'profile_id',
  'traits',
  'first_seen',
  'last_seen',
  'consent',
  'channels',
  'identifiers',
  'deleted',
  'version',
] as const;

export class ProfileRepository {
  private static readonly identityCacheSize = 500_000;
  private lastVersion = 0;
  /** identifier (type NUL value) → profile id this process last wrote for it. */
  private readonly writtenIdentities = new Map<string, string>();

  constructor(private readonly ch: ClickHouse) {}

  /** The ClickHouse handle, for the write path's steps that read or write beside the profile stores. */
  get clickhouse(): ClickHouse {
    return this.ch;
  }

  /** Strictly increasing per process and across restarts (wall clock, microsecond steps). */
  nextVersion(): number {
    this.lastVersion = Math.max(this.lastVersion + 1, Date.now() * 1000);
    return this.lastVersion;
  }

  /** How many of these message ids are already stored (a replay); reads most of the message_id column of a large table, see ReplayWindow. */
  async countExistingEvents(messageIds: readonly string[]): Promise<number> {
    const rows = await this.ch.query<{ n: string }>(
      `SELECT uniqExact(message_id) AS n FROM events_store WHERE message_id IN ${stringList('ids')}`,
      {
        ids: stringListParam(new Set(messageIds)),
      },
    );
    return Number(rows[0]?.n ?? 0);
  }

  /** Also fills profile_facts_store, profile_statements_store (migration 0009) and profile_activity_store (0011): materialized views. */
  async writeEvents(rows: EncodedRows): Promise<void> {
    await this.ch.insertEncoded('events_store', rows);
  }

  /**
   * Writes identifier → profile rows, skipping those this process already wrote with the same
   * profile (most events repeat their profile's identifiers). Skipping is safe: the stored row
   * already says the same, and a restart simply writes them once more. Resolves with how many were written.
   */
  async writeIdentities(rows: readonly IdentityRow[]): Promise<number> {
    const fresh = rows.filter(
      (row) => this.writtenIdentities.get(`${row.identifier_type}\u0000${row.identifier_value}`) !== row.profile_id,
    );
    await this.ch.insert('identities_store', fresh);
    if (this.writtenIdentities.size + fresh.length > ProfileRepository.identityCacheSize)
      this.writtenIdentities.clear();
    for (const row of fresh)
      this.writtenIdentities.set(`${row.identifier_type}\u0000${row.identifier_value}`, row.profile_id);
    return fresh.length;
  }

  async writeLinks(rows: readonly IdentityLinkRow[]): Promise<void> {
    await this.ch.insert('identity_links_store', rows);
  }

  /** Current aliases touching `ids` (see alias.repository.ts). */
  loadAliases(ids: readonly string[]): Promise<Map<string, string>> {
    return loadAliases(this.ch, ids);
  }

  /** The alias groups of `ids` (see alias.repository.ts). */
  loadAliasGroups(ids: readonly string[]): Promise<Map<string, string>> {
    return loadAliasGroups(this.ch, ids);
  }

  async writeAliases(changes: readonly AliasChange[]): Promise<void> {
    await this.ch.insert(
      'profile_aliases_store',
      changes.map((c) => ({
        absorbed_profile_id: c.absorbed,
        surviving_profile_id: c.survivor,
        merged_at: dateTime64Text(c.mergedAt),
        message_id: c.messageId,
        version: this.nextVersion(),
      })),
    );
  }

  /**
   * Whole-profile snapshots of the surviving profiles `survivors`, computed from all their
   * events (their own and those of every profile merged into them). `aliases` must hold every
   * profile absorbed into one of them (loadAliasGroups). Profiles without any event yet get no
   * snapshot.
   */
  async readSnapshots(survivors: readonly string[], aliases: ReadonlyMap<string, string>): Promise<ProfileSnapshot[]> {
    if (survivors.length === 0) return [];
    const wanted = new Set(survivors);
    const memberRows = [...aliases].filter(([, survivor]) => wanted.has(survivor));
    // transform() needs only the absorbed ids (usually few); everyone else is their own survivor.
    const params = {
      members: stringListParam([...survivors, ...memberRows.map(([absorbed]) => absorbed)]),
      absorbed: stringListParam(memberRows.map(([absorbed]) => absorbed)),
      survivors: stringListParam(memberRows.map(([, survivor]) => survivor)),
    };
    // Primary-key reads of the per-profile tables (migration 0008); `pid` is the surviving
    // profile (transform() maps an absorbed id to it), so a merge folds both profiles' facts.
    const facts = await this.ch.query<{ pid: string; first_seen: string; last_seen: string; channels: string[] }>(
      `SELECT transform(profile_id, ${stringList('absorbed')}, ${stringList('survivors')}, profile_id) AS pid,
              toString(toUnixTimestamp64Milli(min(first_seen))) AS first_seen,
              toString(toUnixTimestamp64Milli(max(last_seen))) AS last_seen,
              arraySort(groupUniqArrayArray(channels)) AS channels
       FROM profile_facts_store
       WHERE profile_id IN ${stringList('members')}
       GROUP BY pid`,
      params,
    );
    const statements = await this.ch.query<{
      pid: string;
      at: string;
      message_id: string;
      traits: string;
      consent: Record<string, boolean>;
    }>(
      `SELECT transform(profile_id, ${stringList('absorbed')}, ${stringList('survivors')}, profile_id) AS pid,
              toString(toUnixTimestamp64Milli(timestamp)) AS at, message_id, traits, consent
       FROM profile_statements_store FINAL
       WHERE profile_id IN ${stringList('members')}`,
      params,
    );
    const statementsOf = new Map<string, { traits: Statement[]; consent: Statement[] }>();
    for (const row of statements) {
      const entry = statementsOf.get(row.pid) ?? { traits: [], consent: [] };
      entry.traits.push({ at: Number(row.at), messageId: row.message_id, values: parseObject(row.traits) });
      entry.consent.push({ at: Number(row.at), messageId: row.message_id, values: row.consent });
      statementsOf.set(row.pid, entry);
    }
    const rows = facts.map((f) => ({ ...f, statements: statementsOf.get(f.pid) ?? { traits: [], consent: [] } }));
    const identifiers = await this.identifiersOf(params);
    const snapshots = rows.map((row) => {
      const traits = JSON.stringify(latestPerKey(row.statements.traits));
      const consent = latestPerKey(row.statements.consent);
      return {
        profileId: row.pid,
        traits,
        ...(Buffer.byteLength(traits) > UPDATE_TRAITS_BYTES
          ? { updateTraits: boundedTraits(row.statements.traits, UPDATE_TRAITS_BYTES) }
          : {}),
        firstSeen: Number(row.first_seen),
        lastSeen: Number(row.last_seen),
        consent: consent as Record<string, boolean>,
        channels: row.channels,
        identifiers: identifiers.get(row.pid) ?? [],
      } satisfies ProfileSnapshot;
    });
    return snapshots;
  }

  /**
   * Writes snapshots to profiles_store, each with a new version. The versions are taken when
   * this is called, so of two writes of a profile the later call wins, whichever insert ends first.
   */
  async writeSnapshots(snapshots: readonly ProfileSnapshot[]): Promise<void> {
    await this.ch.insert(
      'profiles_store',
      snapshots.map((s) => ({
        profile_id: s.profileId,
        traits: s.traits,
        first_seen: dateTime64Text(s.firstSeen),
        last_seen: dateTime64Text(s.lastSeen),
        consent: s.consent,
        channels: s.channels,
        identifiers: s.identifiers.map((i) => `${i.type}:${i.value}`),
        deleted: 0,
        version: this.nextVersion(),
      })),
      { columns: profileColumns },
    );
  }

  /**
   * Hides profiles (a privacy erase): a snapshot row with deleted = 1 under a new version, so the
   * profiles view, segments and the read API stop seeing them before their rows are deleted.
   */
  async hideProfiles(profileIds: readonly string[]): Promise<void> {
    // last_seen now: a retention TTL (by last_seen) must not remove the hiding row before the erase is done.
    const now = dateTime64Text(Date.now());
    await this.ch.insert(
      'profiles_store',
      profileIds.map((profileId) => ({
        profile_id: profileId,
        traits: '{}',
        first_seen: now,
        last_seen: now,
        consent: {},
        channels: [],
        identifiers: [],
        deleted: 1,
        version: this.nextVersion(),
      })),
      { columns: profileColumns },
    );
  }

  /** Forgets what this process remembers having written for these identifiers (`type:value`), after an erase deleted them. */
  forgetIdentities(keys: readonly { type: string; value: string }[]): void {
    for (const { type, value } of keys) this.writtenIdentities.delete(`${type}\u0000${value}`);
  }

  /** Identifiers of each surviving profile, sorted by type then value. */
  private async identifiersOf(params: {
    members: string;
    absorbed: string;
    survivors: string;
  }): Promise<Map<string, Identifier[]>> {
    const rows = await this.ch.query<{ pid: string; identifier_type: string; identifier_value: string }>(
      `SELECT transform(profile_id, ${stringList('absorbed')}, ${stringList('survivors')}, profile_id) AS pid, identifier_type, identifier_value
       FROM identities_store FINAL
       WHERE (identifier_type, identifier_value) IN (SELECT identifier_type, identifier_value FROM identities_by_profile WHERE profile_id IN ${stringList('members')})
         AND profile_id IN ${stringList('members')} AND deleted = 0
       ORDER BY pid, identifier_type, identifier_value`,
      params,
    );
    const out = new Map<string, Identifier[]>();
    for (const row of rows) {
      const list = out.get(row.pid) ?? [];
      list.push({ type: row.identifier_type, value: row.identifier_value });
      out.set(row.pid, list);
    }
    return out;
  }

  /** Segment ids per profile, from the segment_members view. */
  segmentsOf(profileIds: readonly string[]): Promise<Map<string, string[]>> {
    return segmentsOfProfiles(this.ch, profileIds);
  }
}
