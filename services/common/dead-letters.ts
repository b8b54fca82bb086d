import type { DeadLetter } from '../../schemas';
import { errorMessage } from './errors';
import type { EventProducer, OutgoingMessage } from './kafka/client';
import { topics } from './kafka/topics';
import { fieldOf, type Rejection, type RejectionSink } from './result-handler';

/**
 * Rejections as records of `kumiki.events.dlq` (Avro `DeadLetter`, keyed by the original key):
 * the reason, the stable code, the step that rejected the input, the input's provenance and its
 * original bytes. The result handler (result-handler.ts) is what hands them here.
 */

/** Builds the record (pure). Input from an HTTP request names the field within the request in its reason. */
export function toDeadLetter(rejected: Rejection, service: string, now: number): DeadLetter {
  const { origin } = rejected;
  const where = origin.path === undefined ? undefined : fieldOf(rejected);
  const reason = where ? `${rejected.reason} (${where})` : rejected.reason;
  const error =
    rejected.error === undefined
      ? reason
      : rejected.error instanceof Error
        ? `${rejected.error.name}: ${rejected.error.message}`
        : errorMessage(rejected.error);
  return {
    reason,
    code: rejected.code,
    stage: rejected.step,
    error,
    service,
    originalTopic: origin.topic ?? null,
    originalPartition: origin.partition ?? null,
    originalOffset: origin.offset === undefined ? null : Number(origin.offset),
    originalKey: origin.key === undefined || origin.key === null ? null : Buffer.from(origin.key),
    originalValue: origin.value,
    attempt: origin.attempt ?? 1,
    failedAt: now,
    messageId: origin.messageId ?? null,
  };
}

export interface DeadLetterTopicOptions {
  readonly service: string;
  /** A producer, or the stitcher's open transaction. */
  readonly producer: Pick<EventProducer, 'send'>;
  /** Writes a DeadLetter in the wire format (AvroCodec.encode bound to the DLQ topic). */
  readonly encode: (topic: string, value: DeadLetter) => Buffer;
  /** Defaults to `kumiki.events.dlq`; tests use their own. */
  readonly topic?: string;
  readonly now?: () => number;
}

/** A sink producing rejections to the dead-letter topic (acks=all), with code and stage headers; rethrows on failure. */
export function deadLetterTopic(options: DeadLetterTopicOptions): RejectionSink {
  const topic = options.topic ?? topics.deadLetters.name;
  const now = options.now ?? Date.now;
  return async (rejections) => {
    const at = now();
    const messages: OutgoingMessage[] = rejections.map((rejected) => ({
      key: rejected.origin.key ?? null,
      value: options.encode(topic, toDeadLetter(rejected, options.service, at)),
      headers: { 'kumiki-dlq-code': rejected.code, 'kumiki-dlq-stage': rejected.step },
    }));
    await options.producer.send(topic, messages);
  };
}
