import type { ClickHouse } from '../../common/clickhouse/client-factory';
import { stringList, stringListParam } from '../../common/clickhouse/string-list';

/**
 * What ClickHouse knows of a person beyond what the identity graph holds: the profiles merged
 * into theirs over time (the graph keeps only the survivor), and every identifier ever linked
 * to one of their profiles, with provenance.
 */

/** Every profile ever merged into `profileIds`, transitively (the alias index by survivor, migration 0014). */
export async function profilesMergedInto(ch: ClickHouse, profileIds: readonly string[]): Promise<string[]> {
  const found = new Set<string>(profileIds);
  const merged: string[] = [];
  let frontier = [...profileIds];
  while (frontier.length > 0) {
    const rows = await ch.query<{ absorbed_profile_id: string }>(
      `SELECT DISTINCT absorbed_profile_id FROM profile_aliases_by_survivor WHERE surviving_profile_id IN ${stringList('ids')}`,
      { ids: stringListParam(frontier) },
    );
    frontier = rows.map((r) => r.absorbed_profile_id).filter((id) => !found.has(id));
    for (const id of frontier) {
      found.add(id);
      merged.push(id);
    }
  }
  return merged.sort();
}

export interface StoredIdentifier {
  readonly type: string;
  readonly value: string;
  readonly profileId: string;
  readonly linkedBy: string;
  readonly linkedAt: number;
}

/** Every identifier ever linked to one of `profileIds` (the index by profile, then identities_store FINAL by key). */
export async function identifiersLinkedTo(ch: ClickHouse, profileIds: readonly string[]): Promise<StoredIdentifier[]> {
  if (profileIds.length === 0) return [];
  const rows = await ch.query<{
    identifier_type: string;
    identifier_value: string;
    profile_id: string;
    message_id: string;
    linked_ms: string;
  }>(
    `SELECT identifier_type, identifier_value, profile_id, message_id, toString(toUnixTimestamp64Milli(linked_at)) AS linked_ms
     FROM identities_store FINAL
     WHERE (identifier_type, identifier_value) IN
           (SELECT identifier_type, identifier_value FROM identities_by_profile WHERE profile_id IN ${stringList('ids')})
     ORDER BY identifier_type, identifier_value`,
    { ids: stringListParam(profileIds) },
  );
  return rows.map((r) => ({
    type: r.identifier_type,
    value: r.identifier_value,
    profileId: r.profile_id,
    linkedBy: r.message_id,
    linkedAt: Number(r.linked_ms),
  }));
}

/** messageIds of the person's events (before an erase: the residual scan finds their records on the event topics by them). */
export async function messageIdsOfSubject(ch: ClickHouse, requestId: string): Promise<string[]> {
  const rows = await ch.query<{ message_id: string }>(
    `SELECT DISTINCT message_id FROM events_store
     WHERE profile_id IN (SELECT profile_id FROM privacy_request_subjects WHERE request_id = {id:String} AND profile_id != '')`,
    { id: requestId },
  );
  return rows.map((r) => r.message_id);
}
