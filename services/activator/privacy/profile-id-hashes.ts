import type { PrivacyKey } from '../../common/privacy/privacy-key';

/** What the activator's privacy tables ask of the privacy key. */
export type ProfileIdHasher = Pick<PrivacyKey, 'hashProfileId'>;

/**
 * The privacy key's profile id hashes, remembered for the last `capacity` profiles asked about.
 * Every delivery looks its person up by keyed hash (in the recipient ledger, and among the
 * withheld people once anyone is), and a busy destination sends the same people again and
 * again: an HMAC each time was one of the three per message. The hash is a function of the id
 * alone, so a remembered one is never stale; the oldest go first beyond `capacity`.
 */
export class RememberedProfileIdHashes implements ProfileIdHasher {
  private readonly hashes = new Map<string, string>();

  constructor(
    private readonly key: ProfileIdHasher,
    private readonly capacity = 50_000,
  ) {}

  hashProfileId(profileId: string): string {
    let hash = this.hashes.get(profileId);
    if (hash === undefined) {
      hash = this.key.hashProfileId(profileId);
      if (this.hashes.size >= this.capacity) this.hashes.delete(this.hashes.keys().next().value!);
      this.hashes.set(profileId, hash);
    }
    return hash;
  }
}
