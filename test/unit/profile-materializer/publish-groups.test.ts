import pino from 'pino';
import type { BatchContext } from '../../../services/common/kafka/client';
import type { MessageBatch } from '../../../services/common/kafka/messages';
import { ChunkWriter } from '../../../services/profile-materializer/chunk-writer';
import { PublishGroups } from '../../../services/profile-materializer/publish-groups';
import { FakeClock } from '../../support/fake-clock';

/**
 * When the materializer publishes and commits, driven by a fake clock: each record touches the
 * profile named after its offset, stores and publishes are recorded in `log`, and a publish can
 * be held (`hold`) or made to fail once (`failNextPublish`).
 */
function groups(options: { refreshIntervalMs?: number; refreshMaxProfiles?: number; batchSize?: number } = {}) {
  const log: string[] = [];
  const clock = new FakeClock();
  let held: Promise<void> = Promise.resolve();
  let failNext = false;
  const writer = new ChunkWriter<string[], string[]>({
    batchSize: options.batchSize ?? 10,
    prepare: async (messages) => messages.map((m) => m.offset),
    store: async (offsets) => {
      log.push(`store ${offsets.join(',')}`);
      return offsets;
    },
    retrying: (task) => task(),
    onStoreFailed: () => log.push('store failed'),
  });
  const subject = new PublishGroups<string[]>({
    writer,
    publish: async (written) => {
      await held;
      if (failNext) {
        failNext = false;
        log.push('publish failed');
        throw new Error('Kafka refused the profile updates');
      }
      log.push(`publish ${written.flat().join(',')}`);
    },
    touchedOf: (offsets) => offsets.map((offset) => `p${offset}`),
    commitOffsets: async (offsets) =>
      void log.push(`commit ${offsets.map((o) => `${o.topic}/${o.partition}@${o.offset}`).join(',')}`),
    retrying: (task) => task(),
    batchSize: options.batchSize ?? 10,
    refreshIntervalMs: options.refreshIntervalMs ?? 1_000,
    refreshMaxProfiles: options.refreshMaxProfiles ?? 100,
    clock,
    logger: pino({ level: 'silent' }),
  });
  const context: BatchContext = {
    resolveOffset: (offset) => void log.push(`resolve ${offset}`),
    commit: async () => undefined,
    heartbeat: async () => undefined,
    isRunning: () => true,
  };
  const deliver = (partition: number, from: number, count: number, highWatermark: number) =>
    subject.onBatch(batch(partition, from, count, highWatermark), context);
  const hold = () => {
    let release: () => void = () => undefined;
    held = new Promise((resolve) => (release = resolve));
    return () => release();
  };
  return { log, clock, subject, deliver, hold, context, failNextPublish: () => (failNext = true) };
}

function batch(partition: number, from: number, count: number, highWatermark: number): MessageBatch {
  return {
    topic: 't',
    partition,
    highWatermark: String(highWatermark),
    lastOffset: String(from + count - 1),
    messages: Array.from({ length: count }, (_, i) => ({
      topic: 't',
      partition,
      offset: String(from + i),
      key: null,
      value: Buffer.from('x'),
      headers: {},
      timestamp: '0',
    })),
  };
}

const published = (log: string[]) => log.filter((line) => /^(publish|commit)/.test(line));

describe('publish groups', () => {
  it('behind: parks small batches, writes them together on the next turn, publishes once the interval has passed', async () => {
    const { log, clock, subject, deliver } = groups();
    await deliver(0, 0, 2, 100);
    await deliver(1, 0, 3, 100);
    expect(log).toEqual(['resolve 1', 'resolve 2']); // parked: resolved, neither written nor committed
    await clock.turn();
    expect(log.slice(2)).toEqual(['store 0,1,0,1,2']);
    await clock.advance(999);
    subject.tick();
    await clock.turn();
    expect(published(log)).toEqual([]);
    await clock.advance(1);
    subject.tick();
    await clock.advance(0);
    expect(published(log)).toEqual(['publish 0,1,0,1,2', 'commit t/0@2,t/1@3']);
    expect(subject.processed).toBe(5);
    expect(subject.state).toBe('idle');
  });

  it('caught up: publishes once no batch has come for 25 ms; a new batch of the fetch puts it off', async () => {
    const { log, clock, deliver } = groups();
    await deliver(0, 4, 1, 5);
    await clock.advance(24);
    await deliver(1, 0, 2, 2); // the same fetch: the settle timer starts again
    await clock.advance(24);
    expect(published(log)).toEqual([]);
    await clock.advance(1);
    expect(log).toEqual(['resolve 4', 'resolve 1', 'store 4,0,1', 'publish 4,0,1', 'commit t/0@5,t/1@2']);
  });

  it('publishes at once when the group touched refreshMaxProfiles profiles', async () => {
    const { log, deliver, clock } = groups({ batchSize: 2, refreshMaxProfiles: 4 });
    await deliver(0, 0, 2, 100);
    await clock.advance(0);
    expect(published(log)).toEqual([]);
    await deliver(0, 2, 2, 100); // four profiles: due
    await clock.advance(0);
    expect(published(log)).toEqual(['publish 0,1,2,3', 'commit t/0@4']);
  });

  it('while a group is being published, the next one gathers and goes the moment the first ends', async () => {
    const { log, deliver, clock, subject, hold } = groups({ batchSize: 2, refreshMaxProfiles: 2 });
    const release = hold();
    await deliver(0, 0, 2, 100); // due: handed to the publisher, held
    await clock.advance(0);
    expect(subject.state).toBe('publishing');
    await deliver(0, 2, 2, 100); // due as well: waits for the publish under way
    await clock.advance(0);
    expect(subject.state).toBe('publishing-next-due');
    expect(published(log)).toEqual([]);
    release();
    await clock.advance(0);
    expect(published(log)).toEqual(['publish 0,1', 'commit t/0@2', 'publish 2,3', 'commit t/0@4']);
    expect(subject.state).toBe('idle');
  });

  it('keeps a group whose publish failed and publishes it with the next, committing only then', async () => {
    const { log, deliver, clock, subject, failNextPublish } = groups({ batchSize: 2 });
    failNextPublish();
    await deliver(0, 0, 2, 2); // caught up
    await clock.advance(25);
    expect(published(log)).toEqual(['publish failed']);
    subject.tick(); // a failed group goes again from the timer
    await clock.advance(0);
    expect(published(log)).toEqual(['publish failed', 'publish 0,1', 'commit t/0@2']);
  });

  it('commits past a transaction marker that arrives in a batch of its own', async () => {
    const { log, deliver, clock, subject, context } = groups();
    await deliver(0, 0, 2, 3); // records 0 and 1; the commit marker at 2 is still to come
    await subject.onBatch({ ...batch(0, 2, 0, 3), lastOffset: '2' }, context);
    await clock.turn();
    await clock.advance(25);
    expect(published(log)).toEqual(['publish 0,1', 'commit t/0@3']);
  });

  it('on drain, publishes and commits what is written, within the grace period', async () => {
    const { log, deliver, subject } = groups({ batchSize: 2 });
    await deliver(0, 0, 2, 100);
    await subject.drain(10_000);
    expect(published(log)).toEqual(['publish 0,1', 'commit t/0@2']);
  });

  it('on drain, gives up waiting for a publish that outlasts the grace period, committing nothing', async () => {
    const { log, deliver, subject, clock, hold } = groups({ batchSize: 2 });
    hold();
    await deliver(0, 0, 2, 100);
    const draining = subject.drain(10_000);
    await clock.advance(10_000);
    await draining;
    expect(published(log)).toEqual([]);
  });
});
