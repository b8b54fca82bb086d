import type { IdentityGraphRecord } from '../../../../schemas';
import { foldIdentifierText } from '../../../../services/common/identifier-text';
import { extractIdentifiers } from '../../../../services/identity-stitcher/identity/extract-identifiers';
import { IdentityGraph } from '../../../../services/identity-stitcher/identity/identity-graph';
import { linkRules, resolveIdentityRules } from '../../../../services/identity-stitcher/identity/identity-rules';
import { IdentifierNormaliser } from '../../../../services/identity-stitcher/identity/normalise';
import { normaliseLookup } from '../../../../services/profile-materializer/read-api.routes';

const rules = resolveIdentityRules({ phoneDefaultRegion: 'JP', blockedValues: ['ｔｅｓｔ'] });
const normaliser = new IdentifierNormaliser(rules);

describe('identifiers typed at a Japanese till', () => {
  it.each([
    ['ｔａｒｏ＠ｅｘａｍｐｌｅ．ｃｏｍ', 'taro@example.com'],
    ['Taro@Example.com ', 'taro@example.com'],
    ['taro@example.com', 'taro@example.com'],
    ['\u200btaro@example.com\ufeff', 'taro@example.com'],
    ['taro\u200d@exam\u00adple.com', 'taro@example.com'],
    ['\u3000ＴＡＲＯ@example.com\u3000', 'taro@example.com'],
  ])('email %j is %s', (raw, email) => {
    expect(normaliser.email(raw)).toBe(email);
  });

  it('folds ids to their plain spelling, case kept, and blocks placeholders in any width', () => {
    expect(normaliser.id('ＬＰ－００１２')).toBe('LP-0012');
    expect(normaliser.id('\u2060A-17\u200b')).toBe('A-17');
    expect(normaliser.id('ｎｕｌｌ')).toBeUndefined();
    expect(normaliser.id('０００－００')).toBeUndefined();
    expect(normaliser.id('test')).toBeUndefined(); // configured blocked value, written full-width
    expect(normaliser.id('\u200b')).toBeUndefined();
  });

  it('reads full-width and hyphenated domestic phone numbers in the default region', () => {
    expect(normaliser.phone('０９０－１２３４－５６７８')).toBe('+819012345678');
    expect(normaliser.phone('090-1234-5678\u200b')).toBe('+819012345678');
  });

  it('finds a full-width email in a store receipt and an external id in any width', () => {
    const found = extractIdentifiers(
      {
        type: 'track',
        userId: null,
        anonymousId: 'pos-1',
        previousId: null,
        context: {
          traits: { email: 'ｈａｎａｋｏ＠ｅｘａｍｐｌｅ．ｊｐ', loyaltyId: 'Ｌ－００７' },
          externalIds: [{ type: 'email', id: 'Hanako@Example.jp' }],
        },
        traits: {},
      },
      rules,
      normaliser,
    );
    expect(found.identifiers).toEqual([
      { type: 'anonymous_id', value: 'pos-1' },
      { type: 'email', value: 'hanako@example.jp' },
      { type: 'customer_id', value: 'L-007' },
    ]);
  });

  it('spells read-API lookups the same way, and also as given (identifiers stored before folding)', () => {
    expect(normaliseLookup('email', 'ｔａｒｏ＠ｅｘａｍｐｌｅ．ｃｏｍ')).toEqual([
      'taro@example.com',
      'ｔａｒｏ＠ｅｘａｍｐｌｅ．ｃｏｍ',
    ]);
    expect(normaliseLookup('user_id', ' ＡＢＣ１ ')).toEqual(['ABC1', 'ＡＢＣ１']);
    expect(normaliseLookup('user_id', 'abc')).toEqual(['abc']);
    expect(foldIdentifierText(' plain ')).toBe('plain');
  });
});

