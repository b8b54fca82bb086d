import { z } from 'zod';
import type { Event } from '../../../schemas';
import { schema } from '../../../schemas';
import { isRetriable, errorMessage } from '../../common/errors';
import type { IncomingMessage } from '../../common/kafka/messages';
import { step, type Step } from '../../common/pipeline';
import { invalidFields, type AvroCodec, type Decoded } from '../../common/registry';
import { dlq, drop, ok, type StepResult } from '../../common/step-result';

/** An input event, and the record itself when it was written with our own Event schema (its body is reusable as is). */
export interface DecodedEvent {
  readonly event: Event;
  readonly ownSchemaRecord: Buffer | undefined;
}

/**
 * Reads an Avro Event in the Confluent wire format (schema resolution to our Event schema): at
 * once when its writer schema is known, else through a promise that fetches it.
 */
export type DecodeAvroEvent = (bytes: Buffer) => DecodedEvent | Promise<DecodedEvent>;

/**
 * `kumiki.events.raw`: Avro. A record that cannot be decoded is dead-lettered; a registry
 * outage (retriable) is thrown, so the batch is retried and nothing is skipped.
 *
 * Synchronous unless the writer schema must be fetched: this runs for every record of a batch
 * before anything else, and an await per record (a promise and a microtask turn each, thousands
 * a batch) cost the stitcher about 8 % of its throughput.
 */
export function decodeAvroEvent(
  message: IncomingMessage,
  decode: DecodeAvroEvent,
): StepResult<DecodedEvent> | Promise<StepResult<DecodedEvent>> {
  if (message.value === null || message.value.length === 0) return drop('empty record');
  let decoded: DecodedEvent | Promise<DecodedEvent>;
  try {
    decoded = decode(message.value);
  } catch (error) {
    return undecodable(error);
  }
  return decoded instanceof Promise ? decoded.then(ok, undecodable) : ok(decoded);
}

/**
 * The step for `kumiki.events.raw`. `codec` is the registry component's current codec; a record
 * written with our own Event schema is kept, so its body can be reused as it is.
 */
export function decodeAvroEventStep(
  codec: () => Pick<AvroCodec, 'schemaIdOf' | 'decodeNowOrLater'>,
  rawTopic: string,
): Step<IncomingMessage, DecodedEvent> {
  const eventType = schema('Event').type;
  return step('decode-avro-event', (message) => {
    const current = codec();
    const ownSchemaId = current.schemaIdOf(rawTopic);
    return decodeAvroEvent(message, (bytes) => {
      const withBody = ({ schemaId, value }: Decoded<Event>): DecodedEvent => ({
        event: value,
        ownSchemaRecord: schemaId === ownSchemaId ? bytes : undefined,
      });
      const decoding = current.decodeNowOrLater<Event>(bytes, eventType);
      return decoding instanceof Promise ? decoding.then(withBody) : withBody(decoding);
    });
  });
}

/** The step for `kumiki.events.json`. */
export const parseJsonEventStep: Step<IncomingMessage, DecodedEvent> = step('parse-json-event', (message) => {
  const parsed = parseJsonEvent(message);
  return parsed.kind === 'ok' ? ok({ event: parsed.value, ownSchemaRecord: undefined }) : parsed;
});

function undecodable(error: unknown): StepResult<DecodedEvent> {
  if (isRetriable(error)) throw error;
  return dlq(`not an Avro Event in the wire format: ${errorMessage(error)}`, 'KUMIKI_UNDECODABLE', { error });
}

const eventTypes = ['track', 'identify', 'page', 'screen', 'group', 'alias'] as const;
const optionalText = z
  .union([z.string(), z.number()])
  .nullish()
  .transform((value) => (value === undefined || value === null ? null : String(value)));
const time = z.union([z.number().finite(), z.string().min(1)]).transform((value, ctx) => {
  const ms = typeof value === 'number' ? value : Date.parse(value);
  if (!Number.isFinite(ms)) {
    ctx.addIssue({ code: 'custom', message: 'must be epoch milliseconds or an ISO-8601 date-time' });
    return z.NEVER;
  }
  return Math.trunc(ms);
});
const jsonText = z
  .union([z.record(z.string(), z.unknown()), z.string()])
  .nullish()
  .transform((value, ctx) => {
    if (value === undefined || value === null) return '{}';
    if (typeof value !== 'string') return JSON.stringify(value);
    try {
      const parsed: unknown = JSON.parse(value);
      if (parsed !== null && typeof parsed === 'object' && !Array.isArray(parsed)) return value;
    } catch {
      // reported below
    }
    ctx.addIssue({ code: 'custom', message: 'must be a JSON object (or its text)' });
    return z.NEVER;
  });

/** The Event shape as JSON: objects may be inline, times may be ISO strings; absent fields get defaults. */
const jsonEvent = z.object({
  messageId: z.string().min(1),
  type: z.enum(eventTypes),
  event: optionalText,
  name: optionalText,
  userId: optionalText,
  anonymousId: optionalText,
  previousId: optionalText,
  groupId: optionalText,
  timestamp: time.optional(),
  sentAt: time.nullish(),
  receivedAt: time.optional(),
  channel: z.string().min(1).default('server'),
  source: z.string().min(1).default('kafka-json'),
  context: jsonText,
  properties: jsonText,
  traits: jsonText,
  consent: z.record(z.string(), z.boolean()).default({}),
});

/**
 * `kumiki.events.json`: the Event in JSON. `timestamp` and `receivedAt` default to the
 * record's Kafka timestamp. The result is checked against the Avro Event schema, so what
 * is stitched is exactly what an Avro producer could have sent.
 */
export function parseJsonEvent(message: IncomingMessage): StepResult<Event> {
  if (message.value === null || message.value.length === 0) return drop('empty record');
  let raw: unknown;
  try {
    raw = JSON.parse(message.value.toString('utf8'));
  } catch (error) {
    return dlq('not JSON', 'KUMIKI_UNDECODABLE', { error });
  }
  if (raw === null || typeof raw !== 'object' || Array.isArray(raw))
    return dlq('not a JSON object', 'KUMIKI_UNDECODABLE');
  const parsed = jsonEvent.safeParse(raw);
  if (!parsed.success) {
    const issue = parsed.error.issues[0]!;
    const field = issue.path.join('.');
    return dlq(`${field || 'event'}: ${issue.message}`, 'KUMIKI_INVALID_EVENT', { field: field || 'event' });
  }
  const recordTime = Number(message.timestamp);
  const value = parsed.data;
  const event: Event = {
    ...value,
    timestamp: value.timestamp ?? value.receivedAt ?? recordTime,
    sentAt: value.sentAt ?? null,
    receivedAt: value.receivedAt ?? recordTime,
  };
  const problems = invalidFields(schema('Event').type, event);
  if (problems.length > 0)
    return dlq(
      `breaks the Event schema: ${problems.map((p) => `${p.path} (${p.problem})`).join('; ')}`,
      'KUMIKI_INVALID_EVENT',
      { field: problems[0]!.path },
    );
  return ok(event);
}
