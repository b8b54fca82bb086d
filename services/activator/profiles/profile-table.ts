import type { ProfileUpdate } from '../../../schemas';
import { schema } from '../../../schemas';
import type { IncomingMessage, KafkaAdmin, KafkaClient } from '../../common/kafka/client';
import type { Logger } from '../../common/logger';
import type { Gauge } from '../../common/metrics';
import type { AvroCodec } from '../../common/registry/avro-codec';
import { TopicTable } from '../topic-table';

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
export class ProfileTable extends TopicTable {
  readonly name = 'profile table';
  private readonly profiles = new Map<string, string>();

  constructor(private readonly deps: ProfileTableDeps) {
    super(deps, 'kumiki-activator-profiles');
  }

  protected apply(messages: readonly IncomingMessage[]): void {
    for (const message of messages) {
      const id = message.key?.toString('utf8');
      if (!id) continue;
      if (message.value === null) this.profiles.delete(id);
      else this.profiles.set(id, message.value.toString('latin1'));
    }
    this.deps.size?.set(this.profiles.size);
  }

  protected summary(): Record<string, unknown> {
    return { profiles: this.profiles.size };
  }

  get size(): number {
    return this.profiles.size;
  }

  /**
   * The profile's latest update, or undefined when there is none (never seen, or erased); a
   * promise only when its writer schema has not been met yet.
   */
  get(profileId: string): ProfileUpdate | undefined | Promise<ProfileUpdate> {
    const bytes = this.profiles.get(profileId);
    if (bytes === undefined) return undefined;
    const decoded = this.deps
      .codec()
      .decodeNowOrLater<ProfileUpdate>(Buffer.from(bytes, 'latin1'), schema('ProfileUpdate').type);
    return decoded instanceof Promise ? decoded.then(({ value }) => value) : decoded.value;
  }

  /** Resolves once the table has read the record at `offset` of `partition`. */
  holds(partition: number, offset: string): Promise<void> {
    return this.readPast(partition, offset);
  }
}
