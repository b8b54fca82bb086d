import type { PrivacyKey } from '../../common/privacy/privacy-key';
import type { ReadApiClient } from '../read-api.client';

/** Members per call to the read API: about 2 MB of hashes held at a time, whatever the segment. */
export const RECIPIENT_CHUNK = 50_000;

/** One export's members as they are written, recorded before the file is handed over. */
export interface ExportRecipientBatch {
  add(profileId: string): Promise<void>;
  /** Resolves once every member added so far is on record. */
  flush(): Promise<void>;
}

/**
 * Which export destination was sent which profile: the recipient ledger of exports, kept by the
 * materializer in ClickHouse (export_recipients_store) and reached through the read API, since an
 * export hands over a whole segment at once — a million members would be a million records and a
 * million entries in every instance's memory in the webhook ledger (recipient-ledger.ts). Here a
 * member costs a keyed hash and 33 bytes in a chunk that is sent and dropped every
 * RECIPIENT_CHUNK members, so an export's memory does not grow with its segment.
 *
 * Recorded before the file is moved into place or POSTed: a delivered file's members are always
 * on record (an export that fails after recording costs at most a notice to a destination that
 * never got the file). Profiles are named by keyed hash (the privacy key), as in the webhook ledger.
 */
export class ExportRecipients {
  constructor(
    private readonly readApi: Pick<ReadApiClient, 'post'>,
    private readonly key: PrivacyKey,
  ) {}

  batch(destinationId: string, exportedAt: number): ExportRecipientBatch {
    let hashes: string[] = [];
    const send = async (): Promise<void> => {
      if (hashes.length === 0) return;
      const chunk = hashes;
      hashes = [];
      await this.readApi.post('/v1/export-recipients', { destinationId, exportedAt, profileIdHashes: chunk });
    };
    return {
      add: async (profileId) => {
        hashes.push(this.key.hashProfileId(profileId));
        if (hashes.length >= RECIPIENT_CHUNK) await send();
      },
      flush: send,
    };
  }

  /** Export destinations on record for each of these profiles (profile id → destination ids). */
  async destinationsOf(profileIds: readonly string[]): Promise<Map<string, string[]>> {
    const byHash = new Map(profileIds.map((id) => [this.key.hashProfileId(id), id]));
    const answer = await this.readApi.post<{ recipients: { destinationId: string; profileIdHash: string }[] }>(
      '/v1/export-recipients/lookup',
      { profileIdHashes: [...byHash.keys()] },
    );
    const out = new Map<string, string[]>();
    for (const { destinationId, profileIdHash } of answer?.recipients ?? []) {
      const profileId = byHash.get(profileIdHash);
      if (profileId !== undefined) out.set(profileId, [...(out.get(profileId) ?? []), destinationId]);
    }
    return out;
  }

  /** The destination's notice about the profile went out: the pair leaves the ledger. */
  async forget(destinationId: string, profileId: string): Promise<void> {
    await this.readApi.post('/v1/export-recipients/forget', {
      pairs: [{ destinationId, profileIdHash: this.key.hashProfileId(profileId) }],
    });
  }
}
