import type { Event, IdentityChange, IdentityGraphRecord } from '../../schemas';
import { schema } from '../../schemas';
import type { MessageBatch, OutgoingMessage } from '../common/kafka/messages';
import type { TopicMessages } from '../common/kafka/outgoing-messages';
import { RecordSets } from '../common/kafka/record-sets';
import { encodeFramedInScratch, framedScratch, type AvroCodec } from '../common/registry';
import type { Rejection } from '../common/result-handler';
import type { Resolution } from './identity/identity-graph';
import { StitchedEventWriter } from './stitched-event.writer';

export interface StitcherTopics {
  readonly raw: string;
  readonly json: string;
  readonly stitched: string;
  readonly changes: string;
  readonly graph: string;
  readonly deadLetters: string;
  /** Privacy requests in, their answers out (kumiki.privacy.requests). */
  readonly privacy: string;
  /** The compacted memory of erased and suppressed people (kumiki.privacy.subjects). */
  readonly subjects: string;
}

/** A privacy request carried out, for the metrics: its type and the subject's outcome. */
export interface CarriedOut {
  readonly type: string;
  readonly outcome: string;
}

/** One input batch's outputs, waiting for its transaction (see StitcherSession). */
export interface StitchedBatch {
  readonly topic: string;
  readonly partition: number;
  /** Records in the input batch, whatever became of them. */
  readonly size: number;
  /** Stitched events, identity changes and graph records, written in Kafka's record format. */
  readonly records: RecordSets;
  /** Records written as plain messages: graph tombstones, privacy answers and SubjectMemory records (few). */
  readonly messages: readonly TopicMessages[];
  readonly rejections: readonly Rejection[];
  readonly stitchedCount: number;
  /** Records dropped, by the step that dropped them. */
  readonly drops: ReadonlyMap<string, number>;
  readonly privacyRequests: readonly CarriedOut[];
  /** Offset to commit for the batch's partition: its last record + 1. */
  readonly nextOffset: string;
}

/**
 * Where one batch's outputs are assembled before they go into its transaction: every resolved
 * record's stitched event, identity changes and graph records, and every rejection, in offset
 * order. Output that must commit with the batch (another topic, say) is added here.
 */
export class StitchedBatchOutputs {
  private readonly records: RecordSets;
  private readonly rejections: Rejection[] = [];
  private readonly drops = new Map<string, number>();
  private readonly messages = new Map<string, OutgoingMessage[]>();
  private readonly privacyRequests: CarriedOut[] = [];
  private stitchedCount = 0;

  constructor(
    private readonly writers: OutputWriters,
    outputPartitions: ReadonlyMap<string, number>,
    private readonly stitchedAt: number,
  ) {
    this.records = new RecordSets(outputPartitions, stitchedAt);
  }

  /** A resolved record: `written` is its own-schema record (its body is reused) or its event. */
  stitched(resolution: Resolution, written: Buffer | Event): void {
    const { records, writers, stitchedAt } = this;
    this.stitchedCount += 1;
    const head = { profileId: resolution.profileId, identifiers: resolution.linked, stitchedAt };
    writers.stitched(records, resolution.profileId, head, written);
    for (const change of resolution.changes)
      writers.change(records, change.profileId, { ...change, changedAt: stitchedAt });
    for (const record of resolution.graphRecords)
      writers.graphRecord(records, `${record.identifier.type}:${record.identifier.value}`, record);
  }

  dropped(step: string): void {
    this.drops.set(step, (this.drops.get(step) ?? 0) + 1);
  }

  rejected(rejection: Rejection): void {
    this.rejections.push(rejection);
  }

  /** A record written as a plain message (null: a tombstone), in the order added per topic. */
  message(topic: string, key: string, value: Buffer | null): void {
    const list = this.messages.get(topic) ?? [];
    if (list.length === 0) this.messages.set(topic, list);
    list.push({ key, value });
  }

  privacyRequest(carriedOut: CarriedOut): void {
    this.privacyRequests.push(carriedOut);
  }

  /** The batch's outputs; the batch itself is not kept (kafkajs' records die once the handler returns). */
  finish(batch: MessageBatch): StitchedBatch {
    return {
      topic: batch.topic,
      partition: batch.partition,
      size: batch.messages.length,
      records: this.records,
      messages: [...this.messages].map(([topic, messages]) => ({ topic, messages })),
      rejections: this.rejections,
      stitchedCount: this.stitchedCount,
      drops: this.drops,
      privacyRequests: this.privacyRequests,
      nextOffset: (BigInt(batch.messages[batch.messages.length - 1]!.offset) + 1n).toString(),
    };
  }
}

export interface OutputWriters {
  stitched(records: RecordSets, key: string, head: StitchedHead, written: Buffer | Event): void;
  change(records: RecordSets, key: string, value: IdentityChange): void;
  graphRecord(records: RecordSets, key: string, value: IdentityGraphRecord): void;
}

type StitchedHead = Parameters<StitchedEventWriter['append']>[3];

/**
 * Writers for the three outputs, bound to the ids the registry gave their schemas. They skip
 * the codec's per-field validation: every value is built here from typed objects (events were
 * validated when decoded), and avsc still throws on a value that does not fit — which the
 * stitcher treats as fatal, like any failure after the graph changed.
 */
export function outputWriters(codec: Pick<AvroCodec, 'schemaIdOf'>, topics: StitcherTopics): OutputWriters {
  const idOf = (topic: string): number => {
    const id = codec.schemaIdOf(topic);
    if (id === undefined) throw new Error(`no schema registered for ${topic}`);
    return id;
  };
  const writer = <T>(
    topic: string,
    name: 'IdentityChange' | 'IdentityGraphRecord',
  ): ((records: RecordSets, key: string, value: T) => void) => {
    const id = idOf(topic);
    const type = schema(name).type;
    return (records, key, value) => {
      const end = encodeFramedInScratch(id, type, value);
      records.append(topic, key, framedScratch(), 0, end);
    };
  };
  const stitched = new StitchedEventWriter(idOf(topics.stitched));
  return {
    stitched: (records, key, head, written) => stitched.append(records, topics.stitched, key, head, written),
    change: writer<IdentityChange>(topics.changes, 'IdentityChange'),
    graphRecord: writer<IdentityGraphRecord>(topics.graph, 'IdentityGraphRecord'),
  };
}
