import type { SubjectMemory as SubjectMemoryRecord } from '../../../schemas';
import type { PrivacyKey } from '../../common/privacy/privacy-key';

/**
 * What the stitcher remembers of erased and suppressed people: only keyed hashes of their
 * identifiers and profile ids (PrivacyKey), restored at start from the compacted
 * `kumiki.privacy.subjects` and changed in the same transactions as the graph.
 *
 * - Erased: an event received at or before the erasure (`at`) that carries one of the
 *   identifiers is the person's old data coming back (a replay of the raw topics, a rebuild):
 *   it is dropped. An event received after it is new, and starts a new, unrelated profile.
 * - Suppressed: every event carrying one of the identifiers is dropped; identifiers the graph
 *   does not know that arrive with them join the suppression ("linked later"). Identifiers of
 *   other people's profiles do not: a shared device must not suppress its other users.
 *   A suppressed person's live profile is flagged by id, so their known identifiers cost a
 *   lookup, not a hash; only identifiers the graph does not know are hashed, and only while
 *   some suppression exists.
 */
export class SubjectMemory {
  private readonly records = new Map<string, SubjectMemoryRecord>();
  /** Identifier hash → the latest erasure of it (an identifier erased, seen again, and erased again). */
  private readonly erasures = new Map<string, { readonly at: number; readonly requestId: string }>();
  private latestErasureAt = Number.NEGATIVE_INFINITY;
  /** Identifier hash → key of the suppression holding it. */
  private readonly suppressedIdentifiers = new Map<string, string>();
  /** Profile id hash → key of the suppression holding it. */
  private readonly suppressedProfileHashes = new Map<string, string>();
  /** Live profile id → key of its suppression (flagged at restore and when suppressed). */
  private readonly suppressedProfiles = new Map<string, string>();
  /** Suppressions grown since takeGrown: their records are written with the batch that grew them. */
  private readonly grown = new Set<string>();

  constructor(readonly key: PrivacyKey) {}

  /** Applies a record of kumiki.privacy.subjects (null: its key's suppression is lifted). */
  apply(recordKey: string, record: SubjectMemoryRecord | null): void {
    const previous = this.records.get(recordKey);
    // A grown suppression replaces its hashes; only a lifted one unflags its live profiles.
    if (previous?.kind === 'suppressed') this.forgetHashes(recordKey, previous, record === null);
    if (record === null) {
      this.records.delete(recordKey);
      return;
    }
    this.records.set(recordKey, record);
    if (record.kind === 'executed') return;
    if (record.kind === 'erased') {
      for (const hash of record.identifierHashes) {
        const known = this.erasures.get(hash);
        if (!known || known.at < record.at) this.erasures.set(hash, { at: record.at, requestId: record.requestId });
      }
      this.latestErasureAt = Math.max(this.latestErasureAt, record.at);
    } else {
      for (const hash of record.identifierHashes) this.suppressedIdentifiers.set(hash, recordKey);
      for (const hash of record.profileIdHashes) this.suppressedProfileHashes.set(hash, recordKey);
    }
  }

  /** After a restore: flags the live profiles of suppressed people (hashing each profile id once). */
  flagProfiles(forEachProfile: (visit: (profileId: string) => void) => void): void {
    if (this.suppressedProfileHashes.size === 0) return;
    forEachProfile((profileId) => {
      const recordKey = this.suppressedProfileHashes.get(this.key.hashProfileId(profileId));
      if (recordKey !== undefined) this.suppressedProfiles.set(profileId, recordKey);
    });
  }

  /** Flags a live profile as suppressed under `recordKey` (its record is written by the caller). */
  flagProfile(profileId: string, recordKey: string): void {
    this.suppressedProfiles.set(profileId, recordKey);
  }

  get isEmpty(): boolean {
    return this.records.size === 0;
  }

  get hasSuppressions(): boolean {
    return this.suppressedIdentifiers.size > 0 || this.suppressedProfiles.size > 0;
  }

  /** Received at or before the latest erasure: the event may be an erased person's, and is checked. */
  mayBeErased(receivedAt: number): boolean {
    return receivedAt <= this.latestErasureAt;
  }

  /** The erasure an identifier hash was last erased by, if any. */
  erasureOf(identifierHash: string): { readonly at: number; readonly requestId: string } | undefined {
    return this.erasures.get(identifierHash);
  }

  suppressionOfProfile(profileId: string): string | undefined {
    return this.suppressedProfiles.get(profileId);
  }

  suppressionOfIdentifier(identifierHash: string): string | undefined {
    return this.suppressedIdentifiers.get(identifierHash);
  }

  suppressionOfProfileHash(profileIdHash: string): string | undefined {
    return this.suppressedProfileHashes.get(profileIdHash);
  }

  record(recordKey: string): SubjectMemoryRecord | undefined {
    return this.records.get(recordKey);
  }

  /**
   * Adds identifier hashes to a suppression (identifiers that arrived with a suppressed person's
   * identifiers); returns its new record, or undefined when it holds them all. The record is
   * also kept for takeGrown.
   */
  grow(recordKey: string, identifierHashes: readonly string[]): SubjectMemoryRecord | undefined {
    const record = this.records.get(recordKey);
    if (record?.kind !== 'suppressed') return undefined;
    const held = new Set(record.identifierHashes);
    const added = identifierHashes.filter((hash) => !held.has(hash));
    if (added.length === 0) return undefined;
    const grown = { ...record, identifierHashes: [...record.identifierHashes, ...new Set(added)] };
    this.apply(recordKey, grown);
    this.grown.add(recordKey);
    return grown;
  }

  /** The records of the suppressions grown since the last call, to be written to kumiki.privacy.subjects. */
  takeGrown(): [string, SubjectMemoryRecord][] {
    const taken: [string, SubjectMemoryRecord][] = [];
    for (const recordKey of this.grown) {
      const record = this.records.get(recordKey);
      if (record) taken.push([recordKey, record]);
    }
    this.grown.clear();
    return taken;
  }

  /** Whether a request was carried out already (a replay of kumiki.privacy.requests brings it again). */
  wasExecuted(requestId: string): boolean {
    return this.records.has(executedKey(requestId));
  }

  /** Keyed hashes held by each kind, for the metrics. */
  sizes(): { erasedIdentifiers: number; suppressedIdentifiers: number } {
    return { erasedIdentifiers: this.erasures.size, suppressedIdentifiers: this.suppressedIdentifiers.size };
  }

  private forgetHashes(recordKey: string, record: SubjectMemoryRecord, lifted: boolean): void {
    for (const hash of record.identifierHashes)
      if (this.suppressedIdentifiers.get(hash) === recordKey) this.suppressedIdentifiers.delete(hash);
    for (const hash of record.profileIdHashes)
      if (this.suppressedProfileHashes.get(hash) === recordKey) this.suppressedProfileHashes.delete(hash);
    if (lifted)
      for (const [profileId, key] of this.suppressedProfiles)
        if (key === recordKey) this.suppressedProfiles.delete(profileId);
  }
}

export function erasedKey(requestId: string): string {
  return `erased:${requestId}`;
}

export function executedKey(requestId: string): string {
  return `executed:${requestId}`;
}

export function suppressedKey(requestId: string): string {
  return `suppressed:${requestId}`;
}
