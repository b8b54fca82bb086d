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

export function frame(schemaId: number, body: Buffer): Buffer {
  const out = Buffer.allocUnsafe(HEADER_LENGTH + body.length);
  out.writeUInt8(MAGIC_BYTE, 0);
  out.writeInt32BE(schemaId, 1);
  body.copy(out, HEADER_LENGTH);
  return out;
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
