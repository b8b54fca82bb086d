import { ApiError } from '../common/error-codes';
import { errorMessage, isRetriable } from '../common/errors';
import type { EventProducer, OutgoingMessage } from '../common/kafka/client';
import { recordBytes } from '../common/kafka/outgoing-messages';

/**
 * Groups the messages of concurrent HTTP requests into few Kafka produce calls, so
 * throughput does not depend on how many events each request carries.
 *
 * Strategy: one open batch per topic collects messages; it is sent when it reaches
 * `maxBatchMessages` or `maxBatchBytes`, or `lingerMs` after its first message, but never
 * while an earlier batch of the same topic is still in flight (one produce per topic at a
 * time keeps the idempotent producer's per-partition sequence simple, and whatever arrives
 * meanwhile rides along in the next batch). A caller's promise resolves only when every batch
 * holding one of its messages is acknowledged by Kafka (acks=all), and rejects if any failed.
 *
 * Memory is bounded: `reserve` admits a request only while the bytes queued or in flight stay
 * under `maxPendingBytes`; the caller answers 429 otherwise, instead of buffering without end.
 */
export interface BatchingOptions {
  readonly lingerMs: number;
  readonly maxBatchMessages: number;
  readonly maxBatchBytes: number;
  readonly maxPendingBytes: number;
  /** A produce not acknowledged by then fails its callers with KUMIKI_UNAVAILABLE (it may still land; messageIds dedupe). */
  readonly produceTimeoutMs: number;
  readonly retryAfterSeconds: number;
  readonly onFlush?: (info: { topic: string; messages: number; bytes: number; seconds: number; ok: boolean }) => void;
}

interface Batch {
  readonly messages: OutgoingMessage[];
  bytes: number;
  readonly done: Promise<void>;
  resolve(): void;
  reject(error: unknown): void;
  timer: NodeJS.Timeout | undefined;
}

interface TopicQueue {
  open: Batch | undefined;
  /** Full or lingered batches waiting for the one in flight, oldest first. */
  readonly sealed: Batch[];
  inFlight: Promise<void> | undefined;
}

export class BatchingProducer {
  private readonly queues = new Map<string, TopicQueue>();
  private pendingBytes = 0;
  private pendingMessages = 0;
  private closed = false;

  constructor(
    private readonly producer: Pick<EventProducer, 'send'>,
    private readonly options: BatchingOptions,
  ) {}

  /** Bytes queued or in flight, for metrics and admission. */
  get pending(): { bytes: number; messages: number } {
    return { bytes: this.pendingBytes, messages: this.pendingMessages };
  }

  /** Admits `bytes` more, or says no (the caller answers 429 with Retry-After). */
  hasRoomFor(bytes: number): boolean {
    return this.pendingBytes === 0 || this.pendingBytes + bytes <= this.options.maxPendingBytes;
  }

  /** Resolves once every message is acknowledged by Kafka; rejects with an ApiError(KUMIKI_UNAVAILABLE) when Kafka is down. */
  send(topic: string, messages: readonly OutgoingMessage[]): Promise<void> {
    if (messages.length === 0) return Promise.resolve();
    if (this.closed)
      return Promise.reject(
        new ApiError('KUMIKI_UNAVAILABLE', 'the collector is shutting down', undefined, {
          retryAfterSeconds: this.options.retryAfterSeconds,
        }),
      );
    const queue = this.queueOf(topic);
    const waits = new Set<Promise<void>>();
    for (const message of messages) {
      const size = recordBytes(message);
      let batch = queue.open;
      if (
        batch &&
        (batch.messages.length >= this.options.maxBatchMessages || batch.bytes + size > this.options.maxBatchBytes)
      ) {
        this.seal(topic, queue);
        batch = undefined;
      }
      batch ??= this.openBatch(topic, queue);
      batch.messages.push(message);
      batch.bytes += size;
      this.pendingBytes += size;
      this.pendingMessages += 1;
      waits.add(batch.done);
    }
    const all = Promise.all(waits).then(() => undefined);
    return this.withTimeout(all);
  }

