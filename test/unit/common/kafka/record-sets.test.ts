/**
 * Records written straight into record sets (RecordSets) must be what kafkajs itself would have
 * written for the same messages: byte for byte once the patched producer frames them, in the
 * partition the key hashes to, and counted in the idempotent producer's sequence numbers as the
 * records they are, not as the one message that carries them.
 */
import { partitionForKey } from '../../../../services/common/kafka/partitioner';
import { RecordSets, WRITTEN_RECORDS, type WrittenRecords } from '../../../../services/common/kafka/record-sets';
import { readAll, readWritten } from '../../../support/record-sets';

/* eslint-disable @typescript-eslint/no-require-imports */
type Message = {
  key?: string | Buffer | null;
  value: string | Buffer | null;
  timestamp?: number;
  partition?: number;
  [WRITTEN_RECORDS]?: WrittenRecords;
};
const uncompressedPartition = require('kafkajs/src/protocol/recordBatch/v0/uncompressedPartition') as ((
  args: object,
) => { buffer: Buffer }) & { written: (args: object) => { buffer: Buffer } };
const ProduceV3 = require('kafkajs/src/protocol/requests/produce/v3/request') as (args: object) => {
  encode: () => Promise<{ buffer: Buffer }>;
};
const createSendMessages = require('kafkajs/src/producer/sendMessages') as (
  deps: object,
) => (args: object) => Promise<unknown>;
const Long = require('kafkajs/src/utils/long') as { fromValue(value: string): unknown };
/* eslint-enable @typescript-eslint/no-require-imports */

const TIMESTAMP = 1_700_000_000_000;
const producer = { producerId: Long.fromValue('4000000001'), producerEpoch: 3, firstSequence: 17, transactional: true };

/** Keyed records of several sizes: one longer than a set's first buffer, multi-byte keys and values. */
const inputs = Array.from({ length: 40 }, (_, i) => ({
  key: i % 7 === 0 ? `email:山田${i}@example.jp` : `p_${i.toString(16).padStart(24, '0')}`,
  value: Buffer.from(i === 5 ? 'x'.repeat(40_000) : `value ${i} ✓`),
}));

function written(partitions = 3, maxSetBytes?: number): RecordSets {
  const sets = new RecordSets(new Map([['t', partitions]]), TIMESTAMP, maxSetBytes, 64);
  for (const { key, value } of inputs) sets.append('t', key, value, 0, value.length);
  return sets;
}

