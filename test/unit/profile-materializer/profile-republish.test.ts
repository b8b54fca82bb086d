import pino from 'pino';
import type { ProfileUpdate } from '../../../schemas';
import {
  createExclusive,
  createProfileRepublisher,
  ProfileRepublishError,
  refreshProfiles,
  type MaterializeDeps,
} from '../../../services/profile-materializer/materialize-batch';
import type { ProfileRepository, ProfileSnapshot } from '../../../services/profile-materializer/profile.repository';
import type { RfmRow } from '../../../services/profile-materializer/rfm/rfm';

/**
 * Republishing profiles that changed without an event of their own: chunked, merged-away ids
 * skipped, a failed chunk kept for the next call, and every publish (the consumer's refresh
 * included) one at a time, so the last record of a profile is built from the newest state.
 */
interface Fake {
  readonly deps: MaterializeDeps;
  /** Profile ids of each send, in order. */
  readonly sends: string[][];
  readonly sent: ProfileUpdate[];
  /** Segments segmentsOf answers with. */
  readonly segments: Map<string, string[]>;
  failNextSend: boolean;
  /** The next writeSnapshots fails once its gate opens (`releaseWrite`). */
  failNextWrite: boolean;
  /** Opens the gate of the profiles_store write under way; undefined when none waits. */
  releaseWrite?: () => void;
  /** Profile ids of each profiles_store write, once it ended. */
  readonly writes: string[][];
}

function fake(
  options: { aliases?: Record<string, string>; exclusive?: MaterializeDeps['exclusive']; sendDelaysMs?: number[] } = {},
): Fake {
  const aliases = new Map(Object.entries(options.aliases ?? {}));
  const snapshot = (profileId: string): ProfileSnapshot => ({
    profileId,
    traits: '{}',
    firstSeen: 1,
    lastSeen: 2,
    consent: {},
    channels: [],
    identifiers: [{ type: 'user_id', value: profileId }],
  });
  const repository = {
    loadAliasGroups: async (ids: readonly string[]) => {
      const around = new Set([...ids, ...ids.flatMap((id) => (aliases.has(id) ? [aliases.get(id)!] : []))]);
      return new Map([...aliases].filter(([absorbed, survivor]) => around.has(absorbed) || around.has(survivor)));
    },
    readSnapshots: async (ids: readonly string[]) => ids.map(snapshot),
    writeSnapshots: async (snapshots: readonly ProfileSnapshot[]) => {
      if (!f.failNextWrite) return void f.writes.push(snapshots.map((x) => x.profileId));
      f.failNextWrite = false;
      await new Promise<void>((resolve) => (f.releaseWrite = resolve));
      throw new Error('ClickHouse refused the snapshots');
    },
    segmentsOf: async (ids: readonly string[]) =>
      new Map(ids.flatMap((id) => (f.segments.has(id) ? [[id, [...f.segments.get(id)!]] as [string, string[]]] : []))),
  } as unknown as ProfileRepository;
  const f: Fake = {
    sends: [],
    sent: [],
    segments: new Map(),
    failNextSend: false,
    failNextWrite: false,
    writes: [],
    deps: {
      repository,
      decode: async () => ({ value: undefined as never }),
      encode: (_topic, value) => Buffer.from(JSON.stringify(value)),
      readers: {} as MaterializeDeps['readers'],
      readRfm: async () => new Map<string, RfmRow>(),
      readPredictions: async (ids) => new Map(ids.filter((id) => id === 'c').map((id) => [id, cPredictions])),
      producer: {
        send: async (_topic, messages) => {
          if (f.failNextSend) {
            f.failNextSend = false;
            throw new Error('broker down');
          }
          const delayMs = options.sendDelaysMs?.shift();
          if (delayMs) await new Promise((resolve) => setTimeout(resolve, delayMs));
          const updates = messages.map((m) => JSON.parse(String(m.value)) as ProfileUpdate);
          f.sends.push(updates.map((u) => u.profileId));
          f.sent.push(...updates);
        },
      },
      results: { rejected: async () => undefined, dropped: () => undefined },
      topics: { stitched: 's', changes: 'c', updates: 'u' },
      logger: pino({ level: 'silent' }),
      now: () => 1_000,
      ...(options.exclusive ? { exclusive: options.exclusive } : {}),
    },
  };
  return f;
}

/** What the predictions view says of profile c (the others have none). */
const cPredictions = {
  pAlive: 0.7,
  expectedPurchases30d: 0.2,
  expectedPurchases90d: 0.5,
  expectedOrderValue: 42,
  clv365d: 80.5,
  nextPurchaseAt: 5_000,
  purchasePropensity30d: 0.1,
  modelVersion: 900,
  computedAt: 900,
};

