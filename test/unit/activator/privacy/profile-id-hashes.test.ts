import { PrivacyKey } from '../../../../services/common/privacy/privacy-key';
import { RememberedProfileIdHashes } from '../../../../services/activator/privacy/profile-id-hashes';

describe('remembered profile id hashes', () => {
  const key = PrivacyKey.fromHex('ab'.repeat(32));

  it("answers the privacy key's hash, computing it once per profile while it is remembered", () => {
    const asked: string[] = [];
    const counting = {
      hashProfileId: (id: string) => {
        asked.push(id);
        return key.hashProfileId(id);
      },
    };
    const hashes = new RememberedProfileIdHashes(counting, 2);

    expect(hashes.hashProfileId('p_1')).toBe(key.hashProfileId('p_1'));
    expect(hashes.hashProfileId('p_2')).toBe(key.hashProfileId('p_2'));
    expect(hashes.hashProfileId('p_1')).toBe(key.hashProfileId('p_1'));
    expect(asked).toEqual(['p_1', 'p_2']);

    // Beyond its capacity the oldest goes: p_1 is hashed again, p_3 stays remembered.
    expect(hashes.hashProfileId('p_3')).toBe(key.hashProfileId('p_3'));
    expect(hashes.hashProfileId('p_1')).toBe(key.hashProfileId('p_1'));
    expect(hashes.hashProfileId('p_3')).toBe(key.hashProfileId('p_3'));
    expect(asked).toEqual(['p_1', 'p_2', 'p_3', 'p_1']);
  });
});
