import type { DeliveryAttempt } from '../../../schemas';
import { schema } from '../../../schemas';
import { errorMessage } from '../../common/errors';
import type { EventProducer, KafkaAdmin, KafkaClient, OutgoingMessage } from '../../common/kafka/client';
import type { TopicTail } from '../../common/kafka/topic-tail';
import type { Component } from '../../common/lifecycle';
import type { Logger } from '../../common/logger';
import type { AvroCodec } from '../../common/registry/avro-codec';

export interface DeliveryLogDeps {
  readonly kafka: KafkaClient;
  readonly admin: () => KafkaAdmin;
  readonly producer: () => Pick<EventProducer, 'send'>;
  readonly codec: () => AvroCodec;
  readonly topic: string;
  readonly logger: Logger;
  /** Attempts kept in memory per destination for GET …/deliveries. */
  readonly keep: number;
  readonly flushIntervalMs?: number;
  /** Records held while the topic cannot be written; beyond, the oldest go (default 100,000). */
  readonly maxBuffered?: number;
  /** How long the topic is followed after the last GET …/deliveries (default 10 minutes). */
  readonly followIdleMs?: number;
}

/**
 * The delivery log: every attempt (status, latency, error, never a payload) and every change
 * withheld on purpose goes to kumiki.destinations.deliveries, keyed by destination. An instance
 * asked GET …/deliveries follows the recent part of that topic, so it answers with attempts made
 * anywhere; it follows it only while someone asks (until ten minutes after the last call), so a
 * busy activator does not read back every record it writes.
 *
 * Writes are batched and not awaited by deliveries. A delivery worker calls `durable()` before
 * it commits its offsets, so every change a committed offset counts as finished has its records
 * on the topic: a change is either at its receiver or logged `withheld` (or dead-lettered), and
 * a crash before the commit logs it again. Records that could not be written stay buffered for
 * the next flush (up to `maxBuffered`, beyond which the oldest are dropped with a warning).
 */
export class DeliveryLog implements Component {
  readonly name = 'delivery-log';
  private buffer: OutgoingMessage[] = [];
  private timer: NodeJS.Timeout | undefined;
  private flushing: Promise<boolean> = Promise.resolve(true);
  /** Per destination, its latest records as Avro bytes (latin1 strings, as the profile table keeps them). */
  private readonly recent = new Map<string, string[]>();
  private tail: TopicTail | undefined;
  private following: Promise<TopicTail> | undefined;
  private lastAsked = 0;
  private idleTimer: NodeJS.Timeout | undefined;

  constructor(private readonly deps: DeliveryLogDeps) {}

  async start(): Promise<void> {
    this.timer = setInterval(() => void this.flush(), this.deps.flushIntervalMs ?? 200);
    this.idleTimer = setInterval(() => {
      if (this.following && Date.now() - this.lastAsked > (this.deps.followIdleMs ?? 600_000)) void this.unfollow();
    }, 10_000);
    this.idleTimer.unref();
  }

  async stop(): Promise<void> {
    clearInterval(this.timer);
    clearInterval(this.idleTimer);
    await this.flush();
    await this.unfollow();
  }

  isHealthy(): boolean {
    return true;
  }

  isReady(): boolean {
    return this.timer !== undefined;
  }

  record(attempt: DeliveryAttempt): void {
    try {
      this.buffer.push({ key: attempt.destinationId, value: this.deps.codec().encode(this.deps.topic, attempt) });
    } catch (error) {
      this.deps.logger.warn({ error: errorMessage(error) }, 'a delivery attempt could not be logged');
    }
    if (this.buffer.length >= 1000) void this.flush();
  }

  /**
   * The destination's latest attempts, newest first, made on any instance up to the call (this
   * one's are flushed first).
   */
  async latest(destinationId: string, limit: number): Promise<DeliveryAttempt[]> {
    await this.flush();
    await this.caughtUp();
    const reader = schema('DeliveryAttempt').type;
    const attempts: DeliveryAttempt[] = [];
    for (const bytes of (this.recent.get(destinationId) ?? []).slice(-limit).reverse()) {
      const { value } = await this.deps.codec().decodeNowOrLater<DeliveryAttempt>(Buffer.from(bytes, 'latin1'), reader);
      attempts.push(value);
    }
    return attempts;
  }

  forget(destinationId: string): void {
    this.recent.delete(destinationId);
  }

  /** Resolves once every record made before the call is on the topic; rejects if it could not be written. */
  async durable(): Promise<void> {
    if (!(await this.flush())) throw new Error('the delivery log could not be written; will retry');
  }

  /** Starts following the topic if it is not yet, and waits until the tail has read all it holds now. */
  private async caughtUp(): Promise<void> {
    this.lastAsked = Date.now();
    this.following ??= this.follow();
    const following = this.following;
    try {
      const tail = await following;
      await tail.caughtUpTo(await this.deps.admin().endOffsets(this.deps.topic));
    } catch (error) {
      // The next call starts over with a new tail.
      if (this.following === following) await this.unfollow();
      throw error;
    }
  }

  private async follow(): Promise<TopicTail> {
    // The recent part only: enough records per partition that each destination's last `keep`
    // attempts are there unless many destinations share a partition.
    const lookBack = BigInt(this.deps.keep * 20);
    const tail = this.deps.kafka.tail({
      topic: this.deps.topic,
      groupIdPrefix: 'kumiki-activator-deliveries',
      logger: this.deps.logger,
      startOffsets: async () => {
        const ends = await this.deps.admin().endOffsets(this.deps.topic);
        return new Map(
          [...ends].map(([p, end]) => [p, (BigInt(end) > lookBack ? BigInt(end) - lookBack : 0n).toString()]),
        );
      },
      // Kept as their Avro bytes (the record key is the destination) and decoded only when asked for.
      onRecords: (messages) => {
        for (const message of messages) {
          const destinationId = message.key?.toString('utf8');
          if (message.value === null || !destinationId) continue;
          let list = this.recent.get(destinationId);
          if (!list) this.recent.set(destinationId, (list = []));
          list.push(message.value.toString('latin1'));
          if (list.length > this.deps.keep * 1.25) list.splice(0, list.length - this.deps.keep);
        }
      },
    });
    this.tail = tail;
    await tail.start();
    return tail;
  }

  private async unfollow(): Promise<void> {
    const tail = this.tail;
    this.tail = undefined;
    this.following = undefined;
    this.recent.clear();
    await tail?.stop();
  }

  private flush(): Promise<boolean> {
    this.flushing = this.flushing.then(async () => {
      if (this.buffer.length === 0) return true;
      const batch = this.buffer;
      this.buffer = [];
      try {
        await this.deps.producer().send(this.deps.topic, batch);
        return true;
      } catch (error) {
        this.buffer = [...batch, ...this.buffer];
        const excess = this.buffer.length - (this.deps.maxBuffered ?? 100_000);
        if (excess > 0) this.buffer.splice(0, excess);
        this.deps.logger.warn(
          { error: errorMessage(error), attempts: batch.length, ...(excess > 0 ? { dropped: excess } : {}) },
          excess > 0 ? 'delivery log records lost' : 'delivery log not written yet; will retry',
        );
        return false;
      }
    });
    return this.flushing;
  }
}
