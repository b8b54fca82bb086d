import { partitionForKey } from './partitioner';

/**
 * The property kafkajs (as patched, `patches/kafkajs+2.2.4.patch`) looks for on a message: the
 * message then stands for records already written in Kafka's record format for its partition,
 * and only the batch header and its CRC are added when the produce request is written.
 */
export const WRITTEN_RECORDS = Symbol.for('kumiki.kafka.records');

/** One partition's records, written back to back; each has timestamp delta 0 and offset delta = its index. */
export interface WrittenRecords {
  readonly buffer: Buffer;
  /** Bytes of `buffer` in use. */
  readonly length: number;
  readonly count: number;
  /** CreateTime of every record in the set, epoch ms. */
  readonly timestamp: number;
}

/** What one produce request carries for a topic: at most one set per partition (Kafka takes one batch per partition and request). */
export interface TopicRecordSets {
  readonly topic: string;
  readonly sets: readonly { readonly partition: number; readonly records: WrittenRecords }[];
}

class PartitionSet implements WrittenRecords {
  buffer: Buffer;
  length = 0;
  count = 0;

  constructor(
    readonly timestamp: number,
    capacity: number,
  ) {
    this.buffer = Buffer.allocUnsafe(capacity);
  }

  reserve(bytes: number): void {
    if (this.length + bytes <= this.buffer.length) return;
    let capacity = this.buffer.length * 2;
    while (capacity < this.length + bytes) capacity *= 2;
    const grown = Buffer.allocUnsafe(capacity);
    this.buffer.copy(grown, 0, 0, this.length);
    this.buffer = grown;
  }
}

/**
 * Output records written straight into per-partition record sets, the way Kafka stores them,
 * instead of one Buffer and one message object per record that the client then sizes, copies
 * and frames again: a producer writing several records per input (the identity stitcher) spends
 * most of its time and garbage there otherwise.
 *
 * Records are keyed and partitioned as every kumiki producer partitions them (murmur2 of the
 * key, `partitionForKey`), over the partition counts given at construction. A set is sealed at
 * `maxSetBytes` (below the brokers' default 1 MB message size) and a new one begun for the
 * partition; `requests()` hands them out as rounds of at most one set per partition.
 */
export class RecordSets {
  private readonly open = new Map<string, (PartitionSet | undefined)[]>();
  private readonly sealed: { topic: string; partition: number; set: PartitionSet }[] = [];

  constructor(
    private readonly partitionCounts: ReadonlyMap<string, number>,
    private readonly timestamp = Date.now(),
    private readonly maxSetBytes = 512 * 1024,
    private readonly initialSetBytes = 16 * 1024,
  ) {}

  /**
   * Appends a record keyed by `key` (UTF-8) whose value is `value[start, end)` followed, when
   * given, by `tail[tailStart, tail.length)` — a value can be written from two pieces without
   * joining them first.
   */
  append(topic: string, key: string, value: Buffer, start: number, end: number, tail?: Buffer, tailStart = 0): void {
    const keyLength = Buffer.byteLength(key, 'utf8');
    const valueLength = end - start + (tail === undefined ? 0 : tail.length - tailStart);
    const set = this.setFor(topic, partitionForKey(key, this.partitionsOf(topic)));
    const offsetDelta = set.count;
    // attributes, timestamp delta (0), offset delta, key, value, header count (0)
    const body =
      2 + sizeOfVarInt(offsetDelta) + sizeOfVarInt(keyLength) + keyLength + sizeOfVarInt(valueLength) + valueLength + 1;
    set.reserve(sizeOfVarInt(body) + body);
    const buffer = set.buffer;
    let at = writeVarInt(buffer, set.length, body);
    buffer[at++] = 0;
    buffer[at++] = 0;
    at = writeVarInt(buffer, at, offsetDelta);
    at = writeVarInt(buffer, at, keyLength);
    at += buffer.write(key, at, keyLength, 'utf8');
    at = writeVarInt(buffer, at, valueLength);
    at += value.copy(buffer, at, start, end);
    if (tail !== undefined) at += tail.copy(buffer, at, tailStart);
    buffer[at++] = 0;
    set.length = at;
    set.count += 1;
  }

  /** Every set written, as produce requests: each request holds at most one set per partition. */
  requests(): TopicRecordSets[][] {
    const all = [...this.sealed];
    for (const [topic, sets] of this.open) {
      sets.forEach((set, partition) => {
        if (set !== undefined && set.count > 0) all.push({ topic, partition, set });
      });
    }
    const rounds: { topic: string; partition: number; set: PartitionSet }[][] = [];
    const roundOf = new Map<string, number>();
    for (const entry of all) {
      const key = `${entry.topic}|${entry.partition}`;
      const round = roundOf.get(key) ?? 0;
      roundOf.set(key, round + 1);
      (rounds[round] ??= []).push(entry);
    }
    return rounds.map((round) => {
      const byTopic = new Map<string, { partition: number; records: WrittenRecords }[]>();
      for (const { topic, partition, set } of round) {
        let sets = byTopic.get(topic);
        if (!sets) byTopic.set(topic, (sets = []));
        sets.push({ partition, records: set });
      }
      return [...byTopic].map(([topic, sets]) => ({ topic, sets }));
    });
  }

  private partitionsOf(topic: string): number {
    const count = this.partitionCounts.get(topic);
    if (count === undefined) throw new RangeError(`record sets: no partition count for topic ${topic}`);
    return count;
  }

  private setFor(topic: string, partition: number): PartitionSet {
    let sets = this.open.get(topic);
    if (!sets) this.open.set(topic, (sets = []));
    let set = sets[partition];
    if (set === undefined) {
      set = new PartitionSet(this.timestamp, this.initialSetBytes);
      sets[partition] = set;
    } else if (set.length >= this.maxSetBytes) {
      this.sealed.push({ topic, partition, set });
      set = new PartitionSet(this.timestamp, this.initialSetBytes);
      sets[partition] = set;
    }
    return set;
  }
}

/** Zig-zag varint sizes and writes for the non-negative 32-bit values a record holds. */
function sizeOfVarInt(value: number): number {
  let zigzag = (value << 1) >>> 0;
  let bytes = 1;
  while (zigzag >= 0x80) {
    zigzag >>>= 7;
    bytes++;
  }
  return bytes;
}

function writeVarInt(buffer: Buffer, at: number, value: number): number {
  let zigzag = (value << 1) >>> 0;
  while (zigzag >= 0x80) {
    buffer[at++] = (zigzag & 0x7f) | 0x80;
    zigzag >>>= 7;
  }
  buffer[at++] = zigzag;
  return at;
}
