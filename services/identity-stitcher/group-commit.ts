/**
 * Group commit: work handed over while a commit is under way waits for it, and everything
 * that gathered meanwhile is committed together, in the order it was added. One commit at a
 * time, groups in order, so what is committed is always a prefix of what was added.
 *
 * The stitcher's transactions cost the broker per transaction (coordinator writes, a marker on
 * every partition written), not per record, and batches of several input partitions arrive
 * together. With this, one transaction carries all the batches that were stitched while the
 * previous one was on the wire: as many transactions as round trips allow, not one per batch.
 */
export class GroupCommit<T> {
  private tail: Promise<void> = Promise.resolve();
  private open: T[] | undefined;
  private openDone: Promise<void> | undefined;

  constructor(private readonly commit: (items: readonly T[]) => Promise<void>) {}

  /** Adds `item` to the group that commits next; resolves or rejects with that group's commit. */
  add(item: T): Promise<void> {
    if (this.open) {
      this.open.push(item);
      return this.openDone!;
    }
    const group = [item];
    this.open = group;
    // The group stays open until the commit before it is done, and at least until the event
    // loop's next turn, so the other batches of the same fetch (handled concurrently, decoded
    // in microtasks) join it; once it starts, later items open the next group.
    const done = Promise.all([this.tail, new Promise((resolve) => setImmediate(resolve))]).then(() => {
      if (this.open === group) this.open = undefined;
      return this.commit(group);
    });
    this.openDone = done;
    this.tail = done.catch(() => undefined);
    return done;
  }
}
