import pino from 'pino';
import { DependencyUnavailableError, InternalError } from '../../../services/common/errors';
import type { BatchContext, KafkaClient } from '../../../services/common/kafka/client';
import type { MessageBatch } from '../../../services/common/kafka/messages';
import { RecordSets } from '../../../services/common/kafka/record-sets';
import { ProducerFencedError } from '../../../services/common/kafka/transactions';
import { createMetricsRegistry } from '../../../services/common/metrics';
import type { Rejection } from '../../../services/common/result-handler';
import { IdentityGraph } from '../../../services/identity-stitcher/identity/identity-graph';
import { resolveIdentityRules } from '../../../services/identity-stitcher/identity/identity-rules';
import type { StitchedBatch } from '../../../services/identity-stitcher/stitched-batch';
import { StitcherSession } from '../../../services/identity-stitcher/stitcher-session';
import { createStitcherMetrics } from '../../../services/identity-stitcher/stitcher.metrics';
import { FakeClock } from '../../support/fake-clock';

/**
 * The stitcher's transactions, fencing and rebuilds as a state machine, against a fake Kafka
 * that records what is called on it (in `log`) and a fake clock. The real thing is proven by
 * the stitcher's integration and crash tests.
 */
class FakeKafka {
  readonly log: string[] = [];
  /** Commits wait for this; `failCommit` makes the next one fail with it. */
  gate: Promise<void> = Promise.resolve();
  failCommit: Error | undefined;
  failRestore: Error | undefined;
  /** What the transaction coordinator answers when asked whether the id is still ours (undefined: it is). */
  holderAnswer: Error | undefined;
  consuming = true;
  handler: ((batch: MessageBatch, context: BatchContext) => Promise<void>) | undefined;

  client(): Pick<KafkaClient, 'transactionalProducer' | 'consumer' | 'admin'> {
    const log = this.log;
    return {
      transactionalProducer: () => ({
        connect: async () => void log.push('fence'),
        disconnect: async () => void log.push('producer disconnect'),
        confirmHolder: async () => {
          log.push('ask coordinator');
          if (this.holderAnswer) throw this.holderAnswer;
        },
        begin: async () => {
          log.push('begin');
          return {
            send: async (batches) =>
              void log.push(`send ${batches.map((b) => `${b.topic}:${b.messages.length}`).join()}`),
            sendWritten: async () => void log.push('send written'),
            sendOffsets: async (group, offsets) =>
              void log.push(`offsets ${group} ${offsets.map((o) => `${o.topic}/${o.partition}@${o.offset}`).join()}`),
            commit: async () => {
              await this.gate;
              const error = this.failCommit;
              this.failCommit = undefined;
              if (error) throw error;
              log.push('commit');
            },
            abort: async () => void log.push('abort'),
          };
        },
      }),
      consumer: () => ({
        connect: async () => void log.push('join'),
        run: async (handler) => {
          this.handler = handler;
          log.push('consume');
        },
        disconnect: async () => void log.push('consumer disconnect'),
        isConsuming: () => this.consuming,
      }),
      admin: () =>
        ({
          connect: async () => undefined,
          disconnect: async () => undefined,
          partitionCount: async (topic: string) => {
            log.push(`partitions ${topic}`);
            return 3;
          },
        }) as unknown as ReturnType<KafkaClient['admin']>,
    };
  }
}

function session(options: { pauseBeforeCommitMs?: number } = {}) {
  const kafka = new FakeKafka();
  const clock = new FakeClock();
  const metrics = createStitcherMetrics(createMetricsRegistry('test'));
  const fatal: unknown[] = [];
  const written: Rejection[][] = [];
  const rules = resolveIdentityRules();
  const subject = new StitcherSession({
    kafka: kafka.client(),
    restore: async () => {
      kafka.log.push('rebuild graph');
      if (kafka.failRestore) throw kafka.failRestore;
      return new IdentityGraph(rules);
    },
    onBatch: async () => undefined,
    writeRejections: async (rejections) => void written.push([...rejections]),
    consumer: { groupId: 'g', topics: ['raw', 'json'] },
    transactionalId: 't',
    transactionTimeoutMs: 60_000,
    outputTopics: ['stitched'],
    logger: pino({ level: 'silent' }),
    metrics,
    onFatal: (error) => void fatal.push(error),
    clock,
    ...options,
  });
  return { kafka, clock, metrics, fatal, written, subject };
}

function batch(partition: number, from: number, count: number): MessageBatch {
  return {
    topic: 'raw',
    partition,
    highWatermark: String(from + count),
    lastOffset: String(from + count - 1),
    messages: Array.from({ length: count }, (_, i) => ({
      topic: 'raw',
      partition,
      offset: String(from + i),
      key: null,
      value: Buffer.from('x'),
      headers: {},
      timestamp: '0',
    })),
  };
}

