import pino from 'pino';
import { schema, type Event, type EventType } from '../../../schemas';
import { InvalidInputError } from '../errors';
import { createKafkaClient, type EventProducer, type OutgoingMessage } from '../kafka/client';
import { eventKey, topics, valueSubject } from '../kafka/topics';
import type { Logger } from '../logger';
import { AvroCodec, SchemaRegistryClient, invalidFields } from '../registry';
import { eventTypes } from './validate-message.step';

/**
 * For systems that produce straight to Kafka instead of calling the collector
 * (docs/direct-producers.md has the contract). It checks each event against the same rules
 * the collector applies and the registered Event schema before anything is sent, keys it
 * like the collector (userId, else anonymousId, else messageId), and sends with an
 * idempotent acks=all producer:
 *
 *   - format `avro` → `kumiki.events.raw`, Confluent wire format, subject `kumiki.events.raw-value`;
 *   - format `json` → `kumiki.events.json`, the same fields as JSON.
 *
 *   const producer = await DirectProducer.connect({ brokers: ['127.0.0.1:9092'], format: 'avro' });
 *   await producer.send([{ messageId: 'pos-1-4711', type: 'track', event: 'Order Completed', userId: 'c-42',
 *     timestamp: new Date(), channel: 'store', source: 'pos-berlin', properties: { order_id: '4711', total: 30, currency: 'EUR' } }]);
 *   await producer.close();
 */
export interface DirectEventInput {
  /** Unique and stable across retries: downstream deduplicates by it. */
  readonly messageId: string;
  readonly type: EventType;
  readonly event?: string | null;
  readonly name?: string | null;
  readonly userId?: string | null;
  readonly anonymousId?: string | null;
  readonly previousId?: string | null;
  readonly groupId?: string | null;
  /** Event time: epoch ms, a Date or an ISO-8601 string. */
  readonly timestamp: number | Date | string;
  readonly sentAt?: number | Date | string | null;
  /** Defaults to now. */
  readonly receivedAt?: number | Date | string;
  /** web, mobile, server, store, email, import (or your own). */
  readonly channel: string;
  /** Name of the producing system. */
  readonly source: string;
  /** Objects, or their JSON text. */
  readonly context?: Record<string, unknown> | string;
  readonly properties?: Record<string, unknown> | string;
  readonly traits?: Record<string, unknown> | string;
  readonly consent?: Record<string, boolean>;
}