describe('createProfileRepublisher', () => {
  it('publishes fresh ProfileUpdates in chunks, with current segments, and the survivor in place of a merged-away id', async () => {
    const f = fake({ aliases: { b: 'a' } });
    f.segments.set('c', ['seg_1', 'seg_2']);
    const republish = createProfileRepublisher({ chunkSize: 2 });
    expect(await republish(['e', 'c', 'b', 'a', 'd', 'c'], f.deps, 'segments')).toBe(4);
    // Sorted and deduplicated, then chunked: [a, b] (b merged into a), [c, d], [e].
    expect(f.sends).toEqual([['a'], ['c', 'd'], ['e']]);
    expect(f.sent.find((u) => u.profileId === 'c')).toEqual({
      profileId: 'c',
      mergedInto: null,
      traits: '{}',
      identifiers: [{ type: 'user_id', value: 'c' }],
      rfm: null,
      consent: {},
      segments: ['seg_1', 'seg_2'],
      firstSeen: 1,
      lastSeen: 2,
      updatedAt: 1_000,
      predictions: cPredictions,
    });
    expect(f.sent.find((u) => u.profileId === 'd')?.predictions).toBeNull();
  });

  it('keeps the profiles of a failed chunk and the chunks after it, and publishes them first with the next call', async () => {
    const f = fake();
    const republish = createProfileRepublisher({ chunkSize: 2 });
    await republish(['a', 'b'], f.deps, 'rfm');
    f.failNextSend = true;
    const failure = await republish(['c', 'd', 'e', 'f', 'g'], f.deps, 'rfm').catch((error: unknown) => error);
    expect(failure).toBeInstanceOf(ProfileRepublishError);
    expect(failure).toMatchObject({
      isRetriable: true,
      context: { reason: 'rfm', published: 0, pending: 5 },
      message: 'republishing profiles failed (rfm): broker down',
    });
    // The next occasion, whatever its reason: the kept ones go with it.
    expect(await republish(['a'], f.deps, 'segments')).toBe(6);
    expect(f.sends).toEqual([
      ['a', 'b'],
      ['a', 'c'],
      ['d', 'e'],
      ['f', 'g'],
    ]);
    expect(await republish([], f.deps, 'segments')).toBe(0);
  });

  it.each([
    ['one publish at a time: the last record of a profile has its current segments', true, [[], ['seg_new']]],
    [
      'the race it closes: without it the last record would hold the segments read before the change',
      false,
      [['seg_new'], []],
    ],
  ])('%s', async (_name, locked, expected) => {
    // The refresh reads ann's segments, then an evaluation applies a change and hands ann over
    // while the refresh's send is still under way (slow ack); the republish's ack is fast.
    const f = fake({ ...(locked ? { exclusive: createExclusive() } : {}), sendDelaysMs: [50, 0] });
    const refresh = refreshProfiles(
      [{ events: 1, changes: 0, deadLettered: 0, touched: new Set(['ann']), absorbed: new Map(), changesRfm: false }],
      f.deps,
    );
    await new Promise((resolve) => setImmediate(resolve));
    f.segments.set('ann', ['seg_new']);
    await Promise.all([refresh, createProfileRepublisher()(['ann'], f.deps, 'segments')]);
    expect(f.sent.map((u) => u.segments)).toEqual(expected);
  });
});

describe('refreshProfiles', () => {
  const touched = (...ids: string[]) => [
    {
      events: ids.length,
      changes: 0,
      deadLettered: 0,
      touched: new Set(ids),
      absorbed: new Map<string, string>(),
      changesRfm: false,
    },
  ];

  it('sends the updates while profiles_store takes the snapshots, and resolves once both are done', async () => {
    const f = fake();
    expect(await refreshProfiles(touched('b', 'a'), f.deps)).toBe(2);
    expect(f.writes).toEqual([['a', 'b']]);
    expect(f.sends).toEqual([['a', 'b']]);
  });

  it('fails when profiles_store refused the snapshots, though the updates went out, and only once that write has ended', async () => {
    const f = fake({ exclusive: createExclusive() });
    f.failNextWrite = true;
    let settled = false;
    const refresh = refreshProfiles(touched('a'), f.deps).finally(() => (settled = true));
    await new Promise((resolve) => setTimeout(resolve, 20));
    expect(f.sends).toEqual([['a']]); // sent beside the write
    expect(settled).toBe(false); // the publish holds until the write ended
    f.releaseWrite!();
    await expect(refresh).rejects.toThrow('ClickHouse refused the snapshots');
  });
});

describe('createExclusive', () => {
  it('runs tasks one at a time in hand-over order, also after a task failed', async () => {
    const exclusive = createExclusive();
    const log: string[] = [];
    const task =
      (name: string, ms: number, fail = false) =>
      async () => {
        log.push(`start ${name}`);
        await new Promise((resolve) => setTimeout(resolve, ms));
        log.push(`end ${name}`);
        if (fail) throw new Error(name);
        return name;
      };
    const results = await Promise.allSettled([
      exclusive(task('a', 20, true)),
      exclusive(task('b', 1)),
      exclusive(task('c', 5)),
    ]);
    expect(results.map((r) => r.status)).toEqual(['rejected', 'fulfilled', 'fulfilled']);
    expect(log).toEqual(['start a', 'end a', 'start b', 'end b', 'start c', 'end c']);
  });
});
