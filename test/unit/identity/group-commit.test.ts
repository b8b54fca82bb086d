import { GroupCommit } from '../../../services/identity-stitcher/group-commit';

/** A commit function whose calls are recorded and finished by the test. */
function controlledCommits() {
  const calls: { items: readonly string[]; finish: (error?: Error) => void }[] = [];
  const commit = (items: readonly string[]) =>
    new Promise<void>((resolve, reject) => calls.push({ items: [...items], finish: (error) => (error ? reject(error) : resolve()) }));
  return { calls, group: new GroupCommit<string>(commit) };
}

const tick = () => new Promise((resolve) => setImmediate(resolve));

describe('GroupCommit', () => {
  it('groups what is added in the same turn of the event loop', async () => {
    const { calls, group } = controlledCommits();
    const added = [group.add('a'), Promise.resolve().then(() => group.add('b'))];
    await tick();
    await tick();
    expect(calls.map((c) => c.items)).toEqual([['a', 'b']]);
    calls[0]!.finish();
    await Promise.all(added);
  });

  it('commits on the next turn when idle, and groups what arrives while a commit is under way', async () => {
    const { calls, group } = controlledCommits();
    const first = group.add('a');
    await tick();
    expect(calls.map((c) => c.items)).toEqual([['a']]);
    const second = group.add('b');
    const third = group.add('c');
    await tick();
    expect(calls).toHaveLength(1); // b and c wait for a
    calls[0]!.finish();
    await first;
    await tick();
    expect(calls.map((c) => c.items)).toEqual([['a'], ['b', 'c']]);
    const fourth = group.add('d'); // the b+c group has started: d opens the next one
    calls[1]!.finish();
    await Promise.all([second, third]);
    await tick();
    expect(calls.map((c) => c.items)).toEqual([['a'], ['b', 'c'], ['d']]);
    calls[2]!.finish();
    await fourth;
  });

  it('rejects every member of a failed group, and later groups still run in order', async () => {
    const { calls, group } = controlledCommits();
    const first = group.add('a');
    await tick();
    const second = group.add('b');
    const third = group.add('c');
    calls[0]!.finish(new Error('broker gone'));
    await expect(first).rejects.toThrow('broker gone');
    await tick();
    calls[1]!.finish(new Error('an earlier transaction failed'));
    await expect(second).rejects.toThrow('an earlier transaction failed');
    await expect(third).rejects.toThrow('an earlier transaction failed');
    const fourth = group.add('d');
    await tick();
    expect(calls.map((c) => c.items)).toEqual([['a'], ['b', 'c'], ['d']]);
    calls[2]!.finish();
    await expect(fourth).resolves.toBeUndefined();
  });
});
