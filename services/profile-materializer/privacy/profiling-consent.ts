import { hash } from 'node:crypto';
import type { ClickHouse } from '../../common/clickhouse/client-factory';
import { stringList, stringListParam } from '../../common/clickhouse/string-list';
import { loadAliasGroups } from '../alias.repository';
import { resolveProfile } from '../alias-map';
import type { EventRow } from '../store-rows';

/**
 * Consent required for profiling (PROFILING_PURPOSES, e.g. `analytics`): an event becomes part
 * of its person's profile only if, at the event's time, the person had granted every one of
 * those purposes — their latest statement per purpose at or before it, the event's own included,
 * across every profile merged into theirs. No statement is not granted (fail-closed).
 *
 * An event that fails is kept out of the profile: it is not written to events_store (so to no
 * table built from it — facts, activity, RFM, segments), but counted in an anonymous aggregate
 * (unprofiled_events_store: day, kind, channel, a hash of the messageId), and its consent
 * statement is recorded, so that a later grant is seen. Only statements received no later than
 * the event count (received_at, the rows' version): a grant or revocation that arrives late
 * neither brings earlier events in nor takes them out. So the verdict is the same however the
 * records are cut into chunks and when it is reached again: a replay after a crash finds later
 * chunks' statements stored, and a different verdict would leave the event in events_store and
 * unprofiled_events_store both.
 */
export interface ConsentStatement {
  readonly at: number;
  readonly messageId: string;
  /** When the stating event was received (epoch ms; its rows' version). */
  readonly received: number;
  readonly consent: Readonly<Record<string, boolean>>;
}

/** Per event, in order: whether every purpose is granted at its time. */
export function profilingVerdicts(
  events: readonly Pick<EventRow, 'profile_id' | 'message_id' | 'consent' | 'version'>[],
  times: readonly number[],
  survivorOf: (profileId: string) => string,
  stored: ReadonlyMap<string, readonly ConsentStatement[]>,
  purposes: readonly string[],
): boolean[] {
  const bySurvivor = new Map<string, ConsentStatement[]>();
  for (const [profileId, statements] of stored) {
    const survivor = survivorOf(profileId);
    bySurvivor.set(survivor, [...(bySurvivor.get(survivor) ?? []), ...statements]);
  }
  events.forEach((event, i) => {
    if (Object.keys(event.consent).length === 0) return;
    const survivor = survivorOf(event.profile_id);
    bySurvivor.set(survivor, [
      ...(bySurvivor.get(survivor) ?? []),
      { at: times[i]!, messageId: event.message_id, received: event.version, consent: event.consent },
    ]);
  });
  for (const statements of bySurvivor.values())
    statements.sort((a, b) => a.at - b.at || (a.messageId < b.messageId ? -1 : a.messageId > b.messageId ? 1 : 0));
  return events.map((event, i) => {
    const statements = bySurvivor.get(survivorOf(event.profile_id)) ?? [];
    const at = times[i]!;
    return purposes.every((purpose) => {
      let granted = false;
      for (const statement of statements) {
        if (statement.at > at || (statement.at === at && statement.messageId > event.message_id)) break;
        if (statement.received > event.version) continue;
        if (purpose in statement.consent) granted = statement.consent[purpose] === true;
      }
      return granted;
    });
  });
}

/** Splits a chunk's events into those its people consented to be profiled by, and the rest. */
export async function withholdUnconsented(
  ch: ClickHouse,
  rows: readonly EventRow[],
  purposes: readonly string[],
): Promise<{ kept: EventRow[]; withheld: EventRow[] }> {
  if (rows.length === 0) return { kept: [], withheld: [] };
  const aliases = await loadAliasGroups(ch, [...new Set(rows.map((r) => r.profile_id))]);
  const members = [...new Set([...rows.map((r) => r.profile_id), ...aliases.keys(), ...aliases.values()])];
  // FINAL: one row per (profile, message); only statements naming a required purpose.
  const stored = await ch.query<{
    profile_id: string;
    at: string;
    message_id: string;
    received: string;
    consent: Record<string, boolean>;
  }>(
    `SELECT profile_id, toString(toUnixTimestamp64Milli(timestamp)) AS at, message_id, toString(version) AS received, consent
     FROM profile_statements_store FINAL
     WHERE profile_id IN ${stringList('ids')} AND hasAny(mapKeys(consent), {purposes:Array(String)})`,
    { ids: stringListParam(members), purposes: [...purposes] },
  );
  const statements = new Map<string, ConsentStatement[]>();
  for (const row of stored)
    statements.set(row.profile_id, [
      ...(statements.get(row.profile_id) ?? []),
      { at: Number(row.at), messageId: row.message_id, received: Number(row.received), consent: row.consent },
    ]);
  const verdicts = profilingVerdicts(
    rows,
    rows.map((r) => Date.parse(`${r.timestamp.replace(' ', 'T')}Z`)),
    (id) => resolveProfile(aliases, id),
    statements,
    purposes,
  );
  return { kept: rows.filter((_, i) => verdicts[i]), withheld: rows.filter((_, i) => !verdicts[i]) };
}

/** What is written for withheld events: an anonymous count each, and their consent statements. */
export async function writeWithheld(ch: ClickHouse, withheld: readonly EventRow[]): Promise<void> {
  if (withheld.length === 0) return;
  const stating = withheld.filter((row) => Object.keys(row.consent).length > 0);
  await Promise.all([
    ch.insert(
      'unprofiled_events_store',
      withheld.map((row) => ({
        day: row.timestamp.slice(0, 10),
        type: row.type,
        event: row.event,
        channel: row.channel,
        message_hash: hash('sha256', row.message_id, 'hex').slice(0, 16),
      })),
    ),
    ch.insert(
      'profile_statements_store',
      stating.map((row) => ({
        profile_id: row.profile_id,
        message_id: row.message_id,
        timestamp: row.timestamp,
        traits: '{}',
        consent: row.consent,
        version: row.version,
      })),
    ),
    ch.insert(
      'consent_history_store',
      stating.flatMap((row) =>
        Object.entries(row.consent).map(([purpose, granted]) => ({
          profile_id: row.profile_id,
          purpose,
          granted,
          timestamp: row.timestamp,
          message_id: row.message_id,
          channel: row.channel,
          source: row.source,
          version: row.version,
        })),
      ),
    ),
  ]);
}
