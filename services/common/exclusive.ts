/** Runs tasks one at a time, in the order they were handed over. */
export type Exclusive = <T>(task: () => Promise<T>) => Promise<T>;

/** A fresh queue: each task starts once the one before it settled, whether it succeeded or failed. */
export function createExclusive(): Exclusive {
  let tail: Promise<unknown> = Promise.resolve();
  return (task) => {
    const run = tail.then(task, task);
    tail = run.catch(() => undefined);
    return run;
  };
}
