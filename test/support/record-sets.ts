import type { RecordSets, TopicRecordSets, WrittenRecords } from '../../services/common/kafka/record-sets';

/* eslint-disable @typescript-eslint/no-require-imports */
const Decoder = require('kafkajs/src/protocol/decoder') as new (buffer: Buffer) => unknown;
const RecordBatchDecoder = require('kafkajs/src/protocol/recordBatch/v0/decoder') as (
  decoder: unknown,
) => Promise<{ records: { key: Buffer | null; value: Buffer | null; offset: string; timestamp: string }[] }>;
const uncompressedPartition = require('kafkajs/src/protocol/recordBatch/v0/uncompressedPartition') as {
  written: (args: object) => { buffer: Buffer };
};
const Long = require('kafkajs/src/utils/long') as { fromInt(value: number): unknown };
/* eslint-enable @typescript-eslint/no-require-imports */

export interface ReadRecord {
  readonly key: Buffer | null;
  readonly value: Buffer | null;
  readonly offset: string;
  readonly timestamp: string;
}

/** A set's records as kafkajs reads them back once the patched producer has framed them as a batch. */
export async function readWritten(records: WrittenRecords, partition = 0): Promise<ReadRecord[]> {
  const framed = uncompressedPartition.written({
    partition,
    records,
    producerId: Long.fromInt(-1),
    producerEpoch: 0,
    firstSequence: 0,
    transactional: false,
  }).buffer;
  return (await RecordBatchDecoder(new Decoder(framed.subarray(8)))).records;
}

/** Every record of one request (`RecordSets.requests()` entry), per topic, in partition order. */
export async function readRequest(
  request: readonly TopicRecordSets[],
): Promise<{ topic: string; partition: number; key: Buffer | null; value: Buffer | null }[]> {
  const out: { topic: string; partition: number; key: Buffer | null; value: Buffer | null }[] = [];
  for (const { topic, sets } of request) {
    for (const { partition, records } of sets) {
      for (const record of await readWritten(records, partition))
        out.push({ topic, partition, key: record.key, value: record.value });
    }
  }
  return out;
}

/** Every record the sets hold, request by request. */
export async function readAll(
  sets: RecordSets,
): Promise<{ topic: string; partition: number; key: Buffer | null; value: Buffer | null }[]> {
  const out = [];
  for (const request of sets.requests()) out.push(...(await readRequest(request)));
  return out;
}
