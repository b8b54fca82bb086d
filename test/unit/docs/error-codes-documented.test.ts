import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { errorCodes } from '../../../services/common/error-codes';

const errorsPage = readFileSync(join(__dirname, '../../../docs/errors.md'), 'utf8');

/** The rows of the table in docs/errors.md: code → status column. */
function documentedStatuses(): Map<string, string> {
  const rows = new Map<string, string>();
  for (const match of errorsPage.matchAll(/^\| `(KUMIKI_[A-Z_]+)` \| ([^|]+) \|/gm)) {
    rows.set(match[1]!, match[2]!.trim());
  }
  return rows;
}

describe('docs/errors.md', () => {
  const documented = documentedStatuses();

  it.each(Object.keys(errorCodes))('documents %s', (code) => {
    expect(documented.has(code)).toBe(true);
  });

  it.each(Object.entries(errorCodes))('gives %s the status the code answers with', (code, { status }) => {
    const column = documented.get(code) ?? '';
    const deadLetterOnly = column === 'DLQ only';
    expect(deadLetterOnly || column.startsWith(String(status))).toBe(true);
  });

  it('documents no code that does not exist', () => {
    const unknown = [...documented.keys()].filter((code) => !(code in errorCodes));
    expect(unknown).toEqual([]);
  });
});
