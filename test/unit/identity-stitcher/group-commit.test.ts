import { GroupCommit } from '../../../services/identity-stitcher/group-commit';

/** Steps whose calls are recorded in order; commits are finished by the test. */
function controlledSteps(options: { failWrite?: string } = {}) {
  const log: string[] = [];
  const commits: { items: readonly string[]; finish: (error?: Error) => void }[] = [];
  const group = new GroupCommit<string>({
    begin: async () => {
      log.push('begin');
    },
    write: async (item) => {
      if (item === options.failWrite) throw new Error(`cannot write ${item}`);
      log.push(`write ${item}`);
    },
    commit: (items, written) =>
      written.then(
        () =>
          new Promise<void>((resolve, reject) => {
            log.push(`commit ${items.join('+')}`);
            commits.push({ items: [...items], finish: (error) => (error ? reject(error) : resolve()) });
          }),
      ),
  });
  return { log, commits, group };
}

const tick = () => new Promise((resolve) => setImmediate(resolve));

describe('GroupCommit', () => {
  it('groups what is added in the same turn of the event loop', async () => {
    const { commits, group } = controlledSteps();
    const added = [group.add('a').committed, Promise.resolve().then(() => group.add('b').committed)];
    await tick();
    await tick();
    expect(commits.map((c) => c.items)).toEqual([['a', 'b']]);
    commits[0]!.finish();
    await Promise.all(added);
  });

  it('commits on the next turn when idle, and groups what arrives while a commit is under way', async () => {
    const { commits, group } = controlledSteps();
    const first = group.add('a').committed;
    await tick();
    expect(commits.map((c) => c.items)).toEqual([['a']]);
    const second = group.add('b').committed;
    const third = group.add('c').committed;
    await tick();
    expect(commits).toHaveLength(1); // b and c wait for a
    commits[0]!.finish();
    await first;
    await tick();
    expect(commits.map((c) => c.items)).toEqual([['a'], ['b', 'c']]);
    const fourth = group.add('d').committed; // the b+c group has started: d opens the next one
    commits[1]!.finish();
    await Promise.all([second, third]);
    await tick();
    expect(commits.map((c) => c.items)).toEqual([['a'], ['b', 'c'], ['d']]);
    commits[2]!.finish();
    await fourth;
  });

  it('writes each item as it arrives, in order, between its group beginning and committing', async () => {
    const { log, commits, group } = controlledSteps();
    const first = group.add('a').committed;
    const second = group.add('b').committed;
    await tick();
    expect(log).toEqual(['begin', 'write a', 'write b', 'commit a+b']);
    const third = group.add('c').committed;
    await tick();
    expect(log).toHaveLength(4); // the next group begins only once a+b is committed
    commits[0]!.finish();
    await Promise.all([first, second]);
    await tick();
    expect(log.slice(4)).toEqual(['begin', 'write c', 'commit c']);
    commits[1]!.finish();
    await third;
  });

  it('keeps a group open across turns for announced items, until each is added or withdrawn', async () => {
    const { log, commits, group } = controlledSteps();
    const later = group.expect();
    const withdrawn = group.expect();
    const first = group.add('a').committed;
    await tick();
    await tick();
    expect(log).toEqual(['begin', 'write a']); // written already, not committed: two are announced
    const second = later.add('b').committed;
    await tick();
    expect(commits).toHaveLength(0);
    withdrawn.withdraw();
    await tick();
    expect(commits.map((c) => c.items)).toEqual([['a', 'b']]);
    commits[0]!.finish();
    await Promise.all([first, second]);
    expect(() => withdrawn.withdraw()).toThrow('settled twice');
  });

  it('rejects every member of a group whose write failed, and later groups still run in order', async () => {
    const { log, commits, group } = controlledSteps({ failWrite: 'b' });
    const first = group.add('a').committed;
    const second = group.add('b').committed;
    const third = group.add('c').committed;
    await expect(first).rejects.toThrow('cannot write b');
    await expect(second).rejects.toThrow('cannot write b');
    await expect(third).rejects.toThrow('cannot write b');
    expect(log).toEqual(['begin', 'write a']); // nothing after the failed write, no commit
    const fourth = group.add('d').committed;
    await tick();
    expect(commits.map((c) => c.items)).toEqual([['d']]);
    commits[0]!.finish();
    await expect(fourth).resolves.toBeUndefined();
  });

  it('rejects every member of a failed commit, and later groups still run in order', async () => {
    const { commits, group } = controlledSteps();
    const first = group.add('a').committed;
    await tick();
    const second = group.add('b').committed;
    const third = group.add('c').committed;
    commits[0]!.finish(new Error('broker gone'));
    await expect(first).rejects.toThrow('broker gone');
    await tick();
    commits[1]!.finish(new Error('an earlier transaction failed'));
    await expect(second).rejects.toThrow('an earlier transaction failed');
    await expect(third).rejects.toThrow('an earlier transaction failed');
    const fourth = group.add('d').committed;
    await tick();
    expect(commits.map((c) => c.items)).toEqual([['a'], ['b', 'c'], ['d']]);
    commits[2]!.finish();
    await expect(fourth).resolves.toBeUndefined();
  });

  it("settles an item's `previous` once the group before its own is committed, and flush once every group is", async () => {
    const { commits, group } = controlledSteps();
    const a = group.add('a');
    await tick();
    const b = group.add('b');
    let previousOfB = false;
    let flushed = false;
    void b.previous.then(() => (previousOfB = true));
    void group.flush().then(() => (flushed = true));
    await expect(a.previous).resolves.toBeUndefined(); // nothing before a
    await tick();
    expect(previousOfB).toBe(false);
    commits[0]!.finish();
    await tick();
    expect(previousOfB).toBe(true);
    expect(flushed).toBe(false); // b's group is still committing
    await tick();
    commits[1]!.finish();
    await b.committed;
    await tick();
    expect(flushed).toBe(true);
  });
});
