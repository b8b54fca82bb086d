import type { Destination, DestinationDeadLetter } from '../../../schemas';
import { schema } from '../../../schemas';
import type { KafkaAdmin, KafkaClient } from '../../common/kafka/client';
import { partitionForKey } from '../../common/kafka/partitioner';
import type { AvroCodec } from '../../common/registry/avro-codec';
import type { ChangeOutcome, DestinationRuntime } from './deliver-change';
import { receivedNow } from './deliver-change';
import type { DeliveryJob } from './delivery-scheduler';

export interface DeadLetterReplayDeps {
  readonly kafka: KafkaClient;
  readonly admin: () => KafkaAdmin;
  readonly codec: () => AvroCodec;
  readonly topic: string;
  readonly deliver: (job: DeliveryJob, runtime: DestinationRuntime) => Promise<ChangeOutcome>;
}

export interface DeadLetterPage {
  readonly deadLetters: readonly (DestinationDeadLetter & { readonly offset: string })[];
  readonly next: string | null;
}

export interface ReplayReport {
  readonly replayed: number;
  readonly delivered: number;
  readonly deadLettered: number;
  readonly withheld: number;
  readonly skipped: number;
  /** Where the next replay of this destination starts. */
  readonly cursor: string;
  /** Dead letters after the cursor not replayed by this call (the limit). */
  readonly remaining: boolean;
}

/**
 * A destination's dead letters: they share a partition of kumiki.destinations.dlq (keyed by
 * destination id) with other destinations' and are read from it on demand. A replay takes the
 * ones after the destination's cursor, up to a limit, and delivers each again through the same
 * path as a live change — consent checked now, the same webhook-id — then moves the cursor past
 * them. A change that fails again is dead-lettered again (after the cursor, for a later
 * replay); one the replay could not finish (a stop) keeps the cursor before it.
 */
export class DeadLetterReplay {
  constructor(private readonly deps: DeadLetterReplayDeps) {}

  /** The destination's dead letters from `from` (an offset; default its cursor), oldest first. */
  async list(destination: Destination, from: string | undefined, limit: number): Promise<DeadLetterPage> {
    const found: (DestinationDeadLetter & { offset: string })[] = [];
    let next: string | null = null;
    await this.read(destination, from ?? String(destination.deadLetterCursor), async (letter, offset) => {
      if (found.length === limit) {
        next = offset;
        return false;
      }
      found.push({ ...letter, offset });
      return true;
    });
    return { deadLetters: found, next };
  }

  async replay(
    destination: Destination,
    runtime: DestinationRuntime,
    limit: number,
    signal: AbortSignal,
  ): Promise<ReplayReport> {
    const counts: Record<ChangeOutcome, number> = { delivered: 0, dead_lettered: 0, withheld: 0, skipped: 0 };
    let cursor = BigInt(destination.deadLetterCursor);
    let replayed = 0;
    let remaining = false;
    await this.read(
      destination,
      cursor.toString(),
      async (letter, offset) => {
        if (replayed === limit) {
          remaining = true;
          return false;
        }
        const job: DeliveryJob = {
          message: {
            topic: letter.originalTopic,
            partition: letter.originalPartition,
            offset: String(letter.originalOffset),
            key: letter.originalKey,
            value: letter.originalValue.length === 0 ? null : letter.originalValue,
            headers: {},
            timestamp: String(letter.failedAt),
          },
          receivedAt: receivedNow(),
          signal,
        };
        counts[await this.deps.deliver(job, runtime)] += 1;
        replayed += 1;
        cursor = BigInt(offset) + 1n;
        return true;
      },
      (passed) => {
        if (!remaining && passed > cursor) cursor = passed;
      },
    );
    return {
      replayed,
      delivered: counts.delivered,
      deadLettered: counts.dead_lettered,
      withheld: counts.withheld,
      skipped: counts.skipped,
      cursor: cursor.toString(),
      remaining,
    };
  }

  /**
   * Reads the destination's partition from `from` to its current end, handing on the dead
   * letters keyed by this destination; `passedTo` learns how far the read got with none left.
   */
  private async read(
    destination: Destination,
    from: string,
    each: (letter: DestinationDeadLetter, offset: string) => Promise<boolean>,
    passedTo?: (offset: bigint) => void,
  ): Promise<void> {
    const admin = this.deps.admin();
    const partitions = await admin.partitionCount(this.deps.topic);
    const partition = partitionForKey(destination.id, partitions);
    const end = (await admin.endOffsets(this.deps.topic)).get(partition) ?? '0';
    const reader = schema('DestinationDeadLetter').type;
    let stopped = false;
    await this.deps.kafka.readRange({
      topic: this.deps.topic,
      partition,
      from,
      to: end,
      groupIdPrefix: 'kumiki-activator-dead-letters',
      onBatch: async (messages) => {
        for (const message of messages) {
          if (message.key?.toString('utf8') !== destination.id || message.value === null) continue;
          const { value } = await this.deps.codec().decodeNowOrLater<DestinationDeadLetter>(message.value, reader);
          if (!(await each(value, message.offset))) {
            stopped = true;
            return false;
          }
        }
        return true;
      },
    });
    if (!stopped) passedTo?.(BigInt(end));
  }
}
