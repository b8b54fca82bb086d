/**
 * The steps of one group's commit. `begin` runs once the group before is committed; `write`
 * runs for each item in the order they were added, each after the one before; `commit` runs
 * once the group is closed, with `written` settling when the last write has.
 */
export interface GroupSteps<T> {
  begin(): Promise<void>;
  write(item: T): Promise<void>;
  commit(items: readonly T[], written: Promise<void>): Promise<void>;
}

interface Group<T> {
  readonly items: T[];
  written: Promise<void>;
  readonly done: Promise<void>;
  readonly previous: Promise<void>;
}

/**
 * Where an added item stands: `committed` resolves or rejects with its group's commit;
 * `previous` resolves once the group before its own has finished (committed or failed), so a
 * caller may go on to its next item while its own group commits.
 */
export interface Added {
  readonly committed: Promise<void>;
  readonly previous: Promise<void>;
}

/**
 * Group commit: work handed over while a commit is under way waits for it, and everything
 * that gathered meanwhile is committed together, in the order it was added. One commit at a
 * time, groups in order, so what is committed is always a prefix of what was added.
 *
 * The stitcher's transactions cost the broker per transaction (coordinator writes, a marker on
 * every partition written), not per record, and batches of several input partitions arrive
 * together. With this, one transaction carries all the batches that were stitched while the
 * previous one was on the wire: as many transactions as round trips allow, not one per batch.
 * A group's items are written as they arrive, so the broker stores one batch's records while
 * the next is stitched.
 *
 * A group closes once the commit before it is done and, after the event loop's next turn, no
 * item announced with `expect` was outstanding. The batches of one fetch announce themselves
 * together, before any is stitched, so they go together although each takes a turn of its own.
 */
export class GroupCommit<T> {
  private tail: Promise<void> = Promise.resolve();
  private open: Group<T> | undefined;
  private expected = 0;
  private closeIfSettled: (() => void) | undefined;

  constructor(private readonly steps: GroupSteps<T>) {}

  /**
   * Announces an item that will be added or withdrawn: the open group waits for it, and so does
   * its transaction, which must not outlive its timeout.
   */
  expect(): { add(item: T): Added; withdraw(): void } {
    this.expected += 1;
    let settled = false;
    const settle = (): void => {
      if (settled) throw new Error('group commit: an expected item was settled twice');
      settled = true;
      this.expected -= 1;
      if (this.expected === 0) this.closeIfSettled?.();
    };
    return {
      add: (item) => {
        const done = this.add(item);
        settle();
        return done;
      },
      withdraw: settle,
    };
  }

  /** Adds `item` to the group that commits next. */
  add(item: T): Added {
    const group = this.open;
    if (group) {
      group.items.push(item);
      group.written = group.written.then(() => this.steps.write(item));
      // Handled at commit; until then a failure must not count as unhandled.
      group.written.catch(() => undefined);
      return { committed: group.done, previous: group.previous };
    }
    return this.openGroup(item);
  }

  /** Settles once every group added so far has committed (or failed). */
  async flush(): Promise<void> {
    await this.tail;
  }

  private openGroup(item: T): Added {
    const previous = this.tail;
    const settled = new Promise<void>((resolve) => {
      let turned = false;
      const close = (): void => {
        if (!turned || this.expected > 0) return;
        this.closeIfSettled = undefined;
        resolve();
      };
      this.closeIfSettled = close;
      setImmediate(() => {
        turned = true;
        close();
      });
    });
    const group: Group<T> = {
      items: [item],
      written: previous.then(() => this.steps.begin()).then(() => this.steps.write(item)),
      done: Promise.all([previous, settled]).then(() => {
        if (this.open === group) this.open = undefined;
        return this.steps.commit(group.items, group.written);
      }),
      previous,
    };
    group.written.catch(() => undefined);
    this.open = group;
    this.tail = group.done.catch(() => undefined);
    return { committed: group.done, previous };
  }
}
