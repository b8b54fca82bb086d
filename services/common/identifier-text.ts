/**
 * The Unicode part of identifier normalisation, shared by the identity stitcher (which decides
 * identifiers) and the read API (which looks them up), so both spell a value the same way.
 *
 * NFKC folds compatibility characters to their plain form: full-width letters, digits and
 * punctuation typed at a Japanese till (`ｔａｒｏ＠ｅｘａｍｐｌｅ．ｃｏｍ`) become ASCII, the ideographic
 * space becomes a space, `㈱` becomes `(株)`. Format characters (Unicode category Cf: zero-width
 * spaces and joiners, BOMs inside values, bidirectional marks, soft hyphens) are invisible and
 * never part of what a person meant to type, so they are removed. Then the value is trimmed.
 */
export function foldIdentifierText(raw: string): string {
  if (!mayFold(raw)) return raw.trim();
  return raw.normalize('NFKC').replace(FORMAT_CHARACTERS, '').trim();
}

/**
 * False for printable ASCII, which folding leaves as it is (bar trimming). Nearly every
 * identifier is such text; this is also how the identity graph knows which stored spellings
 * the folding can have changed.
 */
export function mayFold(text: string): boolean {
  return !PRINTABLE_ASCII.test(text);
}

const PRINTABLE_ASCII = /^[\x20-\x7e]*$/;
const FORMAT_CHARACTERS = /\p{Cf}/gu;