  /** Sends what is queued now and waits for every batch in flight. */
  async flush(): Promise<void> {
    for (const [topic, queue] of this.queues) if (queue.open) this.seal(topic, queue);
    for (;;) {
      const inFlight = [...this.queues.values()].flatMap((q) => (q.inFlight ? [q.inFlight] : []));
      if (inFlight.length === 0 && [...this.queues.values()].every((q) => !q.open && q.sealed.length === 0)) return;
      await Promise.allSettled(inFlight);
    }
  }

  /** Refuses new sends, then flushes. */
  async close(): Promise<void> {
    this.closed = true;
    await this.flush();
  }

  private queueOf(topic: string): TopicQueue {
    let queue = this.queues.get(topic);
    if (!queue) this.queues.set(topic, (queue = { open: undefined, sealed: [], inFlight: undefined }));
    return queue;
  }

  private openBatch(topic: string, queue: TopicQueue): Batch {
    let resolve!: () => void;
    let reject!: (error: unknown) => void;
    const done = new Promise<void>((res, rej) => {
      resolve = res;
      reject = rej;
    });
    done.catch(() => undefined); // observed by the callers; never an unhandled rejection
    const batch: Batch = { messages: [], bytes: 0, done, resolve, reject, timer: undefined };
    batch.timer = setTimeout(() => {
      batch.timer = undefined;
      if (queue.open === batch) this.seal(topic, queue);
    }, this.options.lingerMs);
    queue.open = batch;
    return batch;
  }

  /** Closes the open batch and sends it as soon as nothing earlier of this topic is in flight. */
  private seal(topic: string, queue: TopicQueue): void {
    const batch = queue.open;
    if (!batch) return;
    queue.open = undefined;
    if (batch.timer) clearTimeout(batch.timer);
    queue.sealed.push(batch);
    this.pump(topic, queue);
  }

  private pump(topic: string, queue: TopicQueue): void {
    if (queue.inFlight) return;
    const batch = queue.sealed.shift();
    if (!batch) return;
    queue.inFlight = this.produce(topic, batch).finally(() => {
      queue.inFlight = undefined;
      // Messages that waited behind a produce have lingered long enough: send them now.
      if (queue.sealed.length === 0 && queue.open) this.seal(topic, queue);
      else this.pump(topic, queue);
    });
  }

  private async produce(topic: string, batch: Batch): Promise<void> {
    const started = process.hrtime.bigint();
    let succeeded = false;
    try {
      await this.producer.send(topic, batch.messages);
      succeeded = true;
      batch.resolve();
    } catch (error) {
      batch.reject(
        isRetriable(error)
          ? new ApiError(
              'KUMIKI_UNAVAILABLE',
              `Kafka did not acknowledge the events: ${errorMessage(error)}`,
              undefined,
              { cause: error, retryAfterSeconds: this.options.retryAfterSeconds },
            )
          : error,
      );
    } finally {
      this.pendingBytes -= batch.bytes;
      this.pendingMessages -= batch.messages.length;
      this.options.onFlush?.({
        topic,
        messages: batch.messages.length,
        bytes: batch.bytes,
        seconds: Number(process.hrtime.bigint() - started) / 1e9,
        ok: succeeded,
      });
    }
  }

  private withTimeout(promise: Promise<void>): Promise<void> {
    let timer: NodeJS.Timeout | undefined;
    const timeout = new Promise<never>((_resolve, reject) => {
      timer = setTimeout(
        () =>
          reject(
            new ApiError(
              'KUMIKI_UNAVAILABLE',
              `Kafka did not acknowledge within ${this.options.produceTimeoutMs} ms`,
              undefined,
              {
                retryAfterSeconds: this.options.retryAfterSeconds,
              },
            ),
          ),
        this.options.produceTimeoutMs,
      );
    });
    return Promise.race([promise, timeout]).finally(() => clearTimeout(timer));
  }
}
