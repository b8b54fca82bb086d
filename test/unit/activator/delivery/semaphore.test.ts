import { Semaphore, StoppedError } from '../../../../services/activator/delivery/flow-control';

describe('the in-flight semaphore', () => {
  it('hands a released slot to the oldest waiter, and passes over a stopped one', async () => {
    const semaphore = new Semaphore(1);
    const running = new AbortController();
    const stopped = new AbortController();
    const first = semaphore.acquire(running.signal);
    expect(typeof first).toBe('function');

    const order: string[] = [];
    const second = Promise.resolve(semaphore.acquire(stopped.signal)).then(
      () => order.push('second'),
      (error: unknown) => order.push(error instanceof StoppedError ? 'second stopped' : 'second failed'),
    );
    const third = Promise.resolve(semaphore.acquire(running.signal)).then((release) => {
      order.push('third');
      return release;
    });
    stopped.abort();
    (first as () => void)();
    const release = await third;
    await second;
    expect(order).toEqual(['second stopped', 'third']);
    expect(semaphore.inFlight).toBe(1);

    release();
    expect(semaphore.inFlight).toBe(0);
  });

  it('gives up every waiter on cancelWaiting, keeping the slots held', async () => {
    const semaphore = new Semaphore(1);
    const signal = new AbortController().signal;
    semaphore.acquire(signal);
    const waiting = Promise.resolve(semaphore.acquire(signal));
    semaphore.cancelWaiting();
    await expect(waiting).rejects.toBeInstanceOf(StoppedError);
    expect(semaphore.inFlight).toBe(1);
  });
});
