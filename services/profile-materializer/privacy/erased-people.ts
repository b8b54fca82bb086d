import type { PrivacyKey } from '../../common/privacy/privacy-key';

/**
 * The people privacy requests erased, as the profile-materializer must know them so that nothing
 * writes them back:
 *
 * - erasing (raw profile ids, in memory, while an erase runs in this process): the paths that
 *   write without a new event — profile refreshes after RFM snapshots and segment changes — skip
 *   them, so an erase's hidden and deleted rows are not written again under its feet;
 * - erased (keyed hashes of profile ids and identifiers, from privacy_erased at start and from
 *   each erase): a replayed record of kumiki.events.stitched, kumiki.identity.changes or
 *   kumiki.segments.changes that names one is dropped. Only records made at or before the latest
 *   erasure can be an erased person's (the stitcher forgets them at the erasure and never gives
 *   their profile ids out again), so only those are hashed: live traffic costs one comparison.
 */
export class ErasedPeople {
  private readonly profiles = new Set<string>();
  /** Identifier hash → its latest erasure: an identifier erased and then seen again belongs to a new person after it. */
  private readonly identifiers = new Map<string, number>();
  private readonly erasing = new Set<string>();
  private latestErasureAt = Number.NEGATIVE_INFINITY;

  constructor(private readonly key: PrivacyKey) {}

  /** Erased hashes as privacy_erased holds them (at start). */
  load(
    rows: readonly { readonly hash: string; readonly kind: 'profile' | 'identifier'; readonly erasedAt: number }[],
  ): void {
    for (const row of rows)
      if (row.kind === 'profile') this.rememberProfile(row.hash, row.erasedAt);
      else this.rememberIdentifier(row.hash, row.erasedAt);
  }

  /**
   * An erase begins: its profiles are left alone by background writes, and its profiles' and
   * identifiers' records dropped from replays. Returns their keyed hashes (to be stored).
   */
  begin(
    profileIds: readonly string[],
    identifiers: readonly { readonly type: string; readonly value: string }[],
    erasedAt: number,
  ): { profiles: string[]; identifiers: string[] } {
    const hashes = {
      profiles: profileIds.map((id) => this.key.hashProfileId(id)),
      identifiers: identifiers.map((i) => this.key.hashIdentifier(i.type, i.value)),
    };
    for (const id of profileIds) this.erasing.add(id);
    for (const hash of hashes.profiles) this.rememberProfile(hash, erasedAt);
    for (const hash of hashes.identifiers) this.rememberIdentifier(hash, erasedAt);
    return hashes;
  }

  /** The erase is done: its rows are gone, and only the hashes stay. */
  end(profileIds: readonly string[]): void {
    for (const id of profileIds) this.erasing.delete(id);
  }

  /** Whether an erase of this profile is running in this process (raw id; no hashing). */
  isErasing(profileId: string): boolean {
    return this.erasing.has(profileId);
  }

  /** Whether a record made at `at` that names these profiles and identifiers belongs to an erased person. */
  isErasedRecord(
    at: number,
    profileIds: readonly string[],
    identifiers: readonly { readonly type: string; readonly value: string }[] = [],
  ): boolean {
    if (at > this.latestErasureAt) return false;
    for (const id of profileIds) if (this.isErased(id)) return true;
    for (const { type, value } of identifiers) {
      const erasedAt = this.identifiers.get(this.key.hashIdentifier(type, value));
      if (erasedAt !== undefined && at <= erasedAt) return true;
    }
    return false;
  }

  /** Whether the profile was erased, whenever its record was made (segment change recovery). */
  isErased(profileId: string): boolean {
    return (
      this.erasing.has(profileId) || (this.profiles.size > 0 && this.profiles.has(this.key.hashProfileId(profileId)))
    );
  }

  private rememberProfile(hash: string, erasedAt: number): void {
    this.profiles.add(hash);
    if (erasedAt > this.latestErasureAt) this.latestErasureAt = erasedAt;
  }

  private rememberIdentifier(hash: string, erasedAt: number): void {
    this.identifiers.set(hash, Math.max(erasedAt, this.identifiers.get(hash) ?? erasedAt));
    if (erasedAt > this.latestErasureAt) this.latestErasureAt = erasedAt;
  }
}
