/**
 * kafkajs is patched for speed (patches/kafkajs+2.2.4.patch: in-place varints, a small-number
 * path for varlongs, unzeroed encoder buffers, linear grouping by partition). These check the
 * patched code still writes Kafka's wire format: varints against an independent zigzag/LEB128
 * reference, and records and batches through kafkajs' own decoders.
 */
/* eslint-disable @typescript-eslint/no-require-imports */
const Encoder = require('kafkajs/src/protocol/encoder') as new () => { writeVarInt(v: number): unknown; writeVarLong(v: number | bigint): unknown; buffer: Buffer };
const Decoder = require('kafkajs/src/protocol/decoder') as new (buffer: Buffer) => { readVarLong(): { toString(): string } };
const Record = require('kafkajs/src/protocol/recordBatch/record/v0') as (record: object) => { buffer: Buffer };
const RecordDecoder = require('kafkajs/src/protocol/recordBatch/record/v0/decoder') as (decoder: unknown, context: object) => { key: Buffer; value: Buffer; offset: string; timestamp: string; headers: Record<string, Buffer> };
const groupMessagesPerPartition = require('kafkajs/src/producer/groupMessagesPerPartition') as (args: object) => Record<string, { key: string }[]>;
/* eslint-enable @typescript-eslint/no-require-imports */

function referenceVarLong(value: bigint): Buffer {
  let zigzag = BigInt.asUintN(64, (value << 1n) ^ (value >> 63n));
  const bytes: number[] = [];
  while (zigzag >= 0x80n) {
    bytes.push(Number(zigzag & 0x7fn) | 0x80);
    zigzag >>= 7n;
  }
  bytes.push(Number(zigzag));
  return Buffer.from(bytes);
}

const edges = [0, 1, -1, 63, 64, -64, -65, 127, 128, 300, -300, 8191, 8192, 2 ** 20, -(2 ** 20), 2 ** 30 - 1, -(2 ** 30), 2 ** 30, -(2 ** 30) - 1, 2 ** 31 - 1, -(2 ** 31)];

describe('patched kafkajs protocol encoding', () => {
  it('writes varints and varlongs as zigzag LEB128, on both sides of the small-number path', () => {
    for (const value of edges) {
      const varint = new Encoder();
      varint.writeVarInt(value);
      expect({ value, bytes: varint.buffer.toString('hex') }).toEqual({ value, bytes: referenceVarLong(BigInt(value)).toString('hex') });
    }
    for (const value of [...edges, Date.UTC(2026, 10, 23), -Date.UTC(2026, 10, 23), Number.MAX_SAFE_INTEGER]) {
      const varlong = new Encoder();
      varlong.writeVarLong(value);
      expect({ value, bytes: varlong.buffer.toString('hex') }).toEqual({ value, bytes: referenceVarLong(BigInt(value)).toString('hex') });
      expect(new Decoder(varlong.buffer).readVarLong().toString()).toBe(String(value));
    }
  });

  it('encodes records that kafkajs decodes back to the same key, value, headers, offset and time', () => {
    const value = Buffer.alloc(3000, 7); // larger than the default encoder buffer
    for (const timestampDelta of [0, 5, 2 ** 31]) {
      const encoded = Record({ offsetDelta: 3, timestampDelta, key: Buffer.from('prof_1'), value, headers: { source: 'web' } }).buffer;
      const decoder = new (require('kafkajs/src/protocol/decoder'))(encoded); // eslint-disable-line @typescript-eslint/no-require-imports
      decoder.readVarInt(); // record length
      const record = RecordDecoder(decoder, { firstOffset: '100', firstTimestamp: '1000', magicByte: 2 });
      expect(record.key.toString()).toBe('prof_1');
      expect(record.value.equals(value)).toBe(true);
      expect(record.headers.source?.toString()).toBe('web');
      expect(record.offset).toBe('103');
      expect(record.timestamp).toBe(String(1000 + timestampDelta));
    }
  });

  it('groups messages by partition keeping their order', () => {
    const messages = Array.from({ length: 1000 }, (_, i) => ({ key: `k${i}`, partition: i % 3 }));
    const grouped = groupMessagesPerPartition({ topic: 't', partitionMetadata: [{}, {}, {}], messages, partitioner: ({ message }: { message: { partition: number } }) => message.partition });
    expect(Object.keys(grouped).sort()).toEqual(['0', '1', '2']);
    expect(grouped['1']!.map((m) => m.key)).toEqual(messages.filter((m) => m.partition === 1).map((m) => m.key));
  });
});
