import { randomBytes } from 'node:crypto';
import { Partitioners } from 'kafkajs';
import { defaultPartitioner, murmur2, partitionForKey } from '../../../../services/common/kafka/partitioner';

// kafkajs' own murmur2 (Long-based), the reference ours must match bit for bit.
// eslint-disable-next-line @typescript-eslint/no-require-imports
const kafkajsMurmur2 = require('kafkajs/src/producer/partitioners/default/murmur2') as (key: string | Buffer) => number;

const metadata = (count: number, leaderless: number[] = []) =>
  Array.from({ length: count }, (_, partitionId) => ({
    partitionId,
    leader: leaderless.includes(partitionId) ? -1 : 0,
    partitionErrorCode: 0,
    replicas: [0],
    isr: [0],
  }));

describe('default partitioner', () => {
  it('hashes like kafkajs (and the Java client) for every key length and byte value', () => {
    const keys: (string | Buffer)[] = [
      '',
      'a',
      'ab',
      'abc',
      'abcd',
      'ann',
      'prof_0001',
      'p-ü-ñ',
      '顧客-42',
      'email:ann@example.com',
    ];
    for (let length = 0; length < 64; length++) keys.push(randomBytes(length), randomBytes(length).toString('base64'));
    keys.push(Buffer.alloc(16, 0xff), Buffer.alloc(17, 0x80));
    // Either side of the scratch buffer's bound (4096 bytes, 3 per UTF-16 unit): scratch and a Buffer per key.
    keys.push('顧'.repeat(1365), '顧'.repeat(1366), 'k'.repeat(1365), 'k'.repeat(5000), `${'顧'.repeat(1364)}😀`);
    for (const key of keys) expect({ key, hash: murmur2(key) }).toEqual({ key, hash: kafkajsMurmur2(key) });
  });

  it('places keyed records where kafkajs DefaultPartitioner does', () => {
    const reference = Partitioners.DefaultPartitioner();
    const ours = defaultPartitioner();
    for (const partitions of [1, 3, 6, 12]) {
      const partitionMetadata = metadata(partitions);
      for (let i = 0; i < 200; i++) {
        const message = { key: `person-${i}`, value: null };
        expect(ours({ topic: 't', partitionMetadata, message })).toBe(
          reference({ topic: 't', partitionMetadata, message }),
        );
        expect(partitionForKey(message.key, partitions)).toBe(reference({ topic: 't', partitionMetadata, message }));
      }
    }
  });

  it('keeps an explicit partition and spreads unkeyed records over partitions with a leader', () => {
    const ours = defaultPartitioner();
    const partitionMetadata = metadata(4, [1]);
    expect(ours({ topic: 't', partitionMetadata, message: { key: 'ann', value: null, partition: 3 } })).toBe(3);
    const seen = new Set(
      Array.from({ length: 30 }, () => ours({ topic: 't', partitionMetadata, message: { value: null } })),
    );
    expect([...seen].sort()).toEqual([0, 2, 3]);
  });

  it('refuses a partition count that is not a positive integer', () => {
    expect(() => partitionForKey('ann', 0)).toThrow(RangeError);
    expect(() => partitionForKey('ann', 1.5)).toThrow(RangeError);
  });
});
