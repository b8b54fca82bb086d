/**
 * Text folded for search, exactly as ClickHouse folds trait values into `profiles.search_text`
 * (migration 0015): NFKC (half-width katakana to full-width, full-width letters and digits to
 * ASCII, `㈱` to `(株)`), hiragana to katakana (furigana are written both ways), lower case.
 * A search box folds its query with this, then looks for it in `search_text`.
 */
export function foldSearchText(text: string): string {
  return text
    .normalize('NFKC')
    .replace(HIRAGANA, (kana) => String.fromCharCode(kana.charCodeAt(0) + KATAKANA_OFFSET))
    .toLowerCase();
}

// ぁ (U+3041) … ゖ (U+3096) and their katakana ァ (U+30A1) … ヶ (U+30F6), as translateUTF8 in the migration.
const HIRAGANA = /[\u3041-\u3096]/g;
const KATAKANA_OFFSET = 0x60;
