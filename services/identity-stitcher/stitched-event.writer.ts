import * as avro from 'avsc';
import type { Event, StitchedEvent } from '../../schemas';
import { avroOptions, schema } from '../../schemas';
import type { RecordSets } from '../common/kafka/record-sets';
import { HEADER_LENGTH, encodeFramedInScratch, framedScratch } from '../common/registry';

/**
 * Writes `StitchedEvent`s in the wire format, reusing the input's Avro bytes when it can.
 *
 * Avro encodes a record as its fields' encodings one after the other, and `event` is the
 * last field of StitchedEvent. So when an input record was written with exactly our Event
 * schema (same registry id), its body already IS the encoding of the `event` field: the
 * stitched record is header + encode(profileId, identifiers, stitchedAt) + that body, with
 * no re-encoding of the event (half of the stitcher's encoding cost). Otherwise (JSON input,
 * another writer schema) the whole record is encoded. A unit test checks both give the same
 * bytes.
 */
export class StitchedEventWriter {
  private readonly full = schema('StitchedEvent').type;
  private readonly head: avro.Type;

  constructor(private readonly schemaId: number) {
    const json = schema('StitchedEvent').json;
    const last = json.fields[json.fields.length - 1] as { name?: string };
    if (last.name !== 'event') throw new Error('StitchedEvent must end with its event field for the byte splice');
    this.head = avro.Type.forSchema(
      { ...json, name: `${json.name}Head`, fields: json.fields.slice(0, -1) } as unknown as avro.Schema,
      { ...avroOptions, registry: {} },
    );
  }

  /**
   * Appends the record to `sets` under `key`. `event`: the input record (wire format) when it was
   * written with our Event schema, else the decoded event.
   */
  append(
    sets: RecordSets,
    topic: string,
    key: string,
    head: Omit<StitchedEvent, 'event'>,
    event: Buffer | Event,
  ): void {
    if (Buffer.isBuffer(event)) {
      const end = encodeFramedInScratch(this.schemaId, this.head, head);
      sets.append(topic, key, framedScratch(), 0, end, event, HEADER_LENGTH);
    } else {
      const end = encodeFramedInScratch(this.schemaId, this.full, { ...head, event });
      sets.append(topic, key, framedScratch(), 0, end);
    }
  }
}
