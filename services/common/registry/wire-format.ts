import type * as avro from 'avsc';
import { InvalidInputError } from '../errors';

/**
 * The Confluent wire format every Avro record on kumiki's topics uses (DESIGN.md): one magic
 * byte 0, the writer schema's registry id as a 4-byte big-endian integer, then the Avro
 * binary body. Readers find the writer schema from the id, so producers with older (or
 * newer) schemas stay readable.
 */
export const MAGIC_BYTE = 0;
export const HEADER_LENGTH = 5;

export interface WireFrame {
  readonly schemaId: number;
  /** The Avro body (a view into the original buffer, not a copy). */
  readonly body: Buffer;
}

/** One scratch buffer per process: records are encoded into it, then copied out at their exact size. */
let scratch = Buffer.allocUnsafe(64 * 1024);

/**
 * `value` encoded with `type` in the wire format, followed by `suffix` from `suffixStart` on if
 * given (the bytes of fields the caller already holds encoded). avsc's own `toBuffer`
 * zero-fills a buffer and copies into it, and framing copied once more; this is one unfilled
 * allocation and one copy.
 * It does not validate: callers validate (AvroCodec.encode) or build values from typed objects.
 */
export function encodeFramed(
  schemaId: number,
  type: avro.Type,
  value: unknown,
  suffix?: Buffer,
  suffixStart = 0,
): Buffer {
  const end = encodeFramedInScratch(schemaId, type, value);
  const out = Buffer.allocUnsafe(end + (suffix === undefined ? 0 : suffix.length - suffixStart));
  scratch.copy(out, 0, 0, end);
  suffix?.copy(out, end, suffixStart);
  return out;
}

/**
 * `value` encoded in the wire format into the shared scratch buffer (`framedScratch()`), whose
 * first bytes it returns the end of: for writers that copy the bytes elsewhere at once.
 */
export function encodeFramedInScratch(schemaId: number, type: avro.Type, value: unknown): number {
  scratch[0] = MAGIC_BYTE;
  scratch.writeInt32BE(schemaId, 1);
  let end = type.encode(value, scratch, HEADER_LENGTH);
  if (end < 0) {
    // avsc answers how many bytes were missing; grow past them and write again.
    const grown = Buffer.allocUnsafe(2 * (scratch.length - end));
    scratch.copy(grown, 0, 0, HEADER_LENGTH);
    scratch = grown;
    end = type.encode(value, scratch, HEADER_LENGTH);
  }
  return end;
}

/** The buffer `encodeFramedInScratch` wrote into (it may grow, so ask after each call). */
export function framedScratch(): Buffer {
  return scratch;
}

/** Splits a wire-format buffer; anything else is an InvalidInputError (never retried). */
export function unframe(buffer: Buffer): WireFrame {
  if (!Buffer.isBuffer(buffer) || buffer.length < HEADER_LENGTH) {
    throw new InvalidInputError(
      `not a schema-registry Avro message: ${Buffer.isBuffer(buffer) ? `${buffer.length} bytes, shorter than the 5-byte header` : 'not a buffer'}`,
      { field: 'value' },
    );
  }
  const magic = buffer.readUInt8(0);
  if (magic !== MAGIC_BYTE) {
    throw new InvalidInputError(
      `not a schema-registry Avro message: magic byte is ${magic} (0x${magic.toString(16).padStart(2, '0')}), expected 0` +
        (magic === 0x7b ? ' (the value looks like JSON; JSON events go to kumiki.events.json)' : ''),
      { field: 'value', magicByte: magic },
    );
  }
  return { schemaId: buffer.readInt32BE(1), body: buffer.subarray(HEADER_LENGTH) };
}
