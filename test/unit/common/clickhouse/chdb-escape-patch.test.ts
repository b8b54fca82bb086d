import path from 'node:path';
import fc from 'fast-check';

// chDB's own module (outside its package exports): the patch (patches/chdb+3.4.0.patch) is what is under test.
const { tsvEscape, escapeStringLiteral } = require(
  path.join(path.dirname(require.resolve('chdb')), 'dist', 'serialize.js'),
) as {
  tsvEscape(value: string): string;
  escapeStringLiteral(value: string): string;
};

/** The escaping as ClickHouse reads it back: a backslash before each special character. */
function reference(value: string, special: readonly string[]): string {
  const named: Record<string, string> = { '\0': '0', '\b': 'b', '\f': 'f', '\n': 'n', '\r': 'r', '\t': 't' };
  return [...value].map((c) => (special.includes(c) ? `\\${named[c] ?? c}` : c)).join('');
}

const tsvSpecial = ['\\', '\0', '\b', '\f', '\n', '\r', '\t'];
const sqlSpecial = [...tsvSpecial, "'"];
/** Strings that mix the special characters with plain and multi-byte text. */
const text = fc.string({
  unit: fc.oneof(fc.constantFrom(...sqlSpecial, '"', 'a', 'ü', '日', '\u{1F600}'), fc.string({ maxLength: 1 })),
  maxLength: 40,
});

describe('query parameters with the fast path for text that needs no escape', () => {
  it('escapes every string exactly as the per-character table does', () => {
    fc.assert(
      fc.property(text, (value) => {
        expect(tsvEscape(value)).toBe(reference(value, tsvSpecial));
        expect(escapeStringLiteral(value)).toBe(`'${reference(value, sqlSpecial)}'`);
      }),
      { numRuns: 2_000 },
    );
  });

  it('hands back a JSON list of ids without a special character unchanged', () => {
    const ids = JSON.stringify(Array.from({ length: 1_000 }, (_, i) => `profile-${i}`));
    expect(tsvEscape(ids)).toBe(ids);
    expect(tsvEscape(`${ids}\t`)).toBe(`${ids}\\t`);
  });
});
