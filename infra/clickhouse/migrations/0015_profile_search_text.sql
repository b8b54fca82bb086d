-- A normalised copy of a profile's trait values for search: the console's search box, and SQL
-- users' LIKE. Traits keep what was written (names, addresses and furigana in NFC, half-width
-- katakana as typed); this copy folds every spelling of the same text to one, so one query finds
-- them all: NFKC (half-width katakana ﾀﾛｳ → タロウ, full-width letters and digits → ASCII,
-- ㈱ → (株), the ideographic space → a space), hiragana → katakana (furigana are written both
-- ways), lower case. The top-level trait values, one per line.
--
-- MATERIALIZED: ClickHouse computes it from traits on every insert, and on read for rows written
-- before this migration, so it never disagrees with traits and the materializer writes nothing new.
-- Search it folded the same way: WHERE search_text LIKE concat('%', <the same expression on the
-- query>, '%') (docs/import.md, "Japanese text").

ALTER TABLE ${database}.profiles_store
    ADD COLUMN IF NOT EXISTS search_text String MATERIALIZED
        lowerUTF8(translateUTF8(normalizeUTF8NFKC(arrayStringConcat(arrayMap(kv -> kv.2, JSONExtractKeysAndValues(traits, 'String')), '\n')), 'ぁあぃいぅうぇえぉおかがきぎくぐけげこごさざしじすずせぜそぞただちぢっつづてでとどなにぬねのはばぱひびぴふぶぷへべぺほぼぽまみむめもゃやゅゆょよらりるれろゎわゐゑをんゔゕゖ', 'ァアィイゥウェエォオカガキギクグケゲコゴサザシジスズセゼソゾタダチヂッツヅテデトドナニヌネノハバパヒビピフブプヘベペホボポマミムメモャヤュユョヨラリルレロヮワヰヱヲンヴヵヶ'))
    COMMENT 'trait values folded for search: NFKC (half-width katakana to full-width), hiragana to katakana, lower case; one value per line';

CREATE OR REPLACE VIEW ${database}.profiles AS
SELECT profile_id, traits, search_text, first_seen, last_seen, consent, channels, identifiers, updated_at
FROM ${database}.profiles_store FINAL
WHERE deleted = 0
  AND profile_id NOT IN (SELECT absorbed_profile_id FROM ${database}.profile_aliases)
COMMENT 'One row per current profile (latest snapshot via FINAL; merged-away and erased profiles hidden); search_text is traits folded for search';
