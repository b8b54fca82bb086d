import type { EventType } from '../../../schemas';
import { step, type Step } from '../pipeline';
import { dlq, ok, type StepResult } from '../step-result';

/**
 * Checks one Segment tracking-API message (a single call's body, or one element of a batch)
 * and returns it typed, or a dead-letter verdict naming the field.
 *
 * Rules (Segment spec, "Common fields" and each call's page):
 * - every call needs `userId` or `anonymousId` (strings; numbers are accepted and turned
 *   into strings, as Segment does; empty strings count as absent);
 * - track needs `event`; group needs `groupId`; alias needs `previousId` and `userId`;
 * - `properties`, `traits`, `context` are objects when present (null counts as absent);
 * - `timestamp` (or `originalTimestamp`) and `sentAt` are ISO-8601 date-times; a date-time
 *   without an offset is read as UTC;
 * - `context.consent.categoryPreferences` (Segment consent spec) maps purposes to booleans.
 */
export const eventTypes: readonly EventType[] = ['track', 'identify', 'page', 'screen', 'group', 'alias'];

export type JsonObject = Record<string, unknown>;

export interface SegmentMessage {
  readonly type: EventType;
  readonly messageId: string | undefined;
  readonly event: string | undefined;
  readonly name: string | undefined;
  readonly category: string | undefined;
  readonly userId: string | undefined;
  readonly anonymousId: string | undefined;
  readonly previousId: string | undefined;
  readonly groupId: string | undefined;
  /** Epoch ms by the client's clock, as sent. */
  readonly timestamp: number | undefined;
  readonly sentAt: number | undefined;
  readonly context: JsonObject;
  readonly properties: JsonObject;
  readonly traits: JsonObject;
  readonly consent: Record<string, boolean>;
  /** Segment's own `channel` field (client, server, browser, mobile), a hint for the channel. */
  readonly channelHint: string | undefined;
}

export interface ValidateOptions {
  /** The call type the route implies (`/v1/track`); batch elements carry their own `type`. */
  readonly type?: EventType;
}

class Invalid {
  constructor(
    readonly code: 'KUMIKI_INVALID_EVENT' | 'KUMIKI_MISSING_FIELD' | 'KUMIKI_INVALID_TIMESTAMP',
    readonly field: string,
    readonly reason: string,
  ) {}
}

export function validateMessage(raw: unknown, options: ValidateOptions = {}): StepResult<SegmentMessage> {
  try {
    return ok(readMessage(raw, options));
  } catch (error) {
    if (error instanceof Invalid) return dlq(error.reason, error.code, { field: error.field });
    throw error;
  }
}

function readMessage(raw: unknown, options: ValidateOptions): SegmentMessage {
  if (!isObject(raw)) throw new Invalid('KUMIKI_INVALID_EVENT', '', 'an event must be a JSON object');
  const type = options.type ?? readType(raw.type);
  const userId = readId(raw, 'userId');
  const anonymousId = readId(raw, 'anonymousId');
  if (userId === undefined && anonymousId === undefined) {
    throw new Invalid('KUMIKI_MISSING_FIELD', 'userId', 'userId or anonymousId is required');
  }
  const context = readObject(raw, 'context');
  const message: SegmentMessage = {
    type,
    messageId: readString(raw, 'messageId'),
    event: readString(raw, 'event'),
    name: readString(raw, 'name'),
    category: readString(raw, 'category'),
    userId,
    anonymousId,
    previousId: readId(raw, 'previousId'),
    groupId: readId(raw, 'groupId'),
    timestamp: readTimestamp(raw, 'timestamp') ?? readTimestamp(raw, 'originalTimestamp'),
    sentAt: readTimestamp(raw, 'sentAt'),
    context,
    properties: readObject(raw, 'properties'),
    traits: readObject(raw, 'traits'),
    consent: readConsent(context),
    channelHint: readString(raw, 'channel'),
  };
  if (type === 'track' && message.event === undefined)
    throw new Invalid('KUMIKI_MISSING_FIELD', 'event', 'track needs an event name');
  if (type === 'group' && message.groupId === undefined)
    throw new Invalid('KUMIKI_MISSING_FIELD', 'groupId', 'group needs a groupId');
  if (type === 'alias') {
    if (message.previousId === undefined)
      throw new Invalid('KUMIKI_MISSING_FIELD', 'previousId', 'alias needs a previousId');
    if (message.userId === undefined) throw new Invalid('KUMIKI_MISSING_FIELD', 'userId', 'alias needs a userId');
  }
  return message;
}

