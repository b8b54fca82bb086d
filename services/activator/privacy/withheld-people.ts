import { performance } from 'node:perf_hooks';
import type { SubjectMemory } from '../../../schemas';
import { schema } from '../../../schemas';
import type { IncomingMessage, KafkaAdmin, KafkaClient } from '../../common/kafka/client';
import type { Logger } from '../../common/logger';
import type { AvroCodec } from '../../common/registry/avro-codec';
import type { SubjectFilter } from '../delivery/consent';
import { TopicTable } from '../topic-table';
import type { ProfileIdHasher } from './profile-id-hashes';

export interface WithheldPeopleDeps {
  readonly kafka: KafkaClient;
  readonly admin: () => KafkaAdmin;
  readonly codec: () => AvroCodec;
  /** kumiki.privacy.subjects: the stitcher's memory of erased and suppressed people. */
  readonly topic: string;
  readonly key: ProfileIdHasher;
  readonly logger: Logger;
}

type Kind = 'erased' | 'suppressed';

/**
 * The people no destination may receive: erased or suppressed by a privacy request. Read from
 * the compacted kumiki.privacy.subjects, which the identity stitcher writes in the same
 * transaction as it changes the graph — before the materializer starts carrying the request out
 * — so the person is withheld from the moment the request is resolved, well before their
 * profile's tombstone. Profile ids are known only as keyed hashes there (the privacy key), so
 * each check hashes the profile id (a few µs). Merged-away profile ids of an erased person arrive
 * with the deletion notice (`withholdErased`). A tombstone lifts a suppression.
 *
 * `current()` is the barrier every send passes: the table has read everything the topic held at
 * some moment after the call, so a change queued before the request, a retry, or a dead letter
 * replayed later is withheld once the request was resolved.
 */
export class WithheldPeople extends TopicTable implements SubjectFilter {
  readonly name = 'withheld people';
  /** Profile id hash → record key → why. */
  private readonly byHash = new Map<string, Map<string, Kind>>();
  /** Record key → the hashes it holds (to lift a suppression). */
  private readonly records = new Map<string, readonly string[]>();
  private readonly reader = schema('SubjectMemory').type;

  constructor(private readonly deps: WithheldPeopleDeps) {
    super(deps, 'kumiki-activator-subjects');
  }

  protected async apply(messages: readonly IncomingMessage[]): Promise<void> {
    for (const message of messages) {
      const recordKey = message.key?.toString('utf8');
      if (!recordKey) continue;
      if (message.value === null) {
        this.hold(recordKey, undefined, []);
        continue;
      }
      const { value } = await this.deps.codec().decodeNowOrLater<SubjectMemory>(message.value, this.reader);
      if (value.kind !== 'executed') this.hold(recordKey, value.kind, value.profileIdHashes);
    }
  }

  protected summary(): Record<string, unknown> {
    return { withheld: this.byHash.size };
  }

  withheld(profileId: string): string | undefined {
    if (this.byHash.size === 0) return undefined;
    const reasons = this.byHash.get(this.deps.key.hashProfileId(profileId));
    if (!reasons) return undefined;
    const kinds = new Set(reasons.values());
    return kinds.has('erased') ? 'erased by a privacy request' : 'suppressed by a privacy request';
  }

  current(): Promise<void> {
    return this.caughtUpSince(performance.now());
  }

  /** Profile ids an erase named (merged-away ones included), from its deletion notice. */
  withholdErased(requestId: string, profileIds: readonly string[]): void {
    this.hold(
      `notice:${requestId}`,
      'erased',
      profileIds.map((id) => this.deps.key.hashProfileId(id)),
    );
  }

  get size(): number {
    return this.byHash.size;
  }

  private hold(recordKey: string, kind: Kind | undefined, hashes: readonly string[]): void {
    for (const hash of this.records.get(recordKey) ?? []) {
      const reasons = this.byHash.get(hash);
      reasons?.delete(recordKey);
      if (reasons?.size === 0) this.byHash.delete(hash);
    }
    this.records.delete(recordKey);
    if (kind === undefined) return;
    this.records.set(recordKey, hashes);
    for (const hash of hashes) {
      let reasons = this.byHash.get(hash);
      if (!reasons) this.byHash.set(hash, (reasons = new Map()));
      reasons.set(recordKey, kind);
    }
  }
}
