import { performance } from 'node:perf_hooks';
import type { ProfileUpdate } from '../../../schemas';
import { schema } from '../../../schemas';
import type { KafkaAdmin, KafkaClient } from '../../common/kafka/client';
import type { TopicTail } from '../../common/kafka/topic-tail';
import type { Component } from '../../common/lifecycle';
import type { Logger } from '../../common/logger';
import type { Gauge } from '../../common/metrics';
import type { AvroCodec } from '../../common/registry/avro-codec';

interface EndsRead {
  readonly startedAt: number;
  readonly ends: Promise<ReadonlyMap<number, string>>;
  /** The table has passed `ends` (one wait shared by every caller of the read). */
  readonly caughtUp: Promise<void>;
}

export interface ProfileTableDeps {
  readonly kafka: KafkaClient;
  readonly admin: () => KafkaAdmin;
  readonly codec: () => AvroCodec;
  readonly topic: string;
  readonly logger: Logger;
  readonly size?: Gauge;
}

/**
 * The latest ProfileUpdate of every profile, from the compacted kumiki.profiles.updates — what
 * the activator knows of a person at send time: consent, identifiers, traits. Like the
 * stitcher's identity graph it lives in memory and is rebuilt from its topic at start; each
 * record is kept as its Avro bytes (a one-byte string, about the size of the record) and decoded
 * only when that profile is delivered. A tombstone (an erased person) removes the profile, so
 * nothing is delivered for it again: no record means no consent.
 *
 * Barriers make consent at send time exact. The materializer acknowledges a profile's update
 * before it writes the segment change that follows from it, so once this table has read
 * everything the topic held when a segment change was received, it holds that profile's update
 * (`caughtUpSince`). A profile update being delivered is in the table once the table has passed
 * its offset (`holds`).
 */
export class ProfileTable implements Component {
  readonly name = 'profile-table';
  private readonly profiles = new Map<string, string>();
  private tail: TopicTail | undefined;
  private ready = false;
  private current: EndsRead | undefined;
  private queued: (EndsRead & { start(read: EndsRead): void }) | undefined;

  constructor(private readonly deps: ProfileTableDeps) {}

  async start(): Promise<void> {
    this.tail = this.deps.kafka.tail({
      topic: this.deps.topic,
      groupIdPrefix: 'kumiki-activator-profiles',
      logger: this.deps.logger,
      onRecords: (messages) => {
        for (const message of messages) {
          const id = message.key?.toString('utf8');
          if (!id) continue;
          if (message.value === null) this.profiles.delete(id);
          else this.profiles.set(id, message.value.toString('latin1'));
        }
        this.deps.size?.set(this.profiles.size);
      },
    });
    await this.tail.start();
    const started = performance.now();
    await this.caughtUpSince(started);
    this.deps.logger.info(
      { topic: this.deps.topic, profiles: this.profiles.size, ms: Math.round(performance.now() - started) },
      'profile table loaded',
    );
    this.ready = true;
  }

  async stop(): Promise<void> {
    this.ready = false;
    await this.tail?.stop();
  }

  isHealthy(): boolean {
    return true;
  }

  isReady(): boolean {
    return this.ready;
  }

  get size(): number {
    return this.profiles.size;
  }

  /** The profile's latest update, or undefined when there is none (never seen, or erased). */
  async get(profileId: string): Promise<ProfileUpdate | undefined> {
    const bytes = this.profiles.get(profileId);
    if (bytes === undefined) return undefined;
    const decoded = await this.deps
      .codec()
      .decodeNowOrLater<ProfileUpdate>(Buffer.from(bytes, 'latin1'), schema('ProfileUpdate').type);
    return decoded.value;
  }

  /**
   * Resolves once the table holds everything the topic held at some moment after `receivedAt`
   * (a `performance.now()` taken when the caller's record arrived). At most one read of the end
   * offsets is in flight: a caller whose record arrived after it began waits for the next one,
   * which begins when it ends and serves every caller that came meanwhile. So the reads keep
   * pace with the broker's answers, not with the number of batches.
   */
  caughtUpSince(receivedAt: number): Promise<void> {
    let read: EndsRead;
    if (this.current && this.current.startedAt >= receivedAt) read = this.current;
    else if (this.current) read = this.nextRead();
    else read = this.startRead();
    return read.caughtUp;
  }

  private startRead(): EndsRead {
    const startedAt = performance.now();
    const ends = this.deps.admin().endOffsets(this.deps.topic);
    const read: EndsRead = { startedAt, ends, caughtUp: ends.then((at) => this.tail!.caughtUpTo(at)) };
    read.caughtUp.catch(() => undefined);
    this.current = read;
    const settle = (): void => {
      this.current = undefined;
      const queued = this.queued;
      this.queued = undefined;
      if (queued) queued.start(this.startRead());
    };
    read.ends.then(settle, settle);
    return read;
  }

  /** The read that begins once the current one ends (made by the first caller that needs it). */
  private nextRead(): EndsRead {
    if (!this.queued) {
      let start: (read: EndsRead) => void = () => undefined;
      const ends = new Promise<ReadonlyMap<number, string>>((resolve, reject) => {
        start = (read) => read.ends.then(resolve, reject);
      });
      // Its start time is after every caller's arrival so far: callers arriving later than the
      // current read's start join it too, and it begins only after they arrived.
      const caughtUp = ends.then((at) => this.tail!.caughtUpTo(at));
      caughtUp.catch(() => undefined);
      this.queued = { startedAt: Number.POSITIVE_INFINITY, ends, caughtUp, start };
    }
    return this.queued;
  }

  /** Resolves once the table has read the record at `offset` of `partition`. */
  holds(partition: number, offset: string): Promise<void> {
    return this.tail!.caughtUpTo(new Map([[partition, BigInt(offset) + 1n]]));
  }
}
