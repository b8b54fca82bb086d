import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { deletionsText, writeDeletionsFile } from '../../../../services/activator/exports/deletions-file';

const ann = { profileId: 'p_ann', hashed: { email: ['e1', 'e2'], phone: ['t1'] } };
const bob = { profileId: 'p_bob', hashed: {} };

test('a CSV deletions file has the export columns, action remove and the profile id, a row per value', () => {
  expect(deletionsText('csv', ['email', 'phone'], [ann, bob])).toBe(
    'email,phone,action,profile_id\ne1,t1,remove,p_ann\ne2,,remove,p_ann\n,,remove,p_bob\n',
  );
});

test('an NDJSON deletions file has one object per profile with every type of the destination', () => {
  expect(
    deletionsText('ndjson', ['email', 'phone'], [ann, bob])
      .trimEnd()
      .split('\n')
      .map((l) => JSON.parse(l)),
  ).toEqual([
    { action: 'remove', profileId: 'p_ann', email: ['e1', 'e2'], phone: ['t1'] },
    { action: 'remove', profileId: 'p_bob', email: [], phone: [] },
  ]);
});

test('the file is named by destination and request, mode 0600, and a repeat replaces it', async () => {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'kumiki-deletions-'));
  try {
    const first = await writeDeletionsFile(dir, 'dst_1', 'pr_1', 'csv', 'a\n');
    const again = await writeDeletionsFile(dir, 'dst_1', 'pr_1', 'csv', 'b\n');
    expect(again).toBe(first);
    expect(path.basename(first)).toBe('dst_1-deletions-pr_1.csv');
    expect(fs.readFileSync(first, 'utf8')).toBe('b\n');
    expect((fs.statSync(first).mode & 0o777).toString(8)).toBe('600');
    expect(fs.readdirSync(dir)).toEqual(['dst_1-deletions-pr_1.csv']);
  } finally {
    fs.rmSync(dir, { recursive: true, force: true });
  }
});
