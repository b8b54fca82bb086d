import pino from 'pino';
import { schema } from '../../../schemas';
import { DependencyUnavailableError } from '../../../services/common/errors';
import type {
  BatchContext,
  IncomingMessage,
  KafkaClient,
  MessageBatch,
  OutgoingMessage,
} from '../../../services/common/kafka/client';
import { ProducerFencedError } from '../../../services/common/kafka/transactions';
import type { TopicMessages } from '../../../services/common/kafka/outgoing-messages';
import { createMetricsRegistry } from '../../../services/common/metrics';
import { encodeFramed, type AvroCodec } from '../../../services/common/registry';
import { resolveIdentityRules } from '../../../services/identity-stitcher/identity/identity-rules';
import { createEventStitcher } from '../../../services/identity-stitcher/stitch-events.consumer';
import { createStitcherMetrics } from '../../../services/identity-stitcher/stitcher.metrics';
import { readRequest } from '../../support/record-sets';
import { waitFor } from '../../support/wait-for';
import { PrivacyKey } from '../../../services/common/privacy/privacy-key';
import { testPrivacyKey } from '../../support/privacy-key';

const topics = {
  raw: 'raw',
  json: 'json',
  stitched: 'stitched',
  changes: 'changes',
  graph: 'graph',
  deadLetters: 'dlq',
  privacy: 'privacy',
  subjects: 'subjects',
};

/**
 * Kafka as far as the stitcher can tell: committed records per topic, one committed offset
 * for the one JSON input partition, transactions that apply all-or-nothing, and a consumer
 * that (re)delivers everything after the committed offset as one batch.
 */
class FakeKafka {
  readonly committed = new Map<string, OutgoingMessage[]>();
  offset = 0;
  failCommits: { count: number; error: () => Error } = { count: 0, error: () => new Error('none') };
  consumers = 0;
  /** What the consumer says of itself (false: kafkajs is restarting it after a crash). */
  consuming = true;
  /** Commits wait for this (a transaction still on the wire). */
  commitGate: Promise<void> = Promise.resolve();
  /** Deliver the batch a second time once its handler returns, as a rejoin fetches again from the committed offset. */
  redeliverOnce = false;
  deliveries = 0;

  constructor(private readonly input: readonly string[]) {}

  client(): KafkaClient {
    return {
      readToEnd: async ({ topic, onBatch }) => {
        const messages = (this.committed.get(topic) ?? []).map((m, i) => this.incoming(topic, i, m));
        await onBatch(messages);
        return messages.length;
      },
      tail: () => {
        throw new Error('the stitcher follows no topic');
      },
      readRange: async () => {
        throw new Error('the stitcher reads no range');
      },
      transactionalProducer: () => ({
        connect: async () => undefined,
        disconnect: async () => undefined,
        confirmHolder: async () => undefined,
        begin: async () => {
          const pending: TopicMessages[] = [];
          let next: number | undefined;
          return {
            send: async (batches) => void pending.push(...batches),
            sendWritten: async (request) => {
              for (const { topic, key, value } of await readRequest(request))
                pending.push({ topic, messages: [{ key, value }] });
            },
            sendOffsets: async (_group, offsets) => void (next = Number(offsets[0]!.offset)),
            abort: async () => undefined,
            commit: async () => {
              await this.commitGate;
              if (this.failCommits.count > 0) {
                this.failCommits.count -= 1;
                throw this.failCommits.error();
              }
              for (const { topic, messages } of pending)
                this.committed.set(topic, [...(this.committed.get(topic) ?? []), ...messages]);
              if (next !== undefined) this.offset = next;
            },
          };
        },
      }),
      consumer: () => {
        let running = true;
        return {
          connect: async () => void (this.consumers += 1),
          disconnect: async () => void (running = false),
          isConsuming: () => this.consuming,
          run: async (handler) => {
            const deliver = (): void => {
              if (!running) return;
              this.deliveries += 1;
              const messages = this.input
                .slice(this.offset)
                .map((value, i) => this.incoming('json', this.offset + i, { key: null, value: Buffer.from(value) }));
              const batch: MessageBatch = {
                topic: 'json',
                partition: 0,
                messages,
                highWatermark: String(this.input.length),
                lastOffset: messages[messages.length - 1]!.offset,
              };
              const context: BatchContext = {
                resolveOffset: () => undefined,
                commit: async () => undefined,
                heartbeat: async () => undefined,
                isRunning: () => running,
              };
              handler(batch, context).then(
                () => {
                  if (this.redeliverOnce) {
                    this.redeliverOnce = false;
                    setImmediate(deliver);
                  }
                },
                () => undefined, // kafkajs would log and retry
              );
            };
            setImmediate(deliver);
          },
        };
      },
      producer: () => {
        throw new Error('not used');
      },
      admin: () =>
        ({
          connect: async () => undefined,
          disconnect: async () => undefined,
          partitionCount: async () => 1,
        }) as unknown as ReturnType<KafkaClient['admin']>,
    };
  }

  private incoming(topic: string, offset: number, message: OutgoingMessage): IncomingMessage {
    const key = message.key === null ? null : Buffer.from(message.key);
    const value = message.value === null ? null : Buffer.from(message.value);
    return { topic, partition: 0, offset: String(offset), key, value, headers: {}, timestamp: '1700000000000' };
  }
}

const codec = {
  schemaIdOf: () => 1,
  decode: async (buffer: Buffer, reader: { fromBuffer(b: Buffer): unknown }) => ({
    schemaId: 1,
    value: reader.fromBuffer(buffer.subarray(5)),
  }),
  encode: (_topic: string, value: unknown) => encodeFramed(1, schema('DeadLetter').type, value),
} as unknown as AvroCodec;

