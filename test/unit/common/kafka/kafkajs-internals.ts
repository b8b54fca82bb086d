/** kafkajs' internal modules the protocol patch changes, typed as the tests use them. */
export const Encoder = require('kafkajs/src/protocol/encoder') as new () => {
  writeVarInt(v: number): unknown;
  writeVarLong(v: number | bigint): unknown;
  buffer: Buffer;
};
export const Decoder = require('kafkajs/src/protocol/decoder') as new (
  buffer: Buffer,
) => { readVarLong(): { toString(): string } };
export const Record = require('kafkajs/src/protocol/recordBatch/record/v0') as (record: object) => { buffer: Buffer };
export const RecordDecoder = require('kafkajs/src/protocol/recordBatch/record/v0/decoder') as (
  decoder: unknown,
  context: object,
) => { key: Buffer; value: Buffer; offset: string; timestamp: string; headers: Record<string, Buffer> };
export const groupMessagesPerPartition = require('kafkajs/src/producer/groupMessagesPerPartition') as (
  args: object,
) => Record<string, { key: string }[]>;
// What kafkajs calls (native when @node-rs/crc32 loads), and the JavaScript fallback.
export const crc32C = require('kafkajs/src/protocol/recordBatch/crc32C') as (buffer: Buffer) => number;
export const crc32CInJavaScript = require('kafkajs/src/protocol/recordBatch/crc32C/crc32C') as (
  buffer: Buffer,
) => number;
export const { RecordBatch } = require('kafkajs/src/protocol/recordBatch/v0') as {
  RecordBatch: (args: object) => Promise<EncoderLike>;
};
export const RecordBatchDecoder = require('kafkajs/src/protocol/recordBatch/v0/decoder') as (
  decoder: unknown,
) => Promise<{
  records: {
    key: Buffer | null;
    value: Buffer | null;
    offset: string;
    timestamp: string;
    headers: Record<string, Buffer | Buffer[] | null>;
  }[];
  inTransaction: boolean;
  producerId: string;
}>;
export const uncompressedPartition = require('kafkajs/src/protocol/recordBatch/v0/uncompressedPartition') as (
  args: PartitionArgs,
) => EncoderLike | undefined;
export const Long = require('kafkajs/src/utils/long') as {
  fromValue(value: number | string): unknown;
  fromInt(value: number): unknown;
};
export const ProduceV3 = require('kafkajs/src/protocol/requests/produce/v3/request') as (args: object) => {
  encode: () => Promise<EncoderLike>;
};
export const createRequest = require('kafkajs/src/protocol/request') as (args: {
  correlationId: number;
  clientId: string;
  request: { apiKey: number; apiVersion: number; encode: () => Promise<EncoderLike> };
}) => Promise<EncoderLike>;

export interface EncoderLike {
  buffer: Buffer;
  size(): number;
}
export interface PartitionArgs {
  partition: number;
  messages: {
    key?: string | Buffer | null;
    value: string | Buffer | null;
    timestamp?: string;
    headers?: Record<string, string | Buffer | (string | Buffer)[] | undefined>;
  }[];
  firstTimestamp: number | string;
  maxTimestamp: number | string;
  dateNow: number;
  producerId: unknown;
  producerEpoch: number;
  firstSequence: number;
  transactional: boolean;
}
