import { ExportRecipients, RECIPIENT_CHUNK } from '../../../../services/activator/privacy/export-recipients';
import { PrivacyKey } from '../../../../services/common/privacy/privacy-key';

const key = PrivacyKey.fromHex('11'.repeat(32));

function recordingApi() {
  const calls: { path: string; body: { profileIdHashes?: string[]; destinationId?: string } }[] = [];
  return {
    calls,
    post: async <T>(path: string, body: unknown): Promise<T | undefined> => {
      calls.push({ path, body: body as (typeof calls)[number]['body'] });
      if (path.endsWith('/lookup'))
        return {
          recipients: [
            { destinationId: 'dst_a', profileIdHash: key.hashProfileId('p1') },
            { destinationId: 'dst_b', profileIdHash: key.hashProfileId('p1') },
            { destinationId: 'dst_a', profileIdHash: 'not-asked-for' },
          ],
        } as T;
      return undefined;
    },
  };
}

test('an export records its members as keyed hashes in chunks, the rest on flush', async () => {
  const api = recordingApi();
  const batch = new ExportRecipients(api, key).batch('dst_a', 1_000);
  const members = RECIPIENT_CHUNK + 3;
  for (let n = 0; n < members; n++) await batch.add(`p${n}`);
  expect(api.calls.map((c) => c.body.profileIdHashes?.length)).toEqual([RECIPIENT_CHUNK]);
  await batch.flush();
  await batch.flush();
  expect(api.calls.map((c) => c.body.profileIdHashes?.length)).toEqual([RECIPIENT_CHUNK, 3]);
  expect(api.calls[1]!.body).toEqual({
    destinationId: 'dst_a',
    exportedAt: 1_000,
    profileIdHashes: [`p${RECIPIENT_CHUNK}`, `p${RECIPIENT_CHUNK + 1}`, `p${RECIPIENT_CHUNK + 2}`].map((p) =>
      key.hashProfileId(p),
    ),
  });
  expect(JSON.stringify(api.calls)).not.toContain('"p0"');
});

test('a lookup maps the answer back to the profile ids asked for, and only those', async () => {
  const api = recordingApi();
  const found = await new ExportRecipients(api, key).destinationsOf(['p1', 'p2']);
  expect(api.calls[0]!.body.profileIdHashes).toEqual([key.hashProfileId('p1'), key.hashProfileId('p2')]);
  expect([...found]).toEqual([['p1', ['dst_a', 'dst_b']]]);
});
