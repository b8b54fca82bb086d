import { BatchingProducer, type BatchingOptions } from '../../../services/collector/batching-producer';
import { DependencyUnavailableError } from '../../../services/common/errors';
import type { OutgoingMessage } from '../../../services/common/kafka/client';

interface Call {
  topic: string;
  values: string[];
  ack(): void;
  fail(error: unknown): void;
}

function fakeProducer() {
  const calls: Call[] = [];
  return {
    calls,
    send(topic: string, messages: readonly OutgoingMessage[]): Promise<void> {
      return new Promise((resolve, reject) =>
        calls.push({ topic, values: messages.map((m) => String(m.value)), ack: resolve, fail: reject }),
      );
    },
  };
}

const options: BatchingOptions = {
  lingerMs: 5,
  maxBatchMessages: 1000,
  maxBatchBytes: 1_000_000,
  maxPendingBytes: 10_000,
  produceTimeoutMs: 5_000,
  retryAfterSeconds: 7,
};
const msg = (value: string): OutgoingMessage => ({ key: 'k', value });
const settle = () => new Promise((resolve) => setTimeout(resolve, 20));

describe('BatchingProducer', () => {
  it('groups concurrent requests into one produce and answers each only after the ack', async () => {
    const producer = fakeProducer();
    const batcher = new BatchingProducer(producer, options);
    let firstDone = false;
    const first = batcher.send('t', [msg('a'), msg('b')]).then(() => (firstDone = true));
    const second = batcher.send('t', [msg('c')]);
    await settle();
    expect(producer.calls.map((c) => c.values)).toEqual([['a', 'b', 'c']]);
    expect(firstDone).toBe(false);
    producer.calls[0]!.ack();
    await Promise.all([first, second]);
    expect(firstDone).toBe(true);
    expect(batcher.pending).toEqual({ bytes: 0, messages: 0 });
  });

  it('keeps one produce per topic in flight; what arrives meanwhile goes in the next, in order', async () => {
    const producer = fakeProducer();
    const batcher = new BatchingProducer(producer, { ...options, maxBatchMessages: 2 });
    const sends = [batcher.send('t', [msg('1'), msg('2'), msg('3')]), batcher.send('t', [msg('4'), msg('5')])];
    await settle();
    expect(producer.calls.map((c) => c.values)).toEqual([['1', '2']]);
    producer.calls[0]!.ack();
    await settle();
    expect(producer.calls.map((c) => c.values)).toEqual([
      ['1', '2'],
      ['3', '4'],
    ]);
    producer.calls[1]!.ack();
    await settle();
    producer.calls[2]!.ack();
    await Promise.all(sends);
    expect(producer.calls.map((c) => c.values)).toEqual([['1', '2'], ['3', '4'], ['5']]);
  });

  it('fails every caller of a batch Kafka did not take with KUMIKI_UNAVAILABLE and Retry-After', async () => {
    const producer = fakeProducer();
    const batcher = new BatchingProducer(producer, options);
    const one = batcher.send('t', [msg('a')]);
    const two = batcher.send('t', [msg('b')]);
    await settle();
    producer.calls[0]!.fail(new DependencyUnavailableError('Kafka: cannot produce'));
    await expect(one).rejects.toMatchObject({ code: 'KUMIKI_UNAVAILABLE', status: 503, retryAfterSeconds: 7 });
    await expect(two).rejects.toMatchObject({ code: 'KUMIKI_UNAVAILABLE' });
    expect(batcher.pending.bytes).toBe(0);
  });

  it('answers KUMIKI_UNAVAILABLE when the ack does not come in time', async () => {
    const producer = fakeProducer();
    const batcher = new BatchingProducer(producer, { ...options, produceTimeoutMs: 50 });
    await expect(batcher.send('t', [msg('a')])).rejects.toMatchObject({
      code: 'KUMIKI_UNAVAILABLE',
      message: 'Kafka did not acknowledge within 50 ms',
    });
    expect(batcher.pending.messages).toBe(1); // still in flight: it still counts against the memory bound
  });

  it('bounds the bytes queued or in flight', async () => {
    const producer = fakeProducer();
    const batcher = new BatchingProducer(producer, { ...options, maxPendingBytes: 1000 });
    expect(batcher.hasRoomFor(5000)).toBe(true); // an idle collector takes any single request
    const sending = batcher.send('t', [msg('x'.repeat(900))]);
    expect(batcher.hasRoomFor(100)).toBe(false);
    await settle();
    producer.calls[0]!.ack();
    await sending;
    expect(batcher.hasRoomFor(900)).toBe(true);
  });

  it('close() sends what is queued, waits for the acks and refuses new sends', async () => {
    const producer = fakeProducer();
    const batcher = new BatchingProducer(producer, { ...options, lingerMs: 60_000 });
    const sending = batcher.send('t', [msg('a')]);
    const closing = batcher.close();
    await settle();
    expect(producer.calls.map((c) => c.values)).toEqual([['a']]);
    producer.calls[0]!.ack();
    await Promise.all([sending, closing]);
    await expect(batcher.send('t', [msg('b')])).rejects.toMatchObject({ code: 'KUMIKI_UNAVAILABLE' });
  });
});
