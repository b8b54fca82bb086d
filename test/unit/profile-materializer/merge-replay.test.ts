import pino from 'pino';
import { encodeEventRows, type ProfileRepository } from '../../../services/profile-materializer/profile.repository';
import type { AliasChange, Merge } from '../../../services/profile-materializer/alias-map';
import {
  storeChunk,
  type MaterializeDeps,
  type PreparedChunk,
} from '../../../services/profile-materializer/materialize-batch';

/** storeChunk with a repository holding the flat alias map (absorbed → survivor) as ClickHouse would. */
function harness() {
  const aliases = new Map<string, string>();
  const repository = {
    writeEvents: async () => undefined,
    writeIdentities: async () => 0,
    writeLinks: async () => undefined,
    // As alias.repository.ts: rows whose absorbed or surviving id is one of `ids`.
    loadAliases: async (ids: readonly string[]) =>
      new Map([...aliases].filter(([absorbed, survivor]) => ids.includes(absorbed) || ids.includes(survivor))),
    writeAliases: async (changes: readonly AliasChange[]) => {
      for (const change of changes) aliases.set(change.absorbed, change.survivor);
    },
  } as unknown as ProfileRepository;
  const deps = {
    repository,
    results: { rejected: async () => undefined, dropped: () => undefined },
    logger: pino({ level: 'silent' }),
  } as unknown as MaterializeDeps;
  const merge = async (survivor: string, absorbed: string[]) => {
    const written = await storeChunk(chunkOf({ survivor, absorbed, mergedAt: 1, messageId: `m-${survivor}` }), deps);
    return Object.fromEntries([...written.absorbed].sort());
  };
  return { merge };
}

function chunkOf(merge: Merge): PreparedChunk {
  return {
    size: 1,
    events: encodeEventRows([]),
    messageIds: [],
    hasOrders: false,
    identityRows: [],
    linkRows: [],
    merges: [merge],
    touched: new Set([merge.survivor]),
    rejections: [],
    drops: new Map(),
    changes: 1,
    partitions: new Set(),
  };
}

describe('the mergedInto records of a merge', () => {
  it('name the last survivor for every member of the group, also when the batch is written again after a crash', async () => {
    const h = harness();
    expect(await h.merge('B', ['A'])).toEqual({ A: 'B' });
    expect(await h.merge('C', ['B'])).toEqual({ A: 'C', B: 'C' });
    // Found by the chaos soak: the materializer was killed after writing the aliases of B → C and
    // before publishing; the batch read again found A → C already written, and A's last
    // ProfileUpdate kept saying B.
    expect(await h.merge('C', ['B'])).toEqual({ A: 'C', B: 'C' });
  });
});
