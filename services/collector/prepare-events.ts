import type { Event, EventType } from '../../schemas';
import { ApiError } from '../common/error-codes';
import { cutBelow, MAX_JSON_NESTING, nestsDeeperThan } from '../common/json-nesting';
import { normaliseEventStep } from '../common/events/normalise-event.step';
import type { SourceInfo } from '../common/events/sources';
import { isObject, parseTimestamp, validateMessageStep, type JsonObject } from '../common/events/validate-message.step';
import { pipeline } from '../common/pipeline';
import { rejection, type Rejection } from '../common/result-handler';
import { checkEventSizeStep, type RequestElement } from './steps/check-event-size.step';

/**
 * From a decoded request body to the events to produce and the rejected ones, with no I/O.
 *
 * A single call (`/v1/track`) is one message whose type is the route's. A batch carries
 * `batch: [...]`, each element with its own `type`; the batch's `context` is the default
 * for each element's context (element keys win) and its `sentAt` the default sentAt. Each
 * element takes its path on its own (check-event-size → validate-message → normalise-event),
 * so one bad element never costs the others.
 */
export const limits = { eventBytes: 32 * 1024, batchBytes: 500 * 1024 } as const;

export interface PrepareMeta {
  readonly receivedAt: number;
  readonly source: SourceInfo;
  readonly limits?: { readonly eventBytes: number };
  readonly newMessageId?: () => string;
}

export interface AcceptedEvent {
  readonly index: number;
  readonly event: Event;
}

export interface PreparedRequest {
  readonly accepted: AcceptedEvent[];
  /** Each with its place in the request (`origin.path`, `origin.index`) and its JSON as bytes. */
  readonly rejected: Rejection[];
}

export function prepareEvents(
  body: JsonObject,
  call: EventType | 'batch',
  meta: PrepareMeta,
  original?: Buffer,
): PreparedRequest {
  const accepted: AcceptedEvent[] = [];
  const rejected: Rejection[] = [];
  const path = (type: EventType | undefined, batchSentAt: number | undefined) =>
    pipeline<RequestElement>()
      .pipe(checkEventSizeStep(meta.limits?.eventBytes ?? limits.eventBytes))
      .pipe(validateMessageStep(type ? { type } : {}))
      .pipe(
        normaliseEventStep({
          receivedAt: meta.receivedAt,
          batchSentAt,
          source: meta.source,
          ...(meta.newMessageId ? { newMessageId: meta.newMessageId } : {}),
        }),
      );
  const handle = (steps: ReturnType<typeof path>, message: unknown, index: number, where: string, bytes?: Buffer) => {
    // Before anything writes it out: JSON.stringify of a value nested thousands deep overflows the stack.
    const tooDeep = nestsDeeperThan(message, MAX_JSON_NESTING);
    const json =
      bytes ?? Buffer.from(JSON.stringify(tooDeep ? cutBelow(message, MAX_JSON_NESTING) : message) ?? 'null');
    const outcome = steps.runNow({ message, json, tooDeep });
    if (outcome.kind === 'ok') accepted.push({ index, event: outcome.value });
    else if (outcome.kind === 'dlq')
      rejected.push(
        rejection(outcome, {
          value: json,
          key: keyOf(message),
          messageId: isObject(message) && typeof message.messageId === 'string' ? message.messageId : null,
          path: where,
          index,
        }),
      );
  };

  if (call !== 'batch') {
    // The write key is a credential: it never reaches a dead letter.
    const { writeKey, ...message } = body;
    handle(path(call, undefined), message, 0, '', writeKey === undefined ? original : undefined);
    return { accepted, rejected };
  }

  const elements = body.batch;
  if (elements === undefined || elements === null)
    throw new ApiError('KUMIKI_MISSING_FIELD', 'a batch request needs a batch array', 'batch');
  if (!Array.isArray(elements)) throw new ApiError('KUMIKI_INVALID_EVENT', 'batch must be an array of events', 'batch');
  let batchSentAt: number | undefined;
  if (body.sentAt !== undefined && body.sentAt !== null) {
    batchSentAt = typeof body.sentAt === 'string' ? parseTimestamp(body.sentAt) : undefined;
    if (batchSentAt === undefined)
      throw new ApiError('KUMIKI_INVALID_TIMESTAMP', 'sentAt must be an ISO-8601 date-time', 'sentAt');
  }
  const batchContext = isObject(body.context) ? body.context : undefined;
  const steps = path(undefined, batchSentAt);
  elements.forEach((element, index) => {
    const merged =
      batchContext && isObject(element)
        ? { ...element, context: { ...batchContext, ...(isObject(element.context) ? element.context : {}) } }
        : element;
    handle(steps, merged, index, `batch[${index}]`);
  });
  return { accepted, rejected };
}

function keyOf(message: unknown): string | null {
  if (!isObject(message)) return null;
  for (const field of ['userId', 'anonymousId', 'messageId']) {
    const value = message[field];
    if ((typeof value === 'string' && value !== '') || typeof value === 'number') return String(value);
  }
  return null;
}
