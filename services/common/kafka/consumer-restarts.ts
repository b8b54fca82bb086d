import type { Consumer } from 'kafkajs';
import { errorMessage } from '../errors';
import type { Logger } from '../logger';

export interface ConsumerRestarts {
  /** The consumer's `run`, called again after a crash kafkajs does not restart. */
  watch(start: () => Promise<void>): void;
  /**
   * In its group and fetching: from the first join, and again from each join after a crash
   * (whoever restarts it). A service that answers ready while this is false consumes nothing.
   */
  consuming(): boolean;
  /** No restart from now on (the consumer is being disconnected). */
  stop(): void;
  /**
   * kafkajs' `retry.restartOnFailure`: false once stopped. A disconnect that races a crash (a
   * socket closed mid-join) would otherwise be followed by kafkajs' own restart, leaving a member
   * nobody owns in the group, holding partitions and delivering nothing.
   */
  restartOnFailure(): Promise<boolean>;
}

/**
 * kafkajs restarts a crashed consumer only when the error is retriable. Some errors a broker
 * restart causes are not (KafkaJSGroupCoordinatorNotFound while the group coordinator loads):
 * then the consumer stays stopped, `run` having resolved long before, and the service would go
 * on ready and consuming nothing. Those crashes are restarted here the way kafkajs restarts the
 * others (stop, then run again), with a backoff that a successful join resets: to the handler
 * it is a rebalance, batches in hand finish and the group resumes from its committed offsets.
 */
export function restartsWhenKafkajsGivesUp(
  consumer: Pick<Consumer, 'on' | 'events'>,
  logger: Logger,
  options: { initialDelayMs?: number; maxDelayMs?: number } = {},
): ConsumerRestarts {
  const initialDelayMs = options.initialDelayMs ?? 1_000;
  const maxDelayMs = options.maxDelayMs ?? 30_000;
  let start: (() => Promise<void>) | undefined;
  let stopped = false;
  let timer: NodeJS.Timeout | undefined;
  let attempt = 0;
  let joined = false;
  const restartLater = (error: unknown): void => {
    if (stopped || !start || timer) return;
    const delayMs = Math.min(maxDelayMs, initialDelayMs * 2 ** attempt);
    attempt += 1;
    logger.error(
      { error: errorMessage(error), attempt, delayMs },
      'the Kafka consumer stopped on an error kafkajs does not retry: restarting it',
    );
    timer = setTimeout(() => {
      timer = undefined;
      // A crash while starting comes back as another CRASH event; a rejection is one too.
      if (!stopped) start!().catch(restartLater);
    }, delayMs);
  };
  consumer.on(consumer.events.GROUP_JOIN, () => {
    attempt = 0;
    joined = true;
  });
  consumer.on(consumer.events.CRASH, ({ payload }) => {
    joined = false;
    // kafkajs emits this once it has stopped the consumer; with `restart` it starts it again itself.
    if (!payload.restart) restartLater(payload.error);
  });
  return {
    watch: (run) => (start = run),
    consuming: () => joined && !stopped,
    stop: () => {
      stopped = true;
      if (timer) clearTimeout(timer);
    },
    restartOnFailure: async () => !stopped,
  };
}
