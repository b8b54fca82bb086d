import type * as avro from 'avsc';
import type { IdentityChange, StitchedEvent } from '../../../schemas';
import { errorMessage } from '../../common/errors';
import type { IncomingMessage } from '../../common/kafka/messages';
import { step, type Step } from '../../common/pipeline';
import { dlq, drop, ok, type DeadLetterVerdict } from '../../common/step-result';

/** A record of either input topic, decoded. */
export type MaterializerRecord =
  | { readonly kind: 'event'; readonly event: StitchedEvent }
  | { readonly kind: 'change'; readonly change: IdentityChange };

export interface DecodeRecordDeps {
  /** At once when the writer schema is known, else a promise that fetches it (AvroCodec.decodeNowOrLater). */
  readonly decode: <T>(buffer: Buffer, reader: avro.Type) => { value: T } | Promise<{ value: T }>;
  readonly readers: { readonly stitched: avro.Type; readonly change: avro.Type };
  readonly topics: { readonly changes: string };
}

/**
 * A stitched event or an identity change, by the record's topic. A tombstone carries nothing to
 * materialize (dropped); bytes no reader can use are dead-lettered. Synchronous once the schema
 * is known: no promise and microtask turn per record.
 */
export function decodeRecordStep(deps: DecodeRecordDeps): Step<IncomingMessage, MaterializerRecord> {
  return step<IncomingMessage, MaterializerRecord>('decode-record', (message) => {
    if (message.value === null) return drop('tombstone');
    const undecodable = (error: unknown) => undecodableRecord(message, deps.topics, error);
    try {
      if (message.topic === deps.topics.changes) {
        const decoding = deps.decode<IdentityChange>(message.value, deps.readers.change);
        return decoding instanceof Promise
          ? decoding.then(({ value }) => ok({ kind: 'change', change: value }), undecodable)
          : ok({ kind: 'change', change: decoding.value });
      }
      const decoding = deps.decode<StitchedEvent>(message.value, deps.readers.stitched);
      return decoding instanceof Promise
        ? decoding.then(({ value }) => ok({ kind: 'event', event: value }), undecodable)
        : ok({ kind: 'event', event: decoding.value });
    } catch (error) {
      return undecodable(error);
    }
  });
}

/** The verdict on a record that cannot be read: its bytes, or the values in them (a time no date can hold, say). */
export function undecodableRecord(
  message: IncomingMessage,
  topics: { readonly changes: string },
  error: unknown,
): DeadLetterVerdict {
  const type = message.topic === topics.changes ? 'IdentityChange' : 'StitchedEvent';
  return dlq(`cannot decode a ${type}: ${errorMessage(error)}`, 'KUMIKI_INVALID_EVENT', { error });
}
