import type { ClickHouse } from '../../common/clickhouse/client-factory';
import { dateTime64Text } from '../../common/clickhouse/datetime64';

const columns = ['profile_id_hash', 'destination_id', 'first_at', 'last_at', 'forgotten'] as const;

/** An export destination that was sent a profile (named by the keyed hash of its id). */
export interface ExportRecipient {
  readonly destinationId: string;
  readonly profileIdHash: string;
  /** The first and the latest export that held the profile (ISO 8601). */
  readonly firstAt: string;
  readonly lastAt: string;
}

/**
 * The recipient ledger of audience exports, in ClickHouse (export_recipients_store, migration
 * 0024): the activator records every member an export hands over, a chunk at a time, before the
 * file leaves; an erasure reads back, by the person's profile id hashes, which export
 * destinations hold them, and forgets each pair once its deletion notice went out.
 *
 * Reads are exact without FINAL: the engine folds rows of a pair with min/max, and the queries
 * fold what is not merged yet the same way (GROUP BY the pair).
 */
export async function recordExportRecipients(
  ch: ClickHouse,
  destinationId: string,
  exportedAt: number,
  profileIdHashes: readonly string[],
): Promise<void> {
  const at = dateTime64Text(exportedAt);
  await ch.insert(
    'export_recipients_store',
    profileIdHashes.map((hash) => ({
      profile_id_hash: hash,
      destination_id: destinationId,
      first_at: at,
      last_at: at,
      forgotten: 0,
    })),
    { columns },
  );
}

export async function exportRecipientsOf(
  ch: ClickHouse,
  profileIdHashes: readonly string[],
): Promise<ExportRecipient[]> {
  if (profileIdHashes.length === 0) return [];
  const rows = await ch.query<{ destinationId: string; profileIdHash: string; firstAt: string; lastAt: string }>(
    `SELECT destination_id AS destinationId, profile_id_hash AS profileIdHash,
            toString(toUnixTimestamp64Milli(min(first_at))) AS firstAt,
            toString(toUnixTimestamp64Milli(max(last_at))) AS lastAt
     FROM export_recipients_store
     WHERE profile_id_hash IN {hashes:Array(String)}
     GROUP BY destination_id, profile_id_hash
     HAVING max(forgotten) = 0
     ORDER BY min(first_at), destination_id`,
    { hashes: [...profileIdHashes] },
  );
  const iso = (ms: string) => new Date(Number(ms)).toISOString();
  return rows.map((r) => ({ ...r, firstAt: iso(r.firstAt), lastAt: iso(r.lastAt) }));
}

/** The pair's deletion notice went out: it is no longer on record. */
export async function forgetExportRecipients(
  ch: ClickHouse,
  pairs: readonly { readonly destinationId: string; readonly profileIdHash: string }[],
  now: number,
): Promise<void> {
  const at = dateTime64Text(now);
  await ch.insert(
    'export_recipients_store',
    pairs.map((p) => ({
      profile_id_hash: p.profileIdHash,
      destination_id: p.destinationId,
      first_at: at,
      last_at: at,
      forgotten: 1,
    })),
    { columns },
  );
}
