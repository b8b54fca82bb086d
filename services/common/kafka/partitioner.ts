/**
 * The partition Kafka's default partitioner (Java client and kafkajs' DefaultPartitioner alike)
 * picks for a keyed record: murmur2 of the key, made positive, modulo the partition count.
 * A producer that must know where each record lands before sending (to record the offsets it
 * gets back, see segment evaluation) sets it explicitly with this, so keyed consumers and
 * direct producers still agree on the partition of a key.
 */
// kafkajs ships its murmur2 without types; it is the same function its DefaultPartitioner uses.
// eslint-disable-next-line @typescript-eslint/no-require-imports
const murmur2 = require('kafkajs/src/producer/partitioners/default/murmur2') as (key: string | Buffer) => number;

export function partitionForKey(key: string | Buffer, partitions: number): number {
  if (!Number.isInteger(partitions) || partitions < 1) throw new RangeError(`partition count must be a positive integer, got ${partitions}`);
  return (murmur2(key) & 0x7fffffff) % partitions;
}
