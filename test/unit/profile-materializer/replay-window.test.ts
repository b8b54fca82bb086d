import pino from 'pino';
import type { EncodedRows } from '../../../services/common/clickhouse/encoded-rows';
import { Registry } from '../../../services/common/metrics';
import {
  storeChunk,
  type MaterializeDeps,
  type PreparedChunk,
} from '../../../services/profile-materializer/materialize-batch';
import { createMaterializerMetrics } from '../../../services/profile-materializer/materializer.metrics';
import { encodeEventRows, type ProfileRepository } from '../../../services/profile-materializer/profile.repository';
import { partitionKey, ReplayWindow } from '../../../services/profile-materializer/replay-window';
import type { EventRow } from '../../../services/profile-materializer/store-rows';

/** storeChunk with a repository that answers from a set of already stored message ids. */
function harness(stored: Set<string>) {
  const lookedUp: string[][] = [];
  const metrics = createMaterializerMetrics(new Registry());
  const repository = {
    countExistingEvents: async (ids: readonly string[]) => {
      lookedUp.push([...ids]);
      return ids.filter((id) => stored.has(id)).length;
    },
    writeEvents: async (rows: EncodedRows) => {
      const at = rows.columns.indexOf('message_id');
      for (const line of rows.body.split('\n').filter(Boolean)) stored.add((JSON.parse(line) as string[])[at]!);
    },
    writeIdentities: async () => 0,
    writeLinks: async () => undefined,
  } as unknown as ProfileRepository;
  const deps = {
    repository,
    results: { rejected: async () => undefined, dropped: () => undefined },
    metrics,
    replays: new ReplayWindow(),
    logger: pino({ level: 'silent' }),
  } as unknown as MaterializeDeps;
  const store = (partition: number, ids: string[]) => storeChunk(chunk(partition, ids), deps);
  const hits = async () => (await metrics.dedupHits.get()).values[0]?.value ?? 0;
  return { store, lookedUp, hits };
}

function chunk(partition: number, ids: string[]): PreparedChunk {
  return {
    size: ids.length,
    events: encodeEventRows(
      ids.map((id) => ({ message_id: id, profile_id: 'p', order_id: '', revenue: null }) as EventRow),
    ),
    messageIds: ids,
    hasOrders: false,
    identityRows: [],
    linkRows: [],
    merges: [],
    touched: new Set(['p']),
    rejections: [],
    drops: new Map(),
    changes: 0,
    partitions: new Set([partitionKey('stitched', partition)]),
  };
}

describe('dedup hits within the replay window', () => {
  it('counts replayed events until a chunk of the partition has none, then stops looking them up', async () => {
    const h = harness(new Set(['a', 'b', 'c']));
    await h.store(0, ['a', 'b']); // replayed
    await h.store(0, ['c', 'd']); // the replay ends inside this chunk
    await h.store(0, ['e', 'f']); // past the replay: looked up once, none stored
    await h.store(0, ['a', 'g']); // a resend later on: stored once, no longer looked up
    expect(h.lookedUp).toEqual([
      ['a', 'b'],
      ['c', 'd'],
      ['e', 'f'],
    ]);
    expect(await h.hits()).toBe(3);
  });

  it('keeps each partition open until its own first chunk without stored events', async () => {
    const h = harness(new Set(['a', 'x']));
    await h.store(0, ['b']);
    await h.store(1, ['x']);
    await h.store(0, ['a']);
    await h.store(1, ['y']);
    await h.store(1, ['z']);
    expect(h.lookedUp).toEqual([['b'], ['x'], ['y']]);
    expect(await h.hits()).toBe(1);
  });
});
