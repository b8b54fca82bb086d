import { performance } from 'node:perf_hooks';
import type { ProfileUpdate } from '../../../schemas';
import { schema } from '../../../schemas';
import type { KafkaAdmin, KafkaClient } from '../../common/kafka/client';
import type { TopicTail } from '../../common/kafka/topic-tail';
import type { Component } from '../../common/lifecycle';
import type { Logger } from '../../common/logger';
import type { Gauge } from '../../common/metrics';
import type { AvroCodec } from '../../common/registry/avro-codec';

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
  private endsRead: { startedAt: number; ends: Promise<ReadonlyMap<number, string>> } | undefined;

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
   * (a `performance.now()` taken when the caller's record arrived). Callers arriving together
   * share one read of the end offsets, as long as it began after their record arrived.
   */
  caughtUpSince(receivedAt: number): Promise<void> {
    let read = this.endsRead;
    if (!read || read.startedAt < receivedAt) {
      const startedAt = performance.now();
      const current = { startedAt, ends: this.deps.admin().endOffsets(this.deps.topic) };
      this.endsRead = current;
      void current.ends
        .catch(() => undefined)
        .finally(() => {
          if (this.endsRead === current) this.endsRead = undefined;
        });
      read = current;
    }
    return read.ends.then((ends) => this.tail!.caughtUpTo(ends));
  }

  /** Resolves once the table has read the record at `offset` of `partition`. */
  holds(partition: number, offset: string): Promise<void> {
    return this.tail!.caughtUpTo(new Map([[partition, BigInt(offset) + 1n]]));
  }
}