function readType(value: unknown): EventType {
  if (value === undefined || value === null || value === '')
    throw new Invalid('KUMIKI_MISSING_FIELD', 'type', 'type is required in a batch');
  if (typeof value !== 'string' || !(eventTypes as readonly string[]).includes(value)) {
    throw new Invalid('KUMIKI_INVALID_EVENT', 'type', `type must be one of ${eventTypes.join(', ')}`);
  }
  return value as EventType;
}

function readString(raw: JsonObject, field: string): string | undefined {
  const value = raw[field];
  if (value === undefined || value === null || value === '') return undefined;
  if (typeof value !== 'string') throw new Invalid('KUMIKI_INVALID_EVENT', field, `${field} must be a string`);
  return value;
}

/** Ids may be numbers in the spec's SDKs; they become their decimal text. */
function readId(raw: JsonObject, field: string): string | undefined {
  const value = raw[field];
  if (typeof value === 'number' && Number.isFinite(value)) return String(value);
  if (value !== undefined && value !== null && typeof value !== 'string') {
    throw new Invalid('KUMIKI_INVALID_EVENT', field, `${field} must be a string or a number`);
  }
  return readString(raw, field);
}

function readObject(raw: JsonObject, field: string): JsonObject {
  const value = raw[field];
  if (value === undefined || value === null) return {};
  if (!isObject(value)) throw new Invalid('KUMIKI_INVALID_EVENT', field, `${field} must be a JSON object`);
  return value;
}

const isoDateTime =
  /^\d{4}-\d{2}-\d{2}(?:[Tt ](\d{2}):(\d{2})(?::(\d{2})(?:\.\d{1,9})?)?([Zz]|[+-]\d{2}(?::?\d{2})?)?)?$/;

/** ISO-8601 date or date-time to epoch ms; a date-time without an offset is UTC. */
/** The step: a Segment message, checked and typed. */
export function validateMessageStep(options: ValidateOptions = {}): Step<unknown, SegmentMessage> {
  return step('validate-message', (raw) => validateMessage(raw, options));
}

export function parseTimestamp(value: string): number | undefined {
  const match = isoDateTime.exec(value);
  if (!match) return undefined;
  let text = value.replace(' ', 'T');
  if (match[1] !== undefined && match[4] === undefined) text += 'Z';
  // Offsets without a colon (+0200) are ISO-8601 but not accepted by Date.parse everywhere.
  text = text.replace(/([+-]\d{2})(\d{2})$/, '$1:$2');
  const ms = Date.parse(text);
  return Number.isFinite(ms) ? ms : undefined;
}

function readTimestamp(raw: JsonObject, field: string): number | undefined {
  const value = raw[field];
  if (value === undefined || value === null || value === '') return undefined;
  const ms = typeof value === 'string' ? parseTimestamp(value) : undefined;
  if (ms === undefined) {
    throw new Invalid(
      'KUMIKI_INVALID_TIMESTAMP',
      field,
      `${field} must be an ISO-8601 date-time, got ${JSON.stringify(value).slice(0, 64)}`,
    );
  }
  return ms;
}

function readConsent(context: JsonObject): Record<string, boolean> {
  const consent = context.consent;
  if (consent === undefined || consent === null) return {};
  if (!isObject(consent))
    throw new Invalid('KUMIKI_INVALID_EVENT', 'context.consent', 'context.consent must be a JSON object');
  const preferences = consent.categoryPreferences;
  if (preferences === undefined || preferences === null) return {};
  if (!isObject(preferences)) {
    throw new Invalid(
      'KUMIKI_INVALID_EVENT',
      'context.consent.categoryPreferences',
      'context.consent.categoryPreferences must map purposes to true or false',
    );
  }
  const out: Record<string, boolean> = {};
  for (const [purpose, granted] of Object.entries(preferences)) {
    if (typeof granted !== 'boolean') {
      throw new Invalid(
        'KUMIKI_INVALID_EVENT',
        `context.consent.categoryPreferences.${purpose}`,
        'a consent purpose must be true or false',
      );
    }
    out[purpose] = granted;
  }
  return out;
}

export function isObject(value: unknown): value is JsonObject {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}