function outputs(input: MessageBatch, rejections: Rejection[] = []): StitchedBatch {
  return {
    topic: input.topic,
    partition: input.partition,
    size: input.messages.length,
    records: new RecordSets(new Map([['stitched', 3]]), 0),
    messages: [],
    privacyRequests: [],
    rejections,
    stitchedCount: input.messages.length,
    drops: new Map(),
    nextOffset: String(Number(input.messages.at(-1)!.offset) + 1),
  };
}

/** Adds a batch as the stitcher does (announced, then stitched) and returns where it stands. */
function add(subject: StitcherSession, input: MessageBatch, rejections: Rejection[] = []) {
  return subject.expect(input).add(outputs(input, rejections));
}

const turns = () => new Promise((resolve) => setImmediate(resolve));

describe('the stitcher session', () => {
  it('starts by fencing, then rebuilds the graph, then joins: in that order', async () => {
    const { kafka, subject } = session();
    expect(subject.state).toBe('idle');
    expect(subject.canStitch()).toBe(false);
    await subject.start();
    expect(kafka.log).toEqual(['fence', 'partitions stitched', 'rebuild graph', 'join', 'consume']);
    expect(subject.state).toBe('stitching');
    expect(subject.isReady()).toBe(true);
    expect(subject.canStitch()).toBe(true);
    expect(subject.outputPartitions()).toEqual(new Map([['stitched', 3]]));
    kafka.consuming = false; // kafkajs restarting a crashed consumer
    expect(subject.isReady()).toBe(false);
    expect(subject.isHealthy()).toBe(true);
  });

  it('commits the batches stitched together in one transaction, with their rejections and offsets', async () => {
    const { kafka, subject, written, clock, metrics } = session();
    await subject.start();
    kafka.log.length = 0;
    let release: () => void = () => undefined;
    kafka.gate = new Promise((resolve) => (release = resolve));
    const rejected = {
      step: 's',
      code: 'KUMIKI_INVALID_EVENT',
      reason: 'r',
      origin: { value: Buffer.alloc(0) },
    } as const;
    // The batches of one fetch are announced before either is stitched.
    const first = subject.expect(batch(0, 0, 2));
    const second = subject.expect(batch(1, 5, 1));
    const committed = [first.add(outputs(batch(0, 0, 2), [rejected])).committed];
    committed.push(second.add(outputs(batch(1, 5, 1))).committed);
    await turns();
    await turns();
    await clock.advance(250); // the transaction is on the wire for 250 ms
    release();
    await Promise.all(committed);
    expect(kafka.log).toEqual(['begin', 'offsets g raw/0@2,raw/1@6', 'commit']);
    expect(written).toEqual([[rejected], []]);
    const seconds = await metrics.transactionSeconds.get();
    expect(seconds.values.find((v) => v.metricName?.endsWith('_sum'))?.value).toBe(0.25);
    const events = await metrics.transactionEvents.get();
    expect(events.values.find((v) => v.metricName?.endsWith('_sum'))?.value).toBe(3);
  });

  it('skips the records a rejoin fetches again while their transaction is open', async () => {
    const { subject } = session();
    await subject.start();
    await add(subject, batch(0, 0, 3)).committed;
    expect(subject.notYetStitched(batch(0, 1, 4)).messages.map((m) => m.offset)).toEqual(['3', '4']);
    expect(subject.notYetStitched(batch(1, 1, 2)).messages.map((m) => m.offset)).toEqual(['1', '2']);
  });

  it('after a failed transaction, aborts it, is unhealthy for a turn, then rebuilds from Kafka and stitches again', async () => {
    const { kafka, subject, clock, metrics, fatal } = session();
    await subject.start();
    kafka.log.length = 0;
    kafka.failCommit = new DependencyUnavailableError('broker gone');
    await expect(add(subject, batch(0, 0, 2)).committed).rejects.toThrow('broker gone');
    expect(subject.state).toBe('failed');
    expect([subject.isHealthy(), subject.isReady(), subject.canStitch()]).toEqual([false, false, false]);
    expect(() => subject.graphToStitch()).toThrow('an earlier transaction failed');

    await clock.turn(); // not from inside the batch handler
    expect(subject.state).toBe('stitching');
    expect(kafka.log).toEqual([
      'begin',
      'offsets g raw/0@2',
      'abort',
      'consumer disconnect',
      'ask coordinator',
      'producer disconnect',
      'fence',
      'partitions stitched',
      'rebuild graph',
      'join',
      'consume',
    ]);
    expect((await metrics.recoveries.get()).values[0]?.value).toBe(1);
    expect(fatal).toEqual([]);
    // The records of the failed transaction are stitched again, from the committed offsets.
    expect(subject.notYetStitched(batch(0, 0, 2)).messages).toHaveLength(2);
    await add(subject, batch(0, 0, 2)).committed;
    expect(kafka.log.slice(-3)).toEqual(['begin', 'offsets g raw/0@2', 'commit']);
  });

  it('stops for good when fenced by another instance: no rebuild, unhealthy', async () => {
    const { kafka, subject, clock, fatal } = session();
    await subject.start();
    const fenced = new ProducerFencedError('fenced');
    kafka.failCommit = fenced;
    await expect(add(subject, batch(0, 0, 1)).committed).rejects.toThrow('fenced');
    await clock.turn();
    expect(subject.state).toBe('fenced');
    expect(fatal).toEqual([fenced]);
    expect(subject.isHealthy()).toBe(false);
    expect(kafka.log.filter((line) => line === 'rebuild graph')).toHaveLength(1);
    await subject.stop();
    expect(subject.state).toBe('fenced');
  });

  it('a failure that hid a fencing (a woken zombie): asks the coordinator, stops, never fences again', async () => {
    const { kafka, subject, clock, metrics, fatal } = session();
    await subject.start();
    kafka.log.length = 0;
    kafka.failCommit = new DependencyUnavailableError('Failed to find group coordinator');
    const fenced = new ProducerFencedError('fenced');
    kafka.holderAnswer = fenced;
    await expect(add(subject, batch(0, 0, 1)).committed).rejects.toThrow('group coordinator');
    await clock.turn();
    expect(subject.state).toBe('fenced');
    expect(fatal).toEqual([fenced]);
    expect(subject.isHealthy()).toBe(false);
    expect(kafka.log).toEqual(['begin', 'offsets g raw/0@1', 'abort', 'consumer disconnect', 'ask coordinator']);
    expect((await metrics.recoveries.get()).values[0]?.value ?? 0).toBe(0);
    await subject.stop();
    expect(kafka.log.at(-1)).toBe('producer disconnect');
    expect(kafka.log.filter((line) => line === 'fence')).toHaveLength(0);
  });

  it('is broken, and says so to the service, when the rebuild itself fails', async () => {
    const { kafka, subject, clock, fatal } = session();
    await subject.start();
    kafka.failCommit = new DependencyUnavailableError('broker gone');
    await expect(add(subject, batch(0, 0, 1)).committed).rejects.toThrow();
    kafka.failRestore = new InternalError('changelog unreadable');
    await clock.turn();
    expect(subject.state).toBe('broken');
    expect(fatal).toEqual([kafka.failRestore]);
    expect(subject.isHealthy()).toBe(false);
  });

  it('a stitch that failed after the graph changed rebuilds like a failed transaction', async () => {
    const { kafka, subject, clock } = session();
    await subject.start();
    subject.fail(new Error('a bug on one record'), 'stitching failed after the graph changed', {
      topic: 'raw',
      partition: 0,
      nextOffset: '1',
    });
    expect(subject.state).toBe('failed');
    await clock.turn();
    expect(subject.state).toBe('stitching');
    expect(kafka.log.filter((line) => line === 'rebuild graph')).toHaveLength(2);
  });

  it('holds the commit for the fault-injection pause, by the clock', async () => {
    const { kafka, subject, clock } = session({ pauseBeforeCommitMs: 5_000 });
    await subject.start();
    kafka.log.length = 0;
    let committed = false;
    const done = add(subject, batch(0, 0, 1)).committed.then(() => (committed = true));
    await turns();
    await turns();
    await clock.advance(4_999);
    expect(committed).toBe(false);
    expect(kafka.log).toEqual(['begin', 'offsets g raw/0@1']);
    await clock.advance(1);
    await done;
    expect(kafka.log).toEqual(['begin', 'offsets g raw/0@1', 'commit']);
  });

  it('stops after the transaction under way is committed, then lets the producer go', async () => {
    const { kafka, subject } = session();
    await subject.start();
    kafka.log.length = 0;
    let release: () => void = () => undefined;
    kafka.gate = new Promise((resolve) => (release = resolve));
    void add(subject, batch(0, 0, 1)).committed;
    await turns();
    await turns();
    const stopping = subject.stop();
    await turns();
    expect(subject.state).toBe('stopping');
    expect(kafka.log).toEqual(['begin', 'offsets g raw/0@1', 'consumer disconnect']);
    release();
    await stopping;
    expect(kafka.log).toEqual(['begin', 'offsets g raw/0@1', 'consumer disconnect', 'commit', 'producer disconnect']);
    expect(subject.state).toBe('stopped');
    expect(subject.isReady()).toBe(false);
  });
});