describe('identifiers stored under their old spelling (before NFKC folding)', () => {
  const record = (type: string, value: string, profileId: string, at: number): IdentityGraphRecord => ({
    identifier: { type, value },
    profileId,
    profileCreatedAt: at,
    linkedBy: `m-${profileId}`,
    linkedAt: at,
    rule: linkRules.sameEvent,
  });
  const restored = (records: IdentityGraphRecord[]): IdentityGraph => {
    const graph = new IdentityGraph(rules);
    for (const r of records) graph.restoreRecord(r);
    graph.finishRestore();
    return graph;
  };

  it('are found under their new spelling: the person keeps the profile and nothing is linked twice', () => {
    const graph = restored([
      record('user_id', 'ＡＢＣ１２３', 'p_old', 1_000),
      record('email', 'ｔａｒｏ@example.com', 'p_old', 1_000),
      record('anonymous_id', 'a-1', 'p_old', 1_000),
    ]);
    expect(graph.respelledCount).toBe(2);
    const user = normaliser.id('ＡＢＣ１２３')!;
    const email = normaliser.email('ｔａｒｏ@example.com')!;
    expect([user, email]).toEqual(['ABC123', 'taro@example.com']);
    const resolution = graph.resolve({
      messageId: 'm-new',
      eventTime: 5_000,
      receivedAt: 5_000,
      rule: linkRules.sameEvent,
      identifiers: [
        { type: 'user_id', value: user },
        { type: 'email', value: email },
      ],
    });
    expect(resolution).toMatchObject({ profileId: 'p_old', createdProfile: false, changes: [], graphRecords: [] });
    expect(graph.identifierCount).toBe(3);
    expect(graph.profileIdOf('user_id', 'ABC123')).toBe('p_old');
    expect(graph.profileOf('email', 'taro@example.com')!.identifiers.map((i) => i.value)).toEqual([
      'a-1',
      'ｔａｒｏ@example.com',
      'ＡＢＣ１２３',
    ]);
  });

  it('lets a new identifier join through an old spelling, recorded under the new one', () => {
    const graph = restored([record('customer_id', 'Ｌ－００７', 'p_store', 1_000)]);
    const resolution = graph.resolve({
      messageId: 'm-web',
      eventTime: 2_000,
      receivedAt: 2_000,
      rule: linkRules.sameEvent,
      identifiers: [
        { type: 'customer_id', value: 'L-007' },
        { type: 'email', value: 'hanako@example.jp' },
      ],
    });
    expect(resolution?.profileId).toBe('p_store');
    expect(resolution?.graphRecords.map((r) => [r.identifier, r.profileId])).toEqual([
      [{ type: 'email', value: 'hanako@example.jp' }, 'p_store'],
    ]);
  });

  it('yield to the new spelling when it is stored too, and to the oldest profile among old spellings', () => {
    const graph = restored([
      record('user_id', 'ＡＢＣ', 'p_fullwidth', 1_000),
      record('user_id', 'ABC', 'p_ascii', 2_000),
      record('customer_id', 'Ｌ１', 'p_newer', 3_000),
      record('customer_id', 'L１', 'p_older', 2_500),
    ]);
    expect(graph.respelledCount).toBe(1);
    expect(graph.profileIdOf('user_id', 'ABC')).toBe('p_ascii');
    expect(graph.profileIdOf('customer_id', 'L1')).toBe('p_older');
    // The old spellings stay where they are, with their history.
    expect(graph.profileIdOf('user_id', 'ＡＢＣ')).toBe('p_fullwidth');
    expect(graph.profileIdOf('customer_id', 'Ｌ１')).toBe('p_newer');
  });

  it('are forgotten with their tombstone', () => {
    const graph = new IdentityGraph(rules);
    graph.restoreRecord(record('user_id', 'ＡＢＣ', 'p_1', 1_000));
    graph.restoreRecord(record('anonymous_id', 'a', 'p_1', 1_000));
    graph.restoreTombstone({ type: 'user_id', value: 'ＡＢＣ' });
    graph.finishRestore();
    expect(graph.respelledCount).toBe(0);
    expect(graph.profileIdOf('user_id', 'ABC')).toBeUndefined();
  });
});
