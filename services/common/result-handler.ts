import type { ErrorCode } from './error-codes';
import { errorMessage } from './errors';
import type { IncomingMessage } from './kafka/messages';
import type { Logger } from './logger';
import { Counter, type Registry } from './metrics';
import type { DeadLetterVerdict } from './step-result';

/**
 * The one place where what a step would not pass becomes something (STYLE.md, "Steps return
 * results; one place handles failure"). The collector, the stitcher, the materializer, the
 * activator and `kumiki import` hand their drops and dead-letter verdicts here, in one shape
 * (`Rejection`, which a service may extend with what its dead letters record):
 * drops are counted by step; rejections go to the sink — kumiki.events.dlq (dead-letters.ts:
 * a producer, or the stitcher's open transaction), the import's summary, or, for the activator's
 * deliveries a destination refused for good, kumiki.destinations.dlq — and once the sink
 * has them each is logged (without the payload, which may be personal data) and counted by
 * step and by code. Steps never log, produce or count a rejection themselves.
 *
 * A sink that fails is rethrown: the caller must not acknowledge the input (the collector
 * answers 503, a consumer does not commit the offset).
 */

/** Where an input came from and what it was: a dead letter keeps all of it. */
export interface InputOrigin {
  /** The input as it arrived, kept whole. */
  readonly value: Buffer;
  readonly key?: Buffer | string | null;
  readonly messageId?: string | null;
  /** A Kafka record's place. */
  readonly topic?: string;
  readonly partition?: number;
  readonly offset?: string | number;
  /**
   * Where in an HTTP request the input was (`batch[2]`; '' for a single call): the answer and
   * the dead letter name the offending field there (`batch[2].timestamp`).
   */
  readonly path?: string;
  /** Its position in its request or file (a batch element's index, a file's line). */
  readonly index?: number;
  readonly attempt?: number;
}

/** An input a step dead-lettered: the step, its verdict, and the input. */
export interface Rejection {
  readonly step: string;
  readonly code: ErrorCode;
  readonly reason: string;
  /** JSON path of the offending value within the input. */
  readonly field?: string;
  /** The error behind the verdict, if any; its class and message are kept for debugging. */
  readonly error?: unknown;
  readonly origin: InputOrigin;
}

/** A step's verdict on an input, with where the input came from (the verdict's messageId, if the step read one). */
export function rejection(verdict: DeadLetterVerdict & { readonly step: string }, origin: InputOrigin): Rejection {
  return {
    step: verdict.step,
    code: verdict.code,
    reason: verdict.reason,
    ...(verdict.field !== undefined ? { field: verdict.field } : {}),
    ...(verdict.error !== undefined ? { error: verdict.error } : {}),
    origin: verdict.messageId === undefined ? origin : { ...origin, messageId: verdict.messageId },
  };
}

/** Where a Kafka record came from, for its dead letter. */
export function recordOrigin(message: IncomingMessage): InputOrigin {
  return {
    topic: message.topic,
    partition: message.partition,
    offset: message.offset,
    key: message.key,
    value: message.value ?? Buffer.alloc(0),
  };
}

/** The offending field as its sender knows it: within the request for HTTP input (`batch[2].timestamp`). */
export function fieldOf(rejected: Rejection): string | undefined {
  const { path } = rejected.origin;
  if (path === undefined) return rejected.field;
  return [path, rejected.field].filter(Boolean).join('.') || undefined;
}

/** Where rejections go; resolves once they are safe there (for Kafka: acknowledged, or in the open transaction). */
export type RejectionSink<R extends Rejection = Rejection> = (rejections: readonly R[]) => Promise<void>;

export interface ResultHandlerOptions<R extends Rejection = Rejection> {
  readonly logger: Logger;
  readonly sink: RejectionSink<R>;
  /** What else the log line of a rejection names (e.g. the destination a delivery was for). */
  readonly logFields?: (rejected: R) => Readonly<Record<string, unknown>>;
  /** Registers `kumiki_inputs_stopped_total{step,outcome}` (shared by every handler of the registry). */
  readonly registry?: Registry;
  /** The service's own count of dead letters by code and stage (the step's name), when it has one. */
  readonly deadLetters?: Counter<'code' | 'stage'>;
}

export interface ResultHandler<R extends Rejection = Rejection> {
  /** Counts inputs a step deliberately ignored; nothing is written. */
  dropped(step: string, count?: number): void;
  /** Hands `rejections` to the sink, then logs and counts each; rethrows when the sink fails. */
  rejected(rejections: readonly R[]): Promise<void>;
}

const STOPPED = 'kumiki_inputs_stopped_total';

export function createResultHandler<R extends Rejection = Rejection>(
  options: ResultHandlerOptions<R>,
): ResultHandler<R> {
  const logger = options.logger.child({ component: 'results' });
  const stopped = options.registry && stoppedCounter(options.registry);
  return {
    dropped(step, count = 1) {
      stopped?.inc({ step, outcome: 'drop' }, count);
    },
    async rejected(rejections) {
      if (rejections.length === 0) return;
      try {
        await options.sink(rejections);
      } catch (error) {
        logger.error({ count: rejections.length, error: errorMessage(error) }, 'dead letters could not be written');
        throw error;
      }
      for (const rejected of rejections) {
        stopped?.inc({ step: rejected.step, outcome: 'dlq' });
        options.deadLetters?.inc({ code: rejected.code, stage: rejected.step });
        const { origin } = rejected;
        logger.warn(
          {
            code: rejected.code,
            stage: rejected.step,
            reason: rejected.reason,
            messageId: origin.messageId ?? undefined,
            originalTopic: origin.topic,
            originalPartition: origin.partition,
            originalOffset: origin.offset,
            ...options.logFields?.(rejected),
          },
          'input dead-lettered',
        );
      }
    },
  };
}

function stoppedCounter(registry: Registry): Counter<'step' | 'outcome'> {
  const existing = registry.getSingleMetric(STOPPED);
  if (existing) return existing as Counter<'step' | 'outcome'>;
  return new Counter({
    name: STOPPED,
    help: 'Inputs a step ended instead of passing on, by step and outcome (drop, dlq)',
    labelNames: ['step', 'outcome'],
    registers: [registry],
  });
}
