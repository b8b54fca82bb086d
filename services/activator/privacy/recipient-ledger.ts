import { performance } from 'node:perf_hooks';
import type { DestinationRecipient } from '../../../schemas';
import type {
  EventProducer,
  IncomingMessage,
  KafkaAdmin,
  KafkaClient,
  OutgoingMessage,
} from '../../common/kafka/client';
import { LingerQueue } from '../../common/linger-queue';
import type { Logger } from '../../common/logger';
import type { AvroCodec } from '../../common/registry/avro-codec';
import { TopicTable } from '../topic-table';
import type { ProfileIdHasher } from './profile-id-hashes';

export interface RecipientLedgerDeps {
  readonly kafka: KafkaClient;
  readonly admin: () => KafkaAdmin;
  readonly producer: () => Pick<EventProducer, 'send'>;
  readonly codec: () => AvroCodec;
  /** kumiki.destinations.recipients (compacted). */
  readonly topic: string;
  readonly key: ProfileIdHasher;
  readonly logger: Logger;
  readonly now?: () => number;
}

/** What a delivery needs of the ledger. */
export interface RecipientRecorder {
  /**
   * Resolves once it is durable that `destinationId` is being sent something about `profileId`;
   * undefined when it already was.
   */
  remember(destinationId: string, profileId: string): Promise<void> | undefined;
}

export const noRecipientRecorder: RecipientRecorder = { remember: () => undefined };

/**
 * Which destination was sent which person, so that an erasure reaches every destination that
 * holds them and no other. Written before the first attempt of a destination's first change
 * about a profile (acks=all), so a delivery that reached the receiver is always on record — a
 * crash between the two costs at most a notice to a destination that never got the person.
 * Only the first delivery per pair writes; after that it is a lookup. Profiles are named by keyed
 * hash (the privacy key): the ledger never holds an identifier, and outlives nothing it should
 * not — the pair is tombstoned once its deletion notice went out.
 *
 * Memory: one entry per (destination, profile) pair ever delivered, about 100 bytes each.
 */
export class RecipientLedger extends TopicTable implements RecipientRecorder {
  readonly name = 'recipient ledger';
  /** Profile id hash → destination ids. */
  private readonly byProfile = new Map<string, Set<string>>();

  /** A destination's first changes about many people share one produce rather than one each. */
  private readonly writes = new LingerQueue<OutgoingMessage>({
    lingerMs: 2,
    maxBatch: 500,
    send: (messages) => this.deps.producer().send(this.deps.topic, messages),
  });

  constructor(private readonly deps: RecipientLedgerDeps) {
    super(deps, 'kumiki-activator-recipients');
  }

  protected apply(messages: readonly IncomingMessage[]): void {
    for (const message of messages) {
      const key = message.key?.toString('utf8');
      const split = key?.lastIndexOf(':') ?? -1;
      if (!key || split < 0) continue;
      const destinationId = key.slice(0, split);
      const hash = key.slice(split + 1);
      if (message.value === null) this.drop(destinationId, hash);
      else this.add(destinationId, hash);
    }
  }

  protected summary(): Record<string, unknown> {
    return { profiles: this.byProfile.size };
  }

  remember(destinationId: string, profileId: string): Promise<void> | undefined {
    const hash = this.deps.key.hashProfileId(profileId);
    if (this.byProfile.get(hash)?.has(destinationId)) return undefined;
    const record: DestinationRecipient = { destinationId, profileIdHash: hash, firstAt: (this.deps.now ?? Date.now)() };
    return this.writes
      .push({ key: `${destinationId}:${hash}`, value: this.deps.codec().encode(this.deps.topic, record) })
      .then(() => this.add(destinationId, hash));
  }

  /** The destinations that were sent something about this profile (every instance's sends, once read). */
  async destinationsOf(profileId: string): Promise<string[]> {
    await this.caughtUpSince(performance.now());
    return [...(this.byProfile.get(this.deps.key.hashProfileId(profileId)) ?? [])];
  }

  /** The destination's notice went out: the pair is forgotten. */
  async forget(destinationId: string, profileId: string): Promise<void> {
    const hash = this.deps.key.hashProfileId(profileId);
    await this.deps.producer().send(this.deps.topic, [{ key: `${destinationId}:${hash}`, value: null }]);
    this.drop(destinationId, hash);
  }

  private add(destinationId: string, hash: string): void {
    let destinations = this.byProfile.get(hash);
    if (!destinations) this.byProfile.set(hash, (destinations = new Set()));
    destinations.add(destinationId);
  }

  private drop(destinationId: string, hash: string): void {
    const destinations = this.byProfile.get(hash);
    destinations?.delete(destinationId);
    if (destinations?.size === 0) this.byProfile.delete(hash);
  }
}
