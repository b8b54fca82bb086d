import { randomUUID } from 'node:crypto';
import type { Event } from '../../../schemas';
import { step, type Step } from '../pipeline';
import { ok, type StepResult } from '../step-result';
import { inferChannel, type SourceInfo } from './sources';
import { isObject, type SegmentMessage } from './validate-message.step';

export interface NormaliseMeta {
  /** When the collector received the request, by its own clock (epoch ms). */
  readonly receivedAt: number;
  /** The batch's `sentAt`, used when the message has none of its own. */
  readonly batchSentAt: number | undefined;
  readonly source: SourceInfo;
  readonly newMessageId?: () => string;
}

/**
 * Turns a validated Segment message into kumiki's Event.
 *
 * Clock skew (Segment, "Timestamps"): the client's clock may be wrong, but the interval
 * between `timestamp` and `sentAt` is measured on that one clock, so the event time is
 *   timestamp = receivedAt − (sentAt − originalTimestamp).
 * Without `sentAt` there is nothing to correct with and the client's `timestamp` is kept;
 * without `timestamp` the event happened when it was received.
 */
export function normaliseEvent(message: SegmentMessage, meta: NormaliseMeta): StepResult<Event> {
  const sentAt = message.sentAt ?? meta.batchSentAt;
  const original = message.timestamp;
  const timestamp =
    original === undefined ? meta.receivedAt : sentAt === undefined ? original : meta.receivedAt - (sentAt - original);
  const properties =
    message.category !== undefined &&
    (message.type === 'page' || message.type === 'screen') &&
    message.properties.category === undefined
      ? { ...message.properties, category: message.category }
      : message.properties;
  const library = isObject(message.context.library) ? message.context.library.name : undefined;
  return ok({
    messageId: message.messageId ?? (meta.newMessageId ?? randomUUID)(),
    type: message.type,
    event: message.type === 'track' ? (message.event ?? null) : null,
    name: message.type === 'page' || message.type === 'screen' ? (message.name ?? null) : null,
    userId: message.userId ?? null,
    anonymousId: message.anonymousId ?? null,
    previousId: message.previousId ?? null,
    groupId: message.groupId ?? null,
    timestamp,
    sentAt: sentAt ?? null,
    receivedAt: meta.receivedAt,
    channel: meta.source.channel === 'auto' ? inferChannel(library, message.channelHint) : meta.source.channel,
    source: meta.source.source,
    context: JSON.stringify(message.context),
    properties: JSON.stringify(properties),
    traits: JSON.stringify(message.traits),
    consent: message.consent,
  });
}

/** The step: a validated Segment message as kumiki's Event. */
export function normaliseEventStep(meta: NormaliseMeta): Step<SegmentMessage, Event> {
  return step('normalise-event', (message) => normaliseEvent(message, meta));
}
