import pino from 'pino';
import type { BatchContext, IncomingMessage, KafkaClient, MessageBatch } from '../../../services/common/kafka/client';
import { createMaterializerConsumer } from '../../../services/profile-materializer/materializer.consumer';
import { waitFor } from '../../support/wait-for';

/**
 * Offsets follow durability across batches: profile updates of several consumed batches may be
 * published together, and no offset is committed before the publish that covers its records.
 */
type Log = string[];

/** `profileOfOffset`: each record touches the profile named by its offset (so partitions share profiles); otherwise a profile of its own. */
/** `gatedStore`: stores wait until `storeGate.open()`; `failingStore`: the store of these offsets (joined by commas) fails for good. */
function harness(
  options: {
    refreshIntervalMs?: number;
    refreshMaxProfiles?: number;
    batchSize?: number;
    gatedPublish?: boolean;
    failingPublishes?: number;
    profileOfOffset?: boolean;
    gatedStore?: boolean;
    failingStore?: string;
  } = {},
) {
  const log: Log = [];
  let openStoreGate: () => void = () => undefined;
  const storeGateOpened = options.gatedStore
    ? new Promise<void>((resolve) => (openStoreGate = resolve))
    : Promise.resolve();
  const storeGate = { open: () => openStoreGate() };
  let failures = options.failingPublishes ?? 0;
  let openGate: () => void = () => undefined;
  let records = 0;
  const gate = options.gatedPublish ? new Promise<void>((resolve) => (openGate = resolve)) : Promise.resolve();
  const publishGate = { open: () => openGate() };
  let handler: ((batch: MessageBatch, context: BatchContext) => Promise<void>) | undefined;
  const kafka = {
    consumer: () => ({
      connect: async () => undefined,
      disconnect: async () => void log.push('disconnect'),
      run: async (h: typeof handler) => void (handler = h),
      commitOffsets: async (offsets: readonly { topic: string; partition: number; offset: string }[]) =>
        void log.push(`commit-outside ${offsets.map((o) => `${o.topic}/${o.partition}@${o.offset}`).join(',')}`),
    }),
  } as unknown as KafkaClient;
  const consumer = createMaterializerConsumer<string[], { offsets: string[]; profiles: string[] }>({
    kafka,
    logger: pino({ level: 'silent' }),
    groupId: 'g',
    topics: ['t'],
    batchSize: options.batchSize ?? 2,
    lingerMs: 10,
    fetchMinBytes: 1,
    fetchMaxBytesPerPartition: 1024,
    prepare: async (messages) => messages.map((m) => m.offset),
    store: async (offsets) => {
      log.push(`store ${offsets.join(',')}`);
      await storeGateOpened;
      if (offsets.join(',') === options.failingStore) throw new Error('ClickHouse refused the rows');
      return {
        offsets,
        profiles: offsets.map((offset) => (options.profileOfOffset ? `p${offset}` : `p-${(records += 1)}`)),
      };
    },
    publish: async (written) => {
      await gate;
      if (failures-- > 0) {
        log.push('publish failed');
        throw new Error('Kafka refused the profile updates');
      }
      log.push(`publish ${written.flatMap((w) => w.offsets).join(',')}`);
    },
    touchedOf: (w) => w.profiles,
    refreshIntervalMs: options.refreshIntervalMs ?? 60_000,
    refreshMaxProfiles: options.refreshMaxProfiles ?? 1_000,
  });
  const deliver = async (
    partition: number,
    from: number,
    count: number,
    highWatermark: number,
    markers = 0,
  ): Promise<void> => {
    const messages: IncomingMessage[] = Array.from({ length: count }, (_, i) => ({
      topic: 't',
      partition,
      offset: String(from + i),
      key: null,
      value: Buffer.from('x'),
      headers: {},
      timestamp: '0',
    }));
    await handler!(
      {
        topic: 't',
        partition,
        messages,
        highWatermark: String(highWatermark),
        lastOffset: String(from + count - 1 + markers),
      },
      {
        resolveOffset: (offset) => void log.push(`resolve ${partition}@${offset}`),
        commit: async () => void log.push('commit'),
        heartbeat: async () => undefined,
        isRunning: () => true,
      },
    );
  };
  return { log, consumer, deliver, publishGate, storeGate };
}

