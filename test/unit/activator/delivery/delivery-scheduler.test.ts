import { DeliveryScheduler, type DeliveryJob } from '../../../../services/activator/delivery/delivery-scheduler';
import type { IncomingMessage } from '../../../../services/common/kafka/client';

/** Jobs that finish only when the test says so, so order and commits can be watched step by step. */
function harness(options: { maxPending?: number; maxActive?: number } = {}) {
  const running: { job: DeliveryJob; finish: () => void; fail: (error: Error) => void }[] = [];
  const failures: unknown[] = [];
  const scheduler = new DeliveryScheduler({
    maxPending: options.maxPending ?? 100,
    maxActive: options.maxActive ?? 100,
    run: (job) =>
      new Promise<void>((resolve, reject) => {
        running.push({ job, finish: resolve, fail: reject });
      }),
    onFailure: (error) => failures.push(error),
  });
  const started = (): string[] => running.map((r) => `${r.job.message.key}@${r.job.message.offset}`);
  const finish = async (key: string, offset: string): Promise<void> => {
    const at = running.findIndex((r) => r.job.message.key?.toString() === key && r.job.message.offset === offset);
    running.splice(at, 1)[0]!.finish();
    await new Promise((resolve) => setImmediate(resolve));
  };
  return { scheduler, running, started, finish, failures };
}

const message = (key: string, offset: number): IncomingMessage => ({
  topic: 't',
  partition: 0,
  offset: String(offset),
  key: Buffer.from(key),
  value: Buffer.from('v'),
  headers: {},
  timestamp: '0',
});

describe('DeliveryScheduler', () => {
  it("delivers a profile's changes one after another, other profiles at once", async () => {
    const { scheduler, started, finish } = harness();
    void scheduler.offer('t', 0, [message('a', 0), message('b', 1), message('a', 2), message('c', 3)], '3', 0);
    expect(started()).toEqual(['a@0', 'b@1', 'c@3']);
    await finish('a', '0');
    expect(started()).toEqual(['b@1', 'c@3', 'a@2']);
  });

  it('commits only up to the first unfinished change, then past the last fetched record', async () => {
    const { scheduler, finish } = harness();
    void scheduler.offer('t', 0, [message('a', 10), message('b', 11), message('c', 12)], '13', 0);
    expect(scheduler.committable()).toEqual(new Map([['t/0', 10n]]));
    await finish('b', '11');
    await finish('c', '12');
    expect(scheduler.committable()).toEqual(new Map([['t/0', 10n]]));
    await finish('a', '10');
    // 13 was a transaction marker: committing past it leaves no lag behind.
    expect(scheduler.committable()).toEqual(new Map([['t/0', 14n]]));
  });

  it('holds back offers beyond maxPending until changes finish', async () => {
    const { scheduler, finish } = harness({ maxPending: 2 });
    let room = false;
    void scheduler.offer('t', 0, [message('a', 0), message('b', 1)], '1', 0).then(() => (room = true));
    await new Promise((resolve) => setImmediate(resolve));
    expect(room).toBe(false);
    await finish('a', '0');
    expect(room).toBe(true);
  });

  it('works on at most maxActive changes at once, the others waiting in order', async () => {
    const { scheduler, started, finish } = harness({ maxActive: 2 });
    void scheduler.offer('t', 0, [message('a', 0), message('b', 1), message('c', 2), message('d', 3)], '3', 0);
    expect(started()).toEqual(['a@0', 'b@1']);
    await finish('a', '0');
    expect(started()).toEqual(['b@1', 'c@2']);
  });

  it('abandons everything on reset: what finishes afterwards no longer counts', async () => {
    const { scheduler, running, started, finish } = harness();
    void scheduler.offer('t', 0, [message('a', 5), message('a', 6)], '6', 0);
    const old = running[0]!.job;
    scheduler.reset();
    expect(old.signal.aborted).toBe(true);
    expect(scheduler.committable()).toEqual(new Map());
    void scheduler.offer('t', 0, [message('a', 5)], '5', 0);
    await finish('a', '5'); // the old generation's job
    expect(started()).toEqual(['a@5']);
    expect(scheduler.committable()).toEqual(new Map([['t/0', 5n]]));
  });

  it('reports a job that throws, and does not take it as finished', async () => {
    const { scheduler, running, failures } = harness();
    void scheduler.offer('t', 0, [message('a', 0)], '0', 0);
    running[0]!.fail(new Error('bug'));
    await new Promise((resolve) => setImmediate(resolve));
    expect(failures).toEqual([new Error('bug')]);
    expect(scheduler.committable()).toEqual(new Map([['t/0', 0n]]));
  });
});
