/**
 * kafkajs is patched for speed (patches/kafkajs+2.2.4.patch: in-place varints, a small-number
 * path for varlongs, unzeroed encoder buffers, linear grouping by partition, uncompressed
 * record batches written into one buffer, produce requests written once at their final size,
 * CRC-32C in native code or else eight bytes at a time, request frames built with one copy of
 * the payload). These check the patched code still writes Kafka's wire format: varints against an independent zigzag/LEB128 reference, the CRC against a bitwise
 * one, batches byte for byte against kafkajs' generic path, records and batches through
 * kafkajs' own decoders, and produce requests and request frames against ones built by hand.
 * Record sets written ahead by the stitcher (the patch's other addition) are checked in
 * record-sets.test.ts.
 */
import {
  Encoder,
  Decoder,
  Record,
  RecordDecoder,
  groupMessagesPerPartition,
  crc32C,
  crc32CInJavaScript,
  RecordBatch,
  RecordBatchDecoder,
  uncompressedPartition,
  Long,
  ProduceV3,
  createRequest,
  type PartitionArgs,
} from './kafkajs-internals';

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

const edges = [
  0,
  1,
  -1,
  63,
  64,
  -64,
  -65,
  127,
  128,
  300,
  -300,
  8191,
  8192,
  2 ** 20,
  -(2 ** 20),
  2 ** 30 - 1,
  -(2 ** 30),
  2 ** 30,
  -(2 ** 30) - 1,
  2 ** 31 - 1,
  -(2 ** 31),
];