describe('materializer consumer', () => {
  it('publishes and commits at once when a batch reaches the end of its partition', async () => {
    const { log, consumer, deliver } = harness();
    await consumer.start();
    await deliver(0, 0, 3, 3);
    await waitFor(
      () => expect(log).toEqual(['store 0,1', 'store 2', 'resolve 0@2', 'publish 0,1,2', 'commit-outside t/0@3']),
      { timeoutMs: 1_000, intervalMs: 5 },
    );
    await consumer.stop();
  });

  it('caught up on every partition of one fetch, publishes the fetch once, not once per partition', async () => {
    const { log, consumer, deliver } = harness();
    await consumer.start();
    // kafkajs hands over one fetch's partition batches back to back.
    await Promise.all([deliver(0, 0, 1, 1), deliver(1, 0, 1, 1), deliver(2, 7, 1, 8)]);
    await waitFor(
      () =>
        expect(log.filter((line) => line.startsWith('publish') || line.startsWith('commit'))).toEqual([
          'publish 0,0,7',
          'commit-outside t/0@1,t/1@1,t/2@8',
        ]),
      { timeoutMs: 1_000, intervalMs: 5 },
    );
    expect(consumer.processed()).toBe(3);
    await consumer.stop();
  });

  it('while behind, publishes several batches together and commits only after that publish', async () => {
    const { log, consumer, deliver } = harness({ refreshMaxProfiles: 5 });
    await consumer.start();
    await deliver(0, 0, 2, 100);
    await deliver(1, 0, 2, 100);
    // Written and resolved (the next fetch moves on) but neither published nor committed.
    expect(log).toEqual(['store 0,1', 'resolve 0@1', 'store 0,1', 'resolve 1@1']);
    await deliver(0, 2, 2, 100); // six profiles touched: due
    await waitFor(
      () =>
        expect(log.slice(4)).toEqual(['store 2,3', 'resolve 0@3', 'publish 0,1,0,1,2,3', 'commit-outside t/0@4,t/1@2']),
      { timeoutMs: 1_000, intervalMs: 5 },
    );
    expect(consumer.processed()).toBe(6);
    await consumer.stop();
  });

  it('while behind, counts a profile touched by several chunks once towards the refresh bound', async () => {
    const { log, consumer, deliver } = harness({ refreshMaxProfiles: 3, profileOfOffset: true });
    await consumer.start();
    await deliver(0, 0, 2, 100); // profiles p0, p1
    await deliver(1, 0, 2, 100); // p0, p1 again: still two profiles, not four
    expect(log).toEqual(['store 0,1', 'resolve 0@1', 'store 0,1', 'resolve 1@1']);
    await deliver(0, 2, 2, 100); // p2, p3: four profiles, due
    await waitFor(
      () =>
        expect(log.slice(4)).toEqual(['store 2,3', 'resolve 0@3', 'publish 0,1,0,1,2,3', 'commit-outside t/0@4,t/1@2']),
      { timeoutMs: 1_000, intervalMs: 5 },
    );
    await consumer.stop();
  });

  it('caught up with a trickle, writes the whole fetch in one insert before publishing it', async () => {
    const { log, consumer, deliver } = harness({ batchSize: 10 });
    await consumer.start();
    await deliver(0, 4, 1, 5);
    await deliver(1, 0, 2, 2);
    await deliver(2, 9, 1, 10);
    // Parked: resolved so the next fetch moves on, but neither written nor committed yet.
    expect(log).toEqual(['resolve 0@4', 'resolve 1@1', 'resolve 2@9']);
    await waitFor(
      () => expect(log.slice(3)).toEqual(['store 4,0,1,9', 'publish 4,0,1,9', 'commit-outside t/0@5,t/1@2,t/2@10']),
      { timeoutMs: 1_000, intervalMs: 5 },
    );
    await consumer.stop();
  });

  it('behind, writes the small batches of one fetch in one insert once the fetch is handed over, without publishing', async () => {
    const { log, consumer, deliver } = harness({ batchSize: 10 });
    await consumer.start();
    await deliver(0, 0, 2, 100);
    await deliver(1, 0, 3, 100);
    await deliver(2, 5, 1, 100);
    expect(log).toEqual(['resolve 0@1', 'resolve 1@2', 'resolve 2@5']);
    await waitFor(() => expect(log.slice(3)).toEqual(['store 0,1,0,1,2,5']), { timeoutMs: 1_000, intervalMs: 5 });
    // The next fetch: a batch that fills a chunk is written with nothing parked before it.
    await deliver(0, 2, 10, 100);
    expect(log.slice(4)).toEqual(['store 2,3,4,5,6,7,8,9,10,11', 'resolve 0@11']);
    expect(log.some((line) => line.startsWith('publish') || line.startsWith('commit'))).toBe(false);
    await consumer.stop();
  });

  it('hands a batch over while its last chunk is still being stored; the next store waits for it, and nothing is committed before both are durable', async () => {
    const { log, consumer, deliver, storeGate } = harness({ gatedStore: true });
    await consumer.start();
    await deliver(0, 0, 2, 100); // returns with its store still under way
    expect(log).toEqual(['store 0,1', 'resolve 0@1']);
    const next = deliver(0, 2, 2, 4); // decoded meanwhile; its store waits for the one before
    await new Promise((resolve) => setTimeout(resolve, 30));
    expect(log).toEqual(['store 0,1', 'resolve 0@1']);
    storeGate.open();
    await next;
    await waitFor(
      () => expect(log.slice(2)).toEqual(['store 2,3', 'resolve 0@3', 'publish 0,1,2,3', 'commit-outside t/0@4']),
      { timeoutMs: 1_000, intervalMs: 5 },
    );
    await consumer.stop();
  });

  it('stops when a chunk cannot be stored after its batch was handed over, and commits nothing from then on', async () => {
    const { log, consumer, deliver } = harness({ failingStore: '2,3' });
    await consumer.start();
    await deliver(0, 0, 2, 100);
    await deliver(0, 2, 2, 100); // handed over; its store fails afterwards
    await expect(deliver(0, 4, 2, 6)).rejects.toThrow('could not be stored');
    await new Promise((resolve) => setTimeout(resolve, 50));
    expect(consumer.isHealthy()).toBe(false);
    expect(log).toContain('disconnect');
    expect(log.filter((line) => line.startsWith('publish') || line.startsWith('commit'))).toEqual([]);
    await consumer.stop();
    expect(log.filter((line) => line.startsWith('publish') || line.startsWith('commit'))).toEqual([]);
  });

  it('on a transactional topic, commits past the commit marker that follows the last record', async () => {
    const { log, consumer, deliver } = harness();
    await consumer.start();
    await deliver(0, 0, 1, 2, 1); // record 0, marker 1
    await waitFor(() => expect(log).toContain('commit-outside t/0@2'), { timeoutMs: 1_000, intervalMs: 5 });
    await consumer.stop();
  });

  it('writes the next batches while a group is being published, then publishes them together, commits in order', async () => {
    const { log, consumer, deliver, publishGate } = harness({ refreshMaxProfiles: 2, gatedPublish: true });
    await consumer.start();
    await deliver(0, 0, 2, 100); // due: published in the background, held at the gate
    await deliver(0, 2, 2, 100); // written meanwhile; due too, but a publish is under way
    await deliver(1, 0, 1, 100);
    expect(log.filter((line) => line.startsWith('store'))).toEqual(['store 0,1', 'store 2,3', 'store 0']);
    expect(log.filter((line) => line.startsWith('publish') || line.startsWith('commit'))).toEqual([]);
    publishGate.open();
    await waitFor(
      () =>
        expect(log.filter((line) => line.startsWith('publish') || line.startsWith('commit'))).toEqual([
          'publish 0,1',
          'commit-outside t/0@2',
          'publish 2,3,0',
          'commit-outside t/0@4,t/1@1',
        ]),
      { timeoutMs: 1_000, intervalMs: 5 },
    );
    await consumer.stop();
  });

  it('holds the batch handler once twice the refresh bound waits behind a publish (backpressure)', async () => {
    const { log, consumer, deliver, publishGate } = harness({ refreshMaxProfiles: 2, gatedPublish: true });
    await consumer.start();
    await deliver(0, 0, 2, 100); // published, held at the gate
    await deliver(0, 2, 2, 100); // 2 profiles waiting: due, but not yet twice the bound
    let third = false;
    const held = deliver(0, 4, 2, 100).then(() => (third = true)); // 4 waiting: must wait
    await waitFor(() => expect(log).toContain('store 4,5'), { timeoutMs: 1_000, intervalMs: 5 });
    await new Promise((resolve) => setTimeout(resolve, 50));
    expect(third).toBe(false);
    publishGate.open();
    await held;
    await waitFor(() => expect(log).toContain('commit-outside t/0@6'), { timeoutMs: 1_000, intervalMs: 5 });
    await consumer.stop();
  });

  it('on stop, publishes and commits what is written before disconnecting', async () => {
    const { log, consumer, deliver } = harness();
    await consumer.start();
    await deliver(0, 0, 2, 100);
    expect(log.some((line) => line.startsWith('publish'))).toBe(false);
    await consumer.stop();
    expect(log.slice(-3)).toEqual(['publish 0,1', 'commit-outside t/0@2', 'disconnect']);
  });

  it('commits past a transaction marker that arrives in a batch of its own', async () => {
    const { log, consumer, deliver } = harness();
    await consumer.start();
    await deliver(0, 0, 2, 2);
    await waitFor(() => expect(log).toContain('commit-outside t/0@2'), { timeoutMs: 1_000, intervalMs: 5 });
    await deliver(0, 2, 0, 3, 1); // the marker at offset 2, alone
    await waitFor(() => expect(log).toContain('commit-outside t/0@3'), { timeoutMs: 1_000, intervalMs: 5 });
    await consumer.stop();
  });

  it('keeps a group whose publish failed, publishes it again with the next tick and only then commits', async () => {
    const { log, consumer, deliver } = harness({ refreshIntervalMs: 50, failingPublishes: 1 });
    await consumer.start();
    await deliver(0, 0, 2, 2);
    await waitFor(
      () =>
        expect(log.filter((line) => line.startsWith('publish') || line.startsWith('commit'))).toEqual([
          'publish failed',
          'publish 0,1',
          'commit-outside t/0@2',
        ]),
      { timeoutMs: 3_000, intervalMs: 10 },
    );
    await consumer.stop();
  });

  it('publishes what waits from a timer when no further batch comes, committing those offsets', async () => {
    const { log, consumer, deliver } = harness({ refreshIntervalMs: 50 });
    await consumer.start();
    await deliver(0, 0, 2, 100);
    await deliver(1, 5, 1, 100);
    expect(log.some((line) => line.startsWith('publish'))).toBe(false);
    await waitFor(() => expect(log).toContain('commit-outside t/0@2,t/1@6'), { timeoutMs: 3_000, intervalMs: 20 });
    expect(log.indexOf('publish 0,1,5')).toBeLessThan(log.indexOf('commit-outside t/0@2,t/1@6'));
    await consumer.stop();
  });
});