/** Builds and checks an Event; throws InvalidInputError naming the field. */
export function toEvent(input: DirectEventInput, now: number = Date.now()): Event {
  const fail = (field: string, message: string): never => {
    throw new InvalidInputError(`${field}: ${message}`, {
      field,
      messageId: typeof input?.messageId === 'string' ? input.messageId : undefined,
    });
  };
  if (typeof input !== 'object' || input === null) fail('event', 'must be an object');
  if (typeof input.messageId !== 'string' || input.messageId === '') fail('messageId', 'is required');
  if (!(eventTypes as readonly string[]).includes(input.type)) fail('type', `must be one of ${eventTypes.join(', ')}`);
  const text = (field: keyof DirectEventInput): string | null => {
    const value = input[field];
    if (value === undefined || value === null || value === '') return null;
    if (typeof value !== 'string') fail(field, 'must be a string');
    return value as string;
  };
  const time = (
    field: 'timestamp' | 'sentAt' | 'receivedAt',
    value: number | Date | string | null | undefined,
  ): number | null => {
    if (value === undefined || value === null) return null;
    const ms = value instanceof Date ? value.getTime() : typeof value === 'string' ? Date.parse(value) : value;
    if (typeof ms !== 'number' || !Number.isFinite(ms))
      return fail(field, 'must be epoch milliseconds, a Date or an ISO-8601 string');
    return Math.trunc(ms);
  };
  const json = (field: 'context' | 'properties' | 'traits'): string => {
    const value = input[field];
    if (value === undefined || value === null) return '{}';
    if (typeof value === 'string') {
      let parsed: unknown;
      try {
        parsed = JSON.parse(value);
      } catch {
        return fail(field, 'must be a JSON object or its text');
      }
      if (typeof parsed !== 'object' || parsed === null || Array.isArray(parsed))
        fail(field, 'must be a JSON object or its text');
      return value;
    }
    if (typeof value !== 'object' || Array.isArray(value)) fail(field, 'must be a JSON object or its text');
    return JSON.stringify(value);
  };
  const event: Event = {
    messageId: input.messageId,
    type: input.type,
    event: text('event'),
    name: text('name'),
    userId: text('userId'),
    anonymousId: text('anonymousId'),
    previousId: text('previousId'),
    groupId: text('groupId'),
    timestamp: time('timestamp', input.timestamp) ?? fail('timestamp', 'is required'),
    sentAt: time('sentAt', input.sentAt),
    receivedAt: time('receivedAt', input.receivedAt) ?? now,
    channel: text('channel') ?? fail('channel', 'is required'),
    source: text('source') ?? fail('source', 'is required'),
    context: json('context'),
    properties: json('properties'),
    traits: json('traits'),
    consent: input.consent ?? {},
  };
  if (event.userId === null && event.anonymousId === null) fail('userId', 'userId or anonymousId is required');
  if (event.type === 'track' && event.event === null) fail('event', 'track needs an event name');
  if (event.type === 'group' && event.groupId === null) fail('groupId', 'group needs a groupId');
  if (event.type === 'alias' && event.previousId === null) fail('previousId', 'alias needs a previousId');
  if (event.type === 'alias' && event.userId === null) fail('userId', 'alias needs a userId');
  const problems = invalidFields(schema('Event').type, event);
  if (problems.length > 0) fail(problems[0]!.path, problems.map((p) => `${p.path} (${p.problem})`).join('; '));
  return event;
}

export interface DirectProducerOptions {
  readonly brokers: readonly string[];
  readonly format: 'avro' | 'json';
  /** Defaults to kumiki.events.raw (avro) or kumiki.events.json (json). */
  readonly topic?: string;
  /** Needed for avro; defaults to the local registry. */
  readonly registryUrl?: string;
  readonly registryUsername?: string;
  readonly registryPassword?: string;
  readonly clientId?: string;
  readonly logger?: Logger;
}

export class DirectProducer {
  private constructor(
    private readonly producer: EventProducer,
    readonly topic: string,
    private readonly encode: (event: Event) => Buffer,
  ) {}

  static async connect(options: DirectProducerOptions): Promise<DirectProducer> {
    const logger = options.logger ?? pino({ level: 'warn' });
    const topic = options.topic ?? (options.format === 'avro' ? topics.eventsRaw.name : topics.eventsJson.name);
    let encode: (event: Event) => Buffer = (event) => Buffer.from(JSON.stringify(event));
    if (options.format === 'avro') {
      const registry = new SchemaRegistryClient({
        url: options.registryUrl ?? 'http://127.0.0.1:8081/apis/ccompat/v7',
        username: options.registryUsername,
        password: options.registryPassword,
        logger,
      });
      const codec = new AvroCodec(registry);
      await codec.registerAndBind(valueSubject(topic), schema('Event').text);
      encode = (event) => codec.encode(topic, event);
    }
    const client = createKafkaClient({
      brokers: options.brokers,
      clientId: options.clientId ?? 'kumiki-direct-producer',
      logger,
    });
    const producer = client.producer();
    await producer.connect();
    return new DirectProducer(producer, topic, encode);
  }

  /** Checks every event first (nothing is sent if one is invalid), then resolves once Kafka acknowledged all. */
  async send(inputs: readonly DirectEventInput[]): Promise<void> {
    const now = Date.now();
    const messages: OutgoingMessage[] = inputs.map((input) => {
      const event = toEvent(input, now);
      return { key: eventKey(event), value: this.encode(event) };
    });
    await this.producer.send(this.topic, messages);
  }

  async close(): Promise<void> {
    await this.producer.disconnect();
  }
}
