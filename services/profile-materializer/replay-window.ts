/**
 * Which partitions may still be replaying records that were already written to ClickHouse.
 *
 * Why: the dedup-hits metric counts replayed events by looking their message ids up in
 * events_store. Message ids are random and the table is sorted by them, so on a large table a
 * chunk's lookup reads nearly all of its message_id column: at only 200k events the lookups
 * already took 2.9 s of an 8.4 s benchmark run, and they grow with the table. But a restart, or
 * a crash between insert and commit, replays a partition from its committed offset, and what
 * was written before is a prefix of what comes again (chunks of a partition are written in
 * order). So a partition is looked up only until one of its chunks has no stored event; from
 * there on it is past its replay window.
 *
 * Not counted: a message id sent again later in the stream (a client resending) is still stored
 * once (ReplacingMergeTree, read FINAL), only not counted; and a partition this process gives up
 * in a rebalance and gets back later is not looked up again.
 */
export class ReplayWindow {
  readonly #past = new Set<string>();

  /** Whether a chunk of these partitions (`topic NUL partition`) may hold replayed records. */
  isOpen(partitions: Iterable<string>): boolean {
    for (const partition of partitions) if (!this.#past.has(partition)) return true;
    return false;
  }

  /** A chunk of these partitions had no stored event: they are past their replay window. */
  close(partitions: Iterable<string>): void {
    for (const partition of partitions) this.#past.add(partition);
  }
}

/** A partition as one string key (the consumer's offsets by partition, ReplayWindow). */
export function partitionKey(topic: string, partition: number): string {
  return `${topic}\u0000${partition}`;
}