describe('record sets', () => {
  it("frame into the very bytes kafkajs writes for the same messages, each in its key's partition", async () => {
    const [request, ...more] = written().requests();
    expect(more).toEqual([]);
    const { sets } = request![0]!;
    expect(sets.map((s) => s.partition).sort()).toEqual([0, 1, 2]);
    for (const { partition, records } of sets) {
      const mine = inputs.filter(({ key }) => partitionForKey(key, 3) === partition);
      expect(records.count).toBe(mine.length);
      const generic = uncompressedPartition({
        partition,
        messages: mine.map((m) => ({ ...m, timestamp: TIMESTAMP })),
        firstTimestamp: TIMESTAMP,
        maxTimestamp: TIMESTAMP,
        dateNow: 0,
        ...producer,
      }).buffer;
      expect(uncompressedPartition.written({ partition, records, ...producer }).buffer.toString('hex')).toBe(
        generic.toString('hex'),
      );
      const read = await readWritten(records, partition);
      expect(read.map((r) => [r.key!.toString(), r.value!.toString(), r.offset, r.timestamp])).toEqual(
        mine.map((m, i) => [m.key, m.value.toString(), String(i), String(TIMESTAMP)]),
      );
    }
  });

  it('write a value from two pieces as the pieces joined', async () => {
    const sets = new RecordSets(new Map([['t', 1]]), TIMESTAMP);
    const head = Buffer.from('..head|');
    const tail = Buffer.from('skip|tail');
    sets.append('t', 'k', head, 2, head.length, tail, 5);
    sets.append('t', 'k', head, 0, 0);
    expect((await readAll(sets)).map((r) => r.value!.toString())).toEqual(['head|tail', '']);
  });

  it('are sealed at the byte bound, and each request carries at most one set per partition, every record once and in order', async () => {
    const sets = written(2, 1_000);
    const requests = sets.requests();
    expect(requests.length).toBeGreaterThan(1);
    for (const request of requests) {
      const partitions = request.flatMap(({ sets: s }) => s.map(({ partition }) => partition));
      expect(new Set(partitions).size).toBe(partitions.length);
      // A set grows past the bound by at most its last record.
      for (const { records } of request[0]!.sets) expect(records.length).toBeLessThan(1_000 + 41_000);
    }
    const read = await readAll(sets);
    for (const partition of [0, 1]) {
      expect(read.filter((r) => r.partition === partition).map((r) => r.key!.toString())).toEqual(
        inputs.filter(({ key }) => partitionForKey(key, 2) === partition).map(({ key }) => key),
      );
    }
    expect(read).toHaveLength(inputs.length);
  });

  it('refuse a topic whose partition count they were not given', () => {
    expect(() => new RecordSets(new Map()).append('unknown', 'k', Buffer.alloc(1), 0, 1)).toThrow(
      /no partition count for topic unknown/,
    );
  });

  it('go into a produce request as the same bytes as the messages they hold', async () => {
    const { sets } = written().requests()[0]![0]!;
    const carried = sets.map(({ partition, records }) => ({
      partition,
      firstSequence: 17,
      messages: [{ partition, key: null, value: null, [WRITTEN_RECORDS]: records }],
    }));
    const plain = sets.map(({ partition }) => ({
      partition,
      firstSequence: 17,
      messages: inputs
        .filter(({ key }) => partitionForKey(key, 3) === partition)
        .map((m) => ({ ...m, timestamp: TIMESTAMP })),
    }));
    const request = (partitions: object[]) =>
      ProduceV3({
        acks: -1,
        timeout: 30_000,
        transactionalId: 'txn',
        producerId: producer.producerId,
        producerEpoch: 3,
        compression: 0,
        topicData: [{ topic: 't', partitions }],
      }).encode();
    expect((await request(carried)).buffer.toString('hex')).toBe((await request(plain)).buffer.toString('hex'));
  });

  it('advance the idempotent sequence by their record count, and take it back when the produce fails', async () => {
    const { sets } = written(1).requests()[0]![0]!;
    const updates: number[] = [];
    const broker = {
      nodeId: 1,
      produce: jest.fn(async () => ({
        topics: [{ topicName: 't', partitions: [{ partition: 0, errorCode: 0, baseOffset: '0' }] }],
      })),
    };
    const sendMessages = createSendMessages({
      logger: { debug: () => undefined, error: () => undefined },
      cluster: {
        refreshMetadataIfNecessary: async () => undefined,
        findTopicPartitionMetadata: () => [{ partitionId: 0, leader: 1 }],
        findLeaderForPartitions: (_topic: string, partitions: string[]) => ({ 1: partitions.map(Number) }),
        findBroker: async () => broker,
        addMultipleTargetTopics: async () => undefined,
        isConnected: () => true,
      },
      partitioner: ({ message }: { message: Message }) => message.partition,
      eosManager: {
        acquireBrokerLock: async () => undefined,
        releaseBrokerLock: async () => undefined,
        isTransactional: () => false,
        getSequence: () => 17,
        updateSequence: (_topic: string, _partition: number, increment: number) => updates.push(increment),
        getProducerId: () => producer.producerId,
        getProducerEpoch: () => 3,
      },
      retrier: async (task: (bail: (e: Error) => never) => Promise<unknown>) =>
        task((error) => {
          throw error;
        }),
    });
    const messages = [{ partition: 0, key: null, value: null, [WRITTEN_RECORDS]: sets[0]!.records }];
    await sendMessages({ acks: -1, compression: 0, topicMessages: [{ topic: 't', messages }] });
    expect(updates).toEqual([inputs.length]);
    broker.produce.mockRejectedValueOnce(new Error('broker gone'));
    await expect(sendMessages({ acks: -1, compression: 0, topicMessages: [{ topic: 't', messages }] })).rejects.toThrow(
      'broker gone',
    );
    expect(updates).toEqual([inputs.length, inputs.length, -inputs.length]);
  });
});
