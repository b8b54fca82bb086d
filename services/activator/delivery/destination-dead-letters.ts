import type { DestinationDeadLetter } from '../../../schemas';
import type { EventProducer } from '../../common/kafka/client';
import type { AvroCodec } from '../../common/registry/avro-codec';
import type { Rejection, RejectionSink } from '../../common/result-handler';
import type { WebhookResponse } from './webhook-sender';

/** A change a destination refused for good: the one result handler's rejection, with the delivery it was. */
export interface RefusedDelivery extends Rejection {
  readonly delivery: {
    readonly destinationId: string;
    readonly webhookId: string;
    readonly eventType: string;
    readonly profileId: string | null;
    readonly attempts: number;
    readonly response?: WebhookResponse;
  };
}

/**
 * Writes refused deliveries to kumiki.destinations.dlq as DestinationDeadLetter records, keyed by
 * destination, resolving once they are acknowledged (a failed produce leaves the change
 * unfinished, to be delivered again).
 */
export function destinationDeadLetters(deps: {
  readonly producer: () => Pick<EventProducer, 'send'>;
  readonly codec: () => AvroCodec;
  readonly topic: string;
  readonly now: () => number;
}): RejectionSink<RefusedDelivery> {
  return async (refused) => {
    const failedAt = deps.now();
    await deps.producer().send(
      deps.topic,
      refused.map((rejected) => ({
        key: rejected.delivery.destinationId,
        value: deps.codec().encode(deps.topic, deadLetterRecord(rejected, failedAt)),
      })),
    );
  };
}

function deadLetterRecord(
  { delivery, origin, code, reason }: RefusedDelivery,
  failedAt: number,
): DestinationDeadLetter {
  return {
    destinationId: delivery.destinationId,
    webhookId: delivery.webhookId,
    eventType: delivery.eventType,
    profileId: delivery.profileId,
    code,
    reason,
    attempts: delivery.attempts,
    responseStatus: delivery.response?.status ?? null,
    responseHeaders: { ...(delivery.response?.headers ?? {}) },
    responseBody: delivery.response ? delivery.response.body : null,
    failedAt,
    originalTopic: origin.topic ?? '',
    originalPartition: origin.partition ?? 0,
    originalOffset: Number(origin.offset ?? 0),
    originalKey: origin.key === undefined || origin.key === null ? null : Buffer.from(origin.key),
    originalValue: Buffer.from(origin.value),
  };
}
