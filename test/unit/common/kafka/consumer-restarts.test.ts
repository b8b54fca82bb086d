import { EventEmitter } from 'node:events';
import pino from 'pino';
import { restartsWhenKafkajsGivesUp } from '../../../../services/common/kafka/consumer-restarts';

const events = { CRASH: 'consumer.crash', GROUP_JOIN: 'consumer.group_join' } as const;

/** The two kafkajs consumer events the policy listens to, emitted by hand. */
function fakeConsumer() {
  const emitter = new EventEmitter();
  return {
    consumer: { events, on: (event: string, listener: (e: unknown) => void) => emitter.on(event, listener) } as never,
    crash: (restart: boolean) =>
      emitter.emit(events.CRASH, {
        payload: { error: new Error('Failed to find group coordinator'), groupId: 'g', restart },
      }),
    join: () => emitter.emit(events.GROUP_JOIN, { payload: {} }),
  };
}

const quiet = pino({ level: 'silent' });

/** The policy watching a fake consumer whose `run` is the mock `start`. */
function watched(
  options: { initialDelayMs: number; maxDelayMs?: number },
  start: jest.Mock = jest.fn(async () => undefined),
) {
  const fake = fakeConsumer();
  const restarts = restartsWhenKafkajsGivesUp(fake.consumer, quiet, options);
  restarts.watch(start);
  return { ...fake, restarts, start };
}

beforeEach(() => jest.useFakeTimers());
afterEach(() => jest.useRealTimers());

it('runs the consumer again after a crash kafkajs does not restart, with a doubling delay', async () => {
  const { crash, start } = watched({ initialDelayMs: 100, maxDelayMs: 1_000 });

  crash(false);
  await jest.advanceTimersByTimeAsync(99);
  expect(start).toHaveBeenCalledTimes(0);
  await jest.advanceTimersByTimeAsync(1);
  expect(start).toHaveBeenCalledTimes(1);

  crash(false);
  await jest.advanceTimersByTimeAsync(199);
  expect(start).toHaveBeenCalledTimes(1);
  await jest.advanceTimersByTimeAsync(1);
  expect(start).toHaveBeenCalledTimes(2);
});

it('leaves the crashes kafkajs restarts itself alone', async () => {
  const { crash, start } = watched({ initialDelayMs: 100 });
  crash(true);
  await jest.advanceTimersByTimeAsync(10_000);
  expect(start).not.toHaveBeenCalled();
});

it('starts the backoff over once the consumer has joined its group again', async () => {
  const { crash, join, start } = watched({ initialDelayMs: 100 });
  crash(false);
  await jest.advanceTimersByTimeAsync(100);
  crash(false);
  await jest.advanceTimersByTimeAsync(200);
  expect(start).toHaveBeenCalledTimes(2);
  join();
  crash(false);
  await jest.advanceTimersByTimeAsync(100);
  expect(start).toHaveBeenCalledTimes(3);
});

it('tries again when running the consumer again is refused', async () => {
  const { crash, start } = watched(
    { initialDelayMs: 100 },
    jest.fn().mockRejectedValueOnce(new Error('connect ECONNREFUSED')).mockResolvedValue(undefined),
  );
  crash(false);
  await jest.advanceTimersByTimeAsync(100);
  expect(start).toHaveBeenCalledTimes(1);
  await jest.advanceTimersByTimeAsync(200);
  expect(start).toHaveBeenCalledTimes(2);
});

it('restarts nothing once stopped, not even a restart already scheduled', async () => {
  const { crash, restarts, start } = watched({ initialDelayMs: 100 });
  crash(false);
  restarts.stop();
  crash(false);
  await jest.advanceTimersByTimeAsync(10_000);
  expect(start).not.toHaveBeenCalled();
});

it('says the consumer is consuming from a join until a crash, whoever restarts it, and not once stopped', async () => {
  const { crash, join, restarts } = watched({ initialDelayMs: 100 });
  expect(restarts.consuming()).toBe(false);
  join();
  expect(restarts.consuming()).toBe(true);
  crash(true);
  expect(restarts.consuming()).toBe(false);
  join();
  crash(false);
  expect(restarts.consuming()).toBe(false);
  await jest.advanceTimersByTimeAsync(100);
  expect(restarts.consuming()).toBe(false);
  join();
  expect(restarts.consuming()).toBe(true);
  restarts.stop();
  expect(restarts.consuming()).toBe(false);
});

it('tells kafkajs not to restart a consumer once it is being disconnected, so no unowned member stays in the group', async () => {
  const { restarts } = watched({ initialDelayMs: 100 });
  await expect(restarts.restartOnFailure()).resolves.toBe(true);
  restarts.stop();
  await expect(restarts.restartOnFailure()).resolves.toBe(false);
});
