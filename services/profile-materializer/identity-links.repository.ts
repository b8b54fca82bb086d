import type { ClickHouse } from '../common/clickhouse/client-factory';
import type { LinkRow } from './console/identity-graph';
import { isoTime } from './console/read-model';

/**
 * The recorded links and refusals of identifiers to these profiles (a profile and the ids merged
 * into it), oldest first: the provenance behind /explain and the console's identity graph.
 * Read from the identity_links view by linked_profile_id (the profile at the time, the store's
 * own column), which exists with the same columns in the raw and the masked database, so the
 * caller's session decides whether identifier values come back raw or as pseudonyms. The view
 * reads FINAL, so a replayed link shows once.
 */
export async function readIdentityLinks(ch: ClickHouse, profileIds: readonly string[]): Promise<LinkRow[]> {
  const rows = await ch.query<{
    identifier_type: string;
    identifier_value: string;
    profile_id: string;
    message_id: string;
    rule: string;
    reason: string;
    linked_at: string;
  }>(
    `SELECT identifier_type, identifier_value, linked_profile_id AS profile_id, message_id, rule, reason,
            toString(linked_at) AS linked_at
     FROM identity_links WHERE linked_profile_id IN {ids:Array(String)}
     ORDER BY linked_at, identifier_type, identifier_value, rule`,
    { ids: [...profileIds] },
  );
  return rows.map((l) => ({
    type: l.identifier_type,
    value: l.identifier_value,
    profileId: l.profile_id,
    rule: l.rule,
    reason: l.reason,
    messageId: l.message_id,
    linkedAt: isoTime(l.linked_at),
  }));
}
