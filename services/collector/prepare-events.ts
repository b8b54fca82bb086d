import type { Event, EventType } from '../../schemas';
import { ApiError, type ErrorCode } from '../common/error-codes';
import { cutBelow, MAX_JSON_NESTING, nestsDeeperThan } from '../common/json-nesting';
import type { SourceInfo } from './sources';
import { normaliseEvent } from './steps/normalise-event.step';
import { isObject, parseTimestamp, validateMessage, type JsonObject } from './steps/validate-message.step';

/**
 * From a decoded request body to the events to produce and the rejected ones, with no I/O.
 *
 * A single call (`/v1/track`) is one message whose type is the route's. A batch carries
 * `batch: [...]`, each element with its own `type`; the batch's `context` is the default
 * for each element's context (element keys win) and its `sentAt` the default sentAt. Each
 * element is checked on its own (32 KB limit, then validate-message, then normalise-event),
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

export interface RejectedEvent {
  readonly index: number;
  readonly code: ErrorCode;
  readonly reason: string;
  /** JSON path in the request (`batch[2].timestamp`, or `timestamp` for a single call). */
  readonly field: string | undefined;
  readonly stage: string;
  readonly messageId: string | undefined;
  /** The element's JSON, as bytes, for the dead letter. */
  readonly original: Buffer;
  readonly originalKey: string | null;
}

export interface PreparedRequest {
  readonly accepted: AcceptedEvent[];
  readonly rejected: RejectedEvent[];
}

export function prepareEvents(
  body: JsonObject,
  call: EventType | 'batch',
  meta: PrepareMeta,
  original?: Buffer,
): PreparedRequest {
  const eventLimit = meta.limits?.eventBytes ?? limits.eventBytes;
  const accepted: AcceptedEvent[] = [];
  const rejected: RejectedEvent[] = [];
  if (call !== 'batch') {
    // The write key is a credential: it never reaches a dead letter.
    const { writeKey, ...message } = body;
    handle(message, 0, '', call, undefined, writeKey === undefined ? original : undefined);
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
  elements.forEach((element, index) => {
    const merged =
      batchContext && isObject(element)
        ? { ...element, context: { ...batchContext, ...(isObject(element.context) ? element.context : {}) } }
        : element;
    handle(merged, index, `batch[${index}]`, undefined, batchSentAt, undefined);
  });
  return { accepted, rejected };

  function handle(
    message: unknown,
    index: number,
    path: string,
    type: EventType | undefined,
    sentAt: number | undefined,
    bytes: Buffer | undefined,
  ): void {
    // Before anything writes it out: JSON.stringify of a value nested thousands deep overflows the stack.
    const tooDeep = nestsDeeperThan(message, MAX_JSON_NESTING);
    const json =
      bytes ?? Buffer.from(JSON.stringify(tooDeep ? cutBelow(message, MAX_JSON_NESTING) : message) ?? 'null');
    const reject = (code: ErrorCode, reason: string, field: string | undefined, stage: string): void => {
      const fieldPath = [path, field].filter(Boolean).join('.') || undefined;
      rejected.push({
        index,
        code,
        reason,
        field: fieldPath,
        stage,
        messageId: isObject(message) && typeof message.messageId === 'string' ? message.messageId : undefined,
        original: json,
        originalKey: keyOf(message),
      });
    };
    if (tooDeep) {
      reject(
        'KUMIKI_INVALID_EVENT',
        `the event nests deeper than ${MAX_JSON_NESTING} levels`,
        undefined,
        'check-event-size',
      );
      return;
    }
    if (json.length > eventLimit) {
      reject(
        'KUMIKI_PAYLOAD_TOO_LARGE',
        `the event is ${json.length} bytes, over the limit of ${eventLimit / 1024} KB`,
        undefined,
        'check-event-size',
      );
      return;
    }
    const validated = validateMessage(message, type ? { type } : {});
    if (validated.kind !== 'ok') {
      if (validated.kind === 'dlq') reject(validated.code, validated.reason, validated.field, 'validate-message');
      return;
    }
    const normalised = normaliseEvent(validated.value, {
      receivedAt: meta.receivedAt,
      batchSentAt: sentAt,
      source: meta.source,
      ...(meta.newMessageId ? { newMessageId: meta.newMessageId } : {}),
    });
    if (normalised.kind === 'ok') accepted.push({ index, event: normalised.value });
    else if (normalised.kind === 'dlq') reject(normalised.code, normalised.reason, normalised.field, 'normalise-event');
  }
}

function keyOf(message: unknown): string | null {
  if (!isObject(message)) return null;
  for (const field of ['userId', 'anonymousId', 'messageId']) {
    const value = message[field];
    if ((typeof value === 'string' && value !== '') || typeof value === 'number') return String(value);
  }
  return null;
}
