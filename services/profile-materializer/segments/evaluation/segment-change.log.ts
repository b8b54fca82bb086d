import type { SegmentChange } from '../../../../schemas';
import type { KafkaClient, OutgoingMessage } from '../../../common/kafka/client';
import { partitionForKey } from '../../../common/kafka/partitioner';
import type { TopicSpec } from '../../../common/kafka/topics';
import type { TransactionalProducer } from '../../../common/kafka/transactions';
import { InternalError } from '../../../common/errors';
import type { Logger } from '../../../common/logger';
import type { EvaluatedSegment, MemberRow, MembershipDiff } from './membership.repository';
import { dateTime64Text } from '../../../common/clickhouse/datetime64';

/**
 * kumiki.segments.changes as the write-ahead log of segment membership.
 *
 * `publish` sends changes in ONE Kafka transaction (transactional id fixed per evaluator
 * instance) and resolves, after the commit, with the partition and offset each change got. Each
 * record's partition is set explicitly to the default partitioner's choice for its key (the
 * profile id), so the offsets can be told from the broker's base offset per partition.
 * `replay` reads the committed changes after given offsets (read_committed), for recovery.
 */
export interface PublishedChange {
  readonly change: SegmentChange;
  readonly partition: number;
  readonly offset: bigint;
}

export interface SegmentChangeLogDeps {
  readonly kafka: KafkaClient;
  readonly topic: TopicSpec;
  readonly transactionalId: string;
  readonly encode: (topic: string, value: SegmentChange) => Buffer;
  readonly decode: (buffer: Buffer) => Promise<SegmentChange>;
  readonly logger: Logger;
  /** Records per produce request inside a transaction (a sweep may publish many). */
  readonly chunkSize?: number;
}

/** Test hooks: awaited at the named moment of a publish (fault injection). */
export interface PublishHooks {
  readonly afterSend?: () => Promise<void>;
}

export class SegmentChangeLog {
  private producer: TransactionalProducer | undefined;
  private partitions = 0;

  constructor(private readonly deps: SegmentChangeLogDeps) {}

  get topic(): string {
    return this.deps.topic.name;
  }

  /**
   * Makes sure the topic exists, learns its partition count, and connects the transactional
   * producer — which fences any earlier holder of the transactional id and aborts the
   * transaction it left open (or completes one it had already committed) BEFORE recovery reads
   * the topic, so read_committed then sees a settled log.
   */
  async connect(): Promise<void> {
    const admin = this.deps.kafka.admin();
    await admin.connect();
    try {
      await admin.ensureTopics([this.deps.topic]);
      this.partitions = await admin.partitionCount(this.deps.topic.name);
    } finally {
      await admin.disconnect().catch(() => undefined);
    }
    if (this.partitions < 1)
      throw new InternalError(`topic ${this.deps.topic.name} has no partitions`, { topic: this.deps.topic.name });
    this.producer = this.deps.kafka.transactionalProducer({ transactionalId: this.deps.transactionalId });
    await this.producer.connect();
  }

  async disconnect(): Promise<void> {
    await this.producer?.disconnect().catch(() => undefined);
    this.producer = undefined;
  }

  /** Publishes `changes` atomically; resolves after the commit with each change's offset, in input order. */
  async publish(changes: readonly SegmentChange[], hooks: PublishHooks = {}): Promise<PublishedChange[]> {
    if (changes.length === 0) return [];
    if (!this.producer) throw new InternalError('segment change log used before connect', { topic: this.topic });
    const chunkSize = this.deps.chunkSize ?? 1_000;
    const transaction = await this.producer.begin();
    const published: PublishedChange[] = [];
    try {
      for (let i = 0; i < changes.length; i += chunkSize) {
        const chunk = changes.slice(i, i + chunkSize);
        const placed = chunk.map((change) => ({
          change,
          partition: partitionForKey(change.profileId, this.partitions),
        }));
        const messages: OutgoingMessage[] = placed.map(({ change, partition }) => ({
          key: change.profileId,
          value: this.deps.encode(this.topic, change),
          partition,
        }));
        const sent = await transaction.send([{ topic: this.topic, messages }]);
        const base = new Map((sent ?? []).map((s) => [s.partition, BigInt(s.baseOffset)]));
        const next = new Map<number, bigint>();
        for (const { change, partition } of placed) {
          const start = base.get(partition);
          if (start === undefined || start < 0n)
            throw new InternalError('the broker did not report the offset of a produced change', {
              topic: this.topic,
              partition,
            });
          const offset = next.get(partition) ?? start;
          next.set(partition, offset + 1n);
          published.push({ change, partition, offset });
        }
      }
      await hooks.afterSend?.();
      await transaction.commit();
      return published;
    } catch (error) {
      await transaction
        .abort()
        .catch((abortError: unknown) =>
          this.deps.logger.warn({ error: String(abortError) }, 'aborting the segment change transaction failed'),
        );
      throw error;
    }
  }

  /**
   * Reads the committed changes after `applied` (partition → highest applied offset) to the
   * current end of the topic, handing them on in batches. Resolves with the number handed on.
   */
  async replay(
    applied: ReadonlyMap<number, bigint>,
    onChanges: (changes: PublishedChange[]) => Promise<void>,
  ): Promise<number> {
    let handed = 0;
    const fromOffsets = new Map([...applied].map(([partition, offset]) => [partition, String(offset + 1n)]));
    await this.deps.kafka.readToEnd({
      topic: this.topic,
      groupIdPrefix: `${this.deps.transactionalId}-recovery`,
      fromOffsets,
      onBatch: async (messages) => {
        const batch: PublishedChange[] = [];
        for (const message of messages) {
          const offset = BigInt(message.offset);
          if (message.value === null || offset <= (applied.get(message.partition) ?? -1n)) continue;
          batch.push({ change: await this.deps.decode(message.value), partition: message.partition, offset });
        }
        if (batch.length > 0) await onChanges(batch);
        handed += batch.length;
      },
    });
    return handed;
  }
}

/** The segment_members_store row a published change leaves: the same for the first write and any replay of it. */
export function memberRow(published: PublishedChange): MemberRow {
  const { change, partition, offset } = published;
  return {
    segment_id: change.segmentId,
    profile_id: change.profileId,
    is_member: change.change === 'entered' ? 1 : 0,
    since: dateTime64Text(change.at),
    changed_at: dateTime64Text(change.at),
    version: String(offset + 1n),
    source_partition: partition,
    source_offset: String(offset),
  };
}

/**
 * How a change came about: an incremental run (profiles a batch touched), the scheduled sweep,
 * or an erasure (its exits, reason `erased`).
 */
export type Evaluation = 'incremental' | 'scheduled' | 'erasure';

/** The SegmentChange record of one profile's entry into or exit from a segment. */
export function toChange(
  segment: Pick<EvaluatedSegment, 'id' | 'name'>,
  diff: MembershipDiff,
  at: number,
  evaluation: Evaluation,
): SegmentChange {
  return {
    segmentId: segment.id,
    segmentName: segment.name,
    profileId: diff.profileId,
    change: diff.entered ? 'entered' : 'exited',
    at,
    evaluation,
    reason: null,
  };
}
