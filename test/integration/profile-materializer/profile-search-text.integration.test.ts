import type { ClickHouse } from '../../../services/common/clickhouse/client-factory';
import { dateTime64Text } from '../../../services/common/clickhouse/datetime64';
import { foldSearchText } from '../../../services/common/search-text';
import { embeddedHome, freshDatabase } from './materializer-test-env';

/**
 * profiles.search_text (migration 0015): the trait values as written stay in traits, and a
 * folded copy finds every spelling of a Japanese name, folded by ClickHouse exactly as the
 * query side folds with foldSearchText.
 */
describe('the search copy of profile traits', () => {
  const home = embeddedHome('profile-search');
  let ch: ClickHouse;
  const at = dateTime64Text(Date.UTC(2024, 4, 1));
  const traits = {
    name: '山田 太郎',
    name_kana: 'ﾔﾏﾀﾞ ﾀﾛｳ',
    company: '㈱ＡＢＣ商事',
    address: '東京都渋谷区神南１－２－３',
    furigana_hiragana: 'やまだ\u3000たろう',
    email: 'Taro@Example.com',
    points: 1500,
  };
  const profile = (profileId: string, values: Record<string, unknown>) => ({
    profile_id: profileId,
    traits: JSON.stringify(values),
    first_seen: at,
    last_seen: at,
    consent: {},
    channels: ['store'],
    identifiers: [],
    deleted: 0,
    version: 1,
  });

  beforeAll(async () => {
    ch = await freshDatabase(home);
    await ch.insert('profiles_store', [profile('p-taro', traits), profile('p-other', { name: '佐藤 花子' })]);
  });
  afterAll(async () => {
    await ch?.close();
  });

  it('keeps traits as written and folds them into search_text as foldSearchText does', async () => {
    const [row] = await ch.query<{ traits: string; search_text: string }>(
      "SELECT traits, search_text FROM profiles WHERE profile_id = 'p-taro'",
    );
    expect(JSON.parse(row!.traits)).toEqual(traits);
    expect(row!.search_text.split('\n')).toEqual(Object.values(traits).map((value) => foldSearchText(String(value))));
    expect(row!.search_text.split('\n').slice(0, 5)).toEqual([
      '山田 太郎',
      'ヤマダ タロウ',
      '(株)abc商事',
      '東京都渋谷区神南1-2-3',
      'ヤマダ タロウ',
    ]);
  });

  it.each(['ﾀﾛｳ', 'タロウ', 'たろう', 'ＡＢＣ', '(株)abc', '神南1-2', 'taro@example'])(
    'finds the profile by %s',
    async (query) => {
      const rows = await ch.query<{ profile_id: string }>(
        'SELECT profile_id FROM profiles WHERE position(search_text, {q:String}) > 0 ORDER BY profile_id',
        { q: foldSearchText(query) },
      );
      expect(rows.map((r) => r.profile_id)).toEqual(['p-taro']);
    },
  );
});