describe('patched kafkajs protocol encoding', () => {
  it('writes varints and varlongs as zigzag LEB128, on both sides of the small-number path', () => {
    for (const value of edges) {
      const varint = new Encoder();
      varint.writeVarInt(value);
      expect({ value, bytes: varint.buffer.toString('hex') }).toEqual({
        value,
        bytes: referenceVarLong(BigInt(value)).toString('hex'),
      });
    }
    for (const value of [...edges, Date.UTC(2026, 10, 23), -Date.UTC(2026, 10, 23), Number.MAX_SAFE_INTEGER]) {
      const varlong = new Encoder();
      varlong.writeVarLong(value);
      expect({ value, bytes: varlong.buffer.toString('hex') }).toEqual({
        value,
        bytes: referenceVarLong(BigInt(value)).toString('hex'),
      });
      expect(new Decoder(varlong.buffer).readVarLong().toString()).toBe(String(value));
    }
  });

  it('encodes records that kafkajs decodes back to the same key, value, headers, offset and time', () => {
    const value = Buffer.alloc(3000, 7); // larger than the default encoder buffer
    for (const timestampDelta of [0, 5, 2 ** 31]) {
      const encoded = Record({
        offsetDelta: 3,
        timestampDelta,
        key: Buffer.from('prof_1'),
        value,
        headers: { source: 'web' },
      }).buffer;
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

  it('computes CRC-32C: the standard check value and a bitwise reference at every length', () => {
    const bitwise = (buffer: Buffer): number => {
      let crc = 0xffffffff;
      for (const byte of buffer) {
        crc ^= byte;
        for (let k = 0; k < 8; k++) crc = crc & 1 ? (crc >>> 1) ^ 0x82f63b78 : crc >>> 1;
      }
      return (crc ^ 0xffffffff) >>> 0;
    };
    for (const crc of [crc32C, crc32CInJavaScript]) {
      expect(crc(Buffer.from('123456789')).toString(16)).toBe('e3069283');
      let seed = 7;
      for (let length = 0; length < 70; length++) {
        const buffer = Buffer.from(
          Array.from({ length: length * 13 }, () => (seed = (seed * 1103515245 + 12345) % 2 ** 31) & 0xff),
        );
        expect({ length, crc: crc(buffer) }).toEqual({ length, crc: bitwise(buffer) });
      }
    }
  });

  it('computes the CRC in native code when @node-rs/crc32 loads, in JavaScript when it does not', () => {
    const load = (native: () => unknown): ((buffer: Buffer) => number) => {
      let loaded: (buffer: Buffer) => number = () => NaN;
      jest.isolateModules(() => {
        jest.doMock('@node-rs/crc32', native);
        loaded = require('kafkajs/src/protocol/recordBatch/crc32C') as (buffer: Buffer) => number;
      });
      jest.dontMock('@node-rs/crc32');
      return loaded;
    };
    const native = jest.fn(() => -2);
    expect(load(() => ({ crc32c: native }))(Buffer.from('123456789'))).toBe(2 ** 32 - 2); // unsigned
    expect(native).toHaveBeenCalledTimes(1);
    const fallback = load(() => {
      throw new Error('no prebuilt binary for this platform');
    });
    expect(fallback(Buffer.from('123456789')).toString(16)).toBe('e3069283');
  });

  describe('uncompressed record batches written in one buffer', () => {
    const producerId = Long.fromValue('4000000001');
    const messages: PartitionArgs['messages'] = [
      { key: 'prof_1', value: Buffer.alloc(3000, 7), timestamp: '1700000000000' },
      {
        key: Buffer.from('k2'),
        value: 'text value ✓',
        timestamp: '1700000000250',
        headers: { source: 'web', tags: ['a', Buffer.from('b')] },
      },
      { key: null, value: null, timestamp: '1699999999000' },
      { value: Buffer.from('no key, no timestamp') },
      { key: 'email:山田@example.jp', value: 'v', timestamp: '1700000000100', headers: { note: 'メモ' } },
    ];
    const args = (overrides: Partial<PartitionArgs> = {}): PartitionArgs => ({
      partition: 4,
      messages,
      firstTimestamp: '1699999999000',
      maxTimestamp: '1700000000250',
      dateNow: 1700000001000,
      producerId,
      producerEpoch: 3,
      firstSequence: 17,
      transactional: true,
      ...overrides,
    });
    /** kafkajs' generic path, as its produce request wrote it before the patch. */
    const generic = async (a: PartitionArgs): Promise<Buffer> => {
      const records = a.messages.map((message, i) =>
        Record({
          ...message,
          offsetDelta: i,
          timestampDelta: Number(message.timestamp || a.dateNow) - Number(a.firstTimestamp),
        }),
      );
      const batch = await RecordBatch({
        compression: 0,
        records,
        firstTimestamp: a.firstTimestamp,
        maxTimestamp: a.maxTimestamp,
        producerId: a.producerId,
        producerEpoch: a.producerEpoch,
        firstSequence: a.firstSequence,
        transactional: a.transactional,
        lastOffsetDelta: records.length - 1,
      });
      const head = Buffer.alloc(8);
      head.writeInt32BE(a.partition, 0);
      head.writeInt32BE(batch.size(), 4);
      return Buffer.concat([head, batch.buffer]);
    };

    it('writes the same bytes as the generic path, transactional or not', async () => {
      for (const transactional of [true, false]) {
        const fast = uncompressedPartition(args({ transactional }))!.buffer;
        expect(fast.toString('hex')).toBe((await generic(args({ transactional }))).toString('hex'));
      }
      const one = args({
        messages: [{ key: 'only', value: 'one' }],
        firstTimestamp: 1700000001000,
        maxTimestamp: 1700000001000,
        producerId: Long.fromInt(-1),
        producerEpoch: 0,
        firstSequence: 0,
        transactional: false,
      });
      expect(uncompressedPartition(one)!.buffer.toString('hex')).toBe((await generic(one)).toString('hex'));
    });

    it('is read back by kafkajs with every key, value, header, offset and time', async () => {
      const fast = uncompressedPartition(args())!.buffer;
      const Decoder = require('kafkajs/src/protocol/decoder'); // eslint-disable-line @typescript-eslint/no-require-imports
      const batch = await RecordBatchDecoder(new Decoder(fast.subarray(8)));
      expect(batch.inTransaction).toBe(true);
      expect(batch.producerId).toBe('4000000001');
      expect(
        batch.records.map((r) => [r.key?.toString() ?? null, r.value?.length ?? null, r.offset, r.timestamp]),
      ).toEqual([
        ['prof_1', 3000, '0', '1700000000000'],
        ['k2', Buffer.byteLength('text value ✓'), '1', '1700000000250'],
        [null, null, '2', '1699999999000'],
        [null, 20, '3', '1700000001000'],
        ['email:山田@example.jp', 1, '4', '1700000000100'],
      ]);
      const headers = batch.records[1]!.headers;
      expect(headers.source?.toString()).toBe('web');
      expect((headers.tags as Buffer[]).map(String)).toEqual(['a', 'b']);
    });

    it('leaves timestamp deltas beyond 32 bits to the generic path', () => {
      expect(
        uncompressedPartition(
          args({ messages: [{ key: 'k', value: 'v', timestamp: String(1699999999000 + 2 ** 31) }] }),
        ),
      ).toBeUndefined();
    });
  });

  it('writes a produce request once, at its final size: the fields in order and every record batch as encoded', async () => {
    const producerId = Long.fromValue('4000000001');
    const topicData = [
      {
        topic: 'kumiki.events.stitched',
        partitions: [
          {
            partition: 2,
            firstSequence: 5,
            messages: [{ key: 'p_1', value: Buffer.alloc(2000, 1), timestamp: '1700000000000' }],
          },
          {
            partition: 0,
            firstSequence: 0,
            messages: [
              { key: 'p_2', value: 'two', timestamp: '1700000000001' },
              { key: null, value: 'three', timestamp: '1700000000002' },
            ],
          },
        ],
      },
      {
        topic: 'graph-é',
        partitions: [
          {
            partition: 1,
            firstSequence: 9,
            messages: [{ key: 'email:a@example.com', value: Buffer.alloc(70_000, 2), timestamp: '1700000000003' }],
          },
        ],
      },
    ];
    for (const transactionalId of ['kumiki-identity-stitcher-graph-0', null]) {
      const request = await ProduceV3({
        acks: -1,
        timeout: 30_000,
        transactionalId,
        producerId,
        producerEpoch: 3,
        compression: 0,
        topicData,
      }).encode();
      const string = (value: string | null): Buffer => {
        const head = Buffer.alloc(2);
        if (value === null) {
          head.writeInt16BE(-1, 0);
          return head;
        }
        const bytes = Buffer.from(value, 'utf8');
        head.writeInt16BE(bytes.length, 0);
        return Buffer.concat([head, bytes]);
      };
      const int = (bytes: 2 | 4, value: number): Buffer => {
        const out = Buffer.alloc(bytes);
        if (bytes === 2) out.writeInt16BE(value, 0);
        else out.writeInt32BE(value, 0);
        return out;
      };
      const expected = Buffer.concat([
        string(transactionalId),
        int(2, -1),
        int(4, 30_000),
        int(4, topicData.length),
        ...topicData.flatMap(({ topic, partitions }) => [
          string(topic),
          int(4, partitions.length),
          ...partitions.map(({ partition, firstSequence, messages }) => {
            const timestamps = messages.map((m) => m.timestamp).sort();
            return uncompressedPartition({
              partition,
              messages,
              firstTimestamp: timestamps[0]!,
              maxTimestamp: timestamps[timestamps.length - 1]!,
              dateNow: 0,
              producerId,
              producerEpoch: 3,
              firstSequence,
              transactional: transactionalId !== null,
            })!.buffer;
          }),
        ]),
      ]);
      expect(request.buffer.toString('hex')).toBe(expected.toString('hex'));
    }
  });

  it('frames a request as size, api key, version, correlation id, client id and payload, the payload copied once', async () => {
    for (const payloadBytes of [0, 1, 500, 70_000]) {
      const payload = Buffer.alloc(payloadBytes, 0xab);
      const frame = (
        await createRequest({
          correlationId: 123_456,
          clientId: 'kumiki-é',
          request: { apiKey: 0, apiVersion: 3, encode: async () => ({ buffer: payload, size: () => payload.length }) },
        })
      ).buffer;
      const client = Buffer.from('kumiki-é', 'utf8');
      const header = Buffer.alloc(10);
      header.writeInt16BE(0, 0);
      header.writeInt16BE(3, 2);
      header.writeInt32BE(123_456, 4);
      header.writeInt16BE(client.length, 8);
      const size = Buffer.alloc(4);
      size.writeInt32BE(header.length + client.length + payload.length, 0);
      expect(frame.equals(Buffer.concat([size, header, client, payload]))).toBe(true);
    }
  });

  it('groups messages by partition keeping their order', () => {
    const messages = Array.from({ length: 1000 }, (_, i) => ({ key: `k${i}`, partition: i % 3 }));
    const grouped = groupMessagesPerPartition({
      topic: 't',
      partitionMetadata: [{}, {}, {}],
      messages,
      partitioner: ({ message }: { message: { partition: number } }) => message.partition,
    });
    expect(Object.keys(grouped).sort()).toEqual(['0', '1', '2']);
    expect(grouped['1']!.map((m) => m.key)).toEqual(messages.filter((m) => m.partition === 1).map((m) => m.key));
  });
});
