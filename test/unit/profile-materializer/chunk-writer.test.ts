import type { IncomingMessage } from '../../../services/common/kafka/messages';
import { ChunkWriter } from '../../../services/profile-materializer/chunk-writer';

function records(from: number, count: number): IncomingMessage[] {
  return Array.from({ length: count }, (_, i) => ({
    topic: 't',
    partition: 0,
    offset: String(from + i),
    key: null,
    value: Buffer.from('x'),
    headers: {},
    timestamp: '0',
  }));
}

/** Stores are held until released one by one (`stores[i].release()`), or failed (`fail`). */
function writer(batchSize = 2) {
  const log: string[] = [];
  const stores: { offsets: string; release: () => void; fail: (error: Error) => void }[] = [];
  const failures: unknown[] = [];
  const subject = new ChunkWriter<string, string>({
    batchSize,
    prepare: async (messages) => {
      const offsets = messages.map((m) => m.offset).join(',');
      log.push(`prepare ${offsets}`);
      return offsets;
    },
    store: (offsets) => {
      log.push(`store ${offsets}`);
      return new Promise<string>((resolve, reject) =>
        stores.push({ offsets, release: () => resolve(offsets), fail: reject }),
      );
    },
    retrying: (task) => task(),
    onStoreFailed: (error) => void failures.push(error),
  });
  return { log, stores, failures, subject };
}

const turns = async () => {
  for (let i = 0; i < 5; i++) await new Promise((resolve) => setImmediate(resolve));
};

describe('the chunk writer', () => {
  it('writes in chunks, decoding the next while the one before is stored, storing one at a time in order', async () => {
    const { log, stores, subject } = writer();
    const writing = subject.write(records(0, 5));
    await turns();
    // Chunk 2 is decoded while chunk 1 is stored; its store waits for chunk 1's.
    expect(log).toEqual(['prepare 0,1', 'store 0,1', 'prepare 2,3']);
    stores[0]!.release();
    await turns();
    expect(log.slice(3)).toEqual(['store 2,3', 'prepare 4']);
    stores[1]!.release();
    const written = await writing; // resolves once the last store has started, not finished
    expect(log.slice(5)).toEqual(['store 4']);
    stores[2]!.release();
    expect(await Promise.all(written!)).toEqual(['0,1', '2,3', '4']);
  });

  it('the next write waits for the store a previous write left under way', async () => {
    const { log, stores, subject } = writer();
    const first = await subject.write(records(0, 2));
    const second = subject.write(records(2, 1));
    await turns();
    expect(log).toEqual(['prepare 0,1', 'store 0,1', 'prepare 2']);
    stores[0]!.release();
    await second;
    expect(log.slice(3)).toEqual(['store 2']);
    stores[1]!.release();
    expect(await first![0]).toBe('0,1');
  });

  it('fails for good when a store fails: reported once, and nothing more is written', async () => {
    const { stores, failures, subject } = writer();
    const [stored] = (await subject.write(records(0, 2)))!;
    const refused = new Error('ClickHouse refused the rows');
    stores[0]!.fail(refused);
    await expect(stored).rejects.toThrow('refused');
    await expect(subject.write(records(2, 2))).rejects.toThrow('an earlier chunk could not be stored');
    expect(subject.failed).toBe(true);
    expect(failures).toEqual([refused]);
    expect(subject.fail()).toBe(false);
  });

  it('stops after the chunk under way when told to (a rebalance), answering null', async () => {
    const { log, stores, subject } = writer();
    let calls = 0;
    const writing = subject.write(records(0, 6), async () => ++calls < 2);
    await turns();
    stores[0]!.release();
    expect(await writing).toBeNull();
    expect(log.filter((line) => line.startsWith('store'))).toEqual(['store 0,1', 'store 2,3']);
  });
});
