import type { Event } from '../../../schemas';
import { schema } from '../../../schemas';
import { HEADER_LENGTH, MAGIC_BYTE } from '../../common/registry/wire-format';
import type { IdentityRules } from '../identity/identity-rules';
import { IdentifierNormaliser } from '../identity/normalise';
import { linkRequestOf } from '../steps/link-request.step';
import { RequestPacker, valueAt, type PackedRequests, type PackedValues } from './packed';

/**
 * The link requests of a batch's records, off the stitcher's thread: decoding the Avro event
 * and reading its identifiers (JSON parsing of context and traits, normalisation) are most of
 * the per-event work that does not need the graph.
 *
 * Only the common case is answered here: a record in the wire format, written with our own
 * Event schema (`schemaId`), that decodes and yields a request. Anything else — another
 * writer schema, bad bytes, a dead letter, an error — is left without a request, and the stitcher's
 * thread takes it through its usual steps, so every outcome and dead-letter reason stays the
 * one those steps give.
 */
export class LinkRequestReader {
  private readonly eventType = schema('Event').type;
  private readonly normaliser: IdentifierNormaliser;

  constructor(private readonly rules: IdentityRules) {
    this.normaliser = new IdentifierNormaliser(rules);
  }

  read(values: PackedValues, schemaId: number): PackedRequests {
    const packer = new RequestPacker(values.ends.length);
    for (let i = 0; i < values.ends.length; i++) {
      const bytes = valueAt(values, i);
      if (bytes.length <= HEADER_LENGTH || bytes[0] !== MAGIC_BYTE || bytes.readInt32BE(1) !== schemaId) continue;
      try {
        const event = this.eventType.fromBuffer(bytes.subarray(HEADER_LENGTH)) as Event;
        const request = linkRequestOf(event, this.rules, this.normaliser);
        if (request.kind === 'ok') packer.set(i, request.value);
      } catch {
        // Undecodable, or a bug on this record: the stitcher's thread meets it as it would without this thread.
      }
    }
    return packer.finish();
  }
}
