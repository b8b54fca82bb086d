import type { DeadLetter } from '../../schemas';
import type { ErrorCode } from './error-codes';
import { errorMessage } from './errors';
import type { EventProducer, OutgoingMessage } from './kafka/client';
import { topics } from './kafka/topics';
import type { Logger } from './logger';
import type { Counter } from './metrics';

/**
 * The one place input that can never be processed goes (STYLE.md): every service hands its
 * dlq verdicts here, and this writes them to `kumiki.events.dlq` (Avro `DeadLetter`, keyed by
 * the original key) with the reason, the stable code, the step that rejected the input,
 * the input's provenance and its original bytes, logs one line each (without the payload,
 * which may be personal data) and counts them.
 *
 * A failed dead-letter produce is rethrown: the caller must not acknowledge the input (the
 * collector answers 503, a consumer does not commit the offset).
 */
export interface DeadLetterInput {
  readonly reason: string;
  readonly code: ErrorCode | string;
  /** Name of the step that rejected the input (e.g. `validate-message`). */
  readonly stage: string;
  /** The error behind the verdict, if any; its class and message are kept for debugging. */
  readonly error?: unknown;
  readonly originalTopic?: string;
  readonly originalPartition?: number;
  readonly originalOffset?: string | number;
  readonly originalKey?: Buffer | string | null;
  readonly originalValue: Buffer;
  readonly attempt?: number;
  readonly messageId?: string | null;
}

/** Builds the record (pure; exported for tests and for callers that batch their own produces). */
export function toDeadLetter(input: DeadLetterInput, service: string, now: number): DeadLetter {
  const error =
    input.error === undefined
      ? input.reason
      : input.error instanceof Error
        ? `${input.error.name}: ${input.error.message}`
        : errorMessage(input.error);
  return {
    reason: input.reason,
    code: input.code,
    stage: input.stage,
    error,
    service,
    originalTopic: input.originalTopic ?? null,
    originalPartition: input.originalPartition ?? null,
    originalOffset: input.originalOffset === undefined ? null : Number(input.originalOffset),
    originalKey: input.originalKey === undefined || input.originalKey === null ? null : Buffer.from(input.originalKey),
    originalValue: input.originalValue,
    attempt: input.attempt ?? 1,
    failedAt: now,
    messageId: input.messageId ?? null,
  };
}

export interface DeadLetterHandlerOptions {
  readonly service: string;
  readonly producer: Pick<EventProducer, 'send'>;
  /** Writes a DeadLetter in the wire format (AvroCodec.encode bound to the DLQ topic). */
  readonly encode: (topic: string, value: DeadLetter) => Buffer;
  readonly logger: Logger;
  /** Counts dead letters by code and stage, when given. */
  readonly counter?: Counter<'code' | 'stage'>;
  /** Defaults to `kumiki.events.dlq`; tests use their own. */
  readonly topic?: string;
  readonly now?: () => number;
}

export interface DeadLetterHandler {
  readonly topic: string;
  /** Produces the dead letters (acks=all) and resolves once Kafka has them; rethrows on failure. */
  send(inputs: readonly DeadLetterInput[]): Promise<void>;
}

export function createDeadLetterHandler(options: DeadLetterHandlerOptions): DeadLetterHandler {
  const topic = options.topic ?? topics.deadLetters.name;
  const logger = options.logger.child({ component: 'dead-letters', topic });
  const now = options.now ?? Date.now;
  return {
    topic,
    async send(inputs) {
      if (inputs.length === 0) return;
      const at = now();
      const messages: OutgoingMessage[] = inputs.map((input) => ({
        key: input.originalKey ?? null,
        value: options.encode(topic, toDeadLetter(input, options.service, at)),
        headers: { 'kumiki-dlq-code': String(input.code), 'kumiki-dlq-stage': input.stage },
      }));
      try {
        await options.producer.send(topic, messages);
      } catch (error) {
        logger.error({ count: inputs.length, error: errorMessage(error) }, 'dead letters could not be written');
        throw error;
      }
      for (const input of inputs) {
        options.counter?.inc({ code: String(input.code), stage: input.stage });
        logger.warn(
          {
            code: input.code,
            stage: input.stage,
            reason: input.reason,
            messageId: input.messageId ?? undefined,
            originalTopic: input.originalTopic,
            originalPartition: input.originalPartition,
            originalOffset: input.originalOffset,
          },
          'input dead-lettered',
        );
      }
    },
  };
}