const events = [
  { messageId: 'e1', type: 'page', anonymousId: 'a1', timestamp: 1000 },
  { messageId: 'e2', type: 'identify', userId: 'u1', anonymousId: 'a1', traits: { email: 'U@x.io' }, timestamp: 2000 },
  { messageId: 'e3', type: 'track', event: 'Order Completed', userId: 'u1', timestamp: 3000 },
].map((event) => JSON.stringify(event));

function stitcher(kafka: FakeKafka, onFatal: (error: unknown) => void) {
  const metrics = createStitcherMetrics(createMetricsRegistry('test'));
  const component = createEventStitcher({
    kafka: kafka.client(),
    codec: () => codec,
    logger: pino({ level: 'silent' }),
    metrics,
    topics,
    groupId: 'g',
    transactionalId: 't',
    rules: resolveIdentityRules(),
    privacyKey: PrivacyKey.fromHex(testPrivacyKey),
    fetchMaxWaitMs: 10,
    fetchMinBytes: 1,
    fetchMaxBytesPerPartition: 1_000_000,
    transactionTimeoutMs: 60_000,
    sessionTimeoutMs: 10_000,
    concurrency: 1,
    linkRequestThreads: 0,
    onFatal,
  });
  return { component, metrics };
}

describe('event stitcher transactions', () => {
  it('rebuilds from Kafka after a failed transaction and commits every event exactly once', async () => {
    const kafka = new FakeKafka(events);
    kafka.failCommits = { count: 1, error: () => new DependencyUnavailableError('broker gone') };
    const onFatal = jest.fn();
    const { component, metrics } = stitcher(kafka, onFatal);
    await component.start();
    await waitFor(
      () => {
        if (kafka.offset !== 3) throw new Error(`committed offset ${kafka.offset}`);
      },
      { timeoutMs: 5_000, intervalMs: 10 },
    );
    await component.stop();

    expect(onFatal).not.toHaveBeenCalled();
    expect((await metrics.recoveries.get()).values[0]?.value).toBe(1);
    expect(kafka.consumers).toBe(2); // the consumer was rebuilt once
    const stitched = (kafka.committed.get('stitched') ?? []).map(
      (m) =>
        schema('StitchedEvent').type.fromBuffer((m.value as Buffer).subarray(5)) as {
          event: { messageId: string };
          profileId: string;
        },
    );
    expect(stitched.map((s) => s.event.messageId)).toEqual(['e1', 'e2', 'e3']);
    expect(new Set(stitched.map((s) => s.profileId)).size).toBe(1);
    // The failed transaction left nothing behind, so the graph log holds each identifier once.
    expect((kafka.committed.get('graph') ?? []).map((m) => String(m.key)).sort()).toEqual([
      'anonymous_id:a1',
      'email:u@x.io',
      'user_id:u1',
    ]);
  });

  it('skips records a rejoin fetches again while their transaction is open, and stops only once it is committed', async () => {
    const kafka = new FakeKafka(events);
    let release: () => void = () => undefined;
    kafka.commitGate = new Promise((resolve) => (release = resolve));
    kafka.redeliverOnce = true;
    const { component, metrics } = stitcher(kafka, jest.fn());
    await component.start();
    // The handler returned before its transaction committed, and the same records came again.
    await waitFor(() => expect(kafka.deliveries).toBe(2), { timeoutMs: 5_000, intervalMs: 10 });
    await new Promise((resolve) => setImmediate(resolve));
    expect(kafka.offset).toBe(0);
    let stopped = false;
    const stopping = component.stop().then(() => (stopped = true));
    await new Promise((resolve) => setTimeout(resolve, 20));
    expect(stopped).toBe(false); // waiting for the open transaction
    release();
    await stopping;
    expect(kafka.offset).toBe(3);
    const stitched = (kafka.committed.get('stitched') ?? []).map(
      (m) =>
        (schema('StitchedEvent').type.fromBuffer((m.value as Buffer).subarray(5)) as { event: { messageId: string } })
          .event.messageId,
    );
    expect(stitched).toEqual(['e1', 'e2', 'e3']);
    expect((await metrics.events.get()).values.reduce((sum, v) => sum + v.value, 0)).toBe(3);
  });

  it('is not ready while its consumer is being restarted, and ready again once it consumes', async () => {
    const kafka = new FakeKafka(events);
    const { component } = stitcher(kafka, jest.fn());
    await component.start();
    await waitFor(() => expect(kafka.offset).toBe(3), { timeoutMs: 5_000, intervalMs: 10 });
    expect(component.isReady()).toBe(true);
    kafka.consuming = false;
    expect(component.isReady()).toBe(false);
    expect(component.isHealthy()).toBe(true);
    kafka.consuming = true;
    expect(component.isReady()).toBe(true);
    await component.stop();
  });

  it('stops for good when another instance fenced it', async () => {
    const kafka = new FakeKafka(events);
    kafka.failCommits = { count: 1, error: () => new ProducerFencedError('fenced') };
    const onFatal = jest.fn();
    const { component } = stitcher(kafka, onFatal);
    await component.start();
    await waitFor(() => expect(onFatal).toHaveBeenCalledTimes(1), { timeoutMs: 5_000, intervalMs: 10 });
    expect(component.isHealthy()).toBe(false);
    expect(kafka.consumers).toBe(1);
    expect(kafka.committed.get('stitched')).toBeUndefined();
    await component.stop();
  });
});
