import * as avro from 'avsc';
import { avroOptions } from '../../../schemas';
import { InternalError, InvalidInputError, errorMessage } from '../errors';
import { valueSubject } from '../kafka/topics';
import type { RegisteredTopicSchema, SchemaDefinition, SchemaRegistryClient } from './schema-registry.client';
import { encodeFramed, unframe } from './wire-format';

/**
 * Avro in the Confluent wire format for kumiki's topics.
 *
 * Hot paths do no HTTP: `encode` is synchronous (the writer schema and its id are bound once,
 * at start, by registering), and `decode` fetches a writer schema by id only the first time
 * it meets that id; the resolver from a writer schema to a reader schema is built once per
 * pair and reused. Every value is validated before it is written, so a bad value fails with
 * the paths of its bad fields instead of writing bytes no reader can use.
 */
export interface Decoded<T = unknown> {
  /** Registry id of the schema the message was written with. */
  readonly schemaId: number;
  readonly value: T;
}

interface Writer {
  readonly subject: string;
  readonly id: number;
  readonly type: avro.Type;
}

type Read = (body: Buffer) => unknown;

export class AvroCodec {
  private readonly writers = new Map<string, Writer>();
  /** reader type → writer schema id → how to read a body written with that id. */
  private readonly readers = new WeakMap<avro.Type, Map<number, Read>>();
  private readonly plainReaders = new Map<number, Read>();

  constructor(
    private readonly registry: Pick<
      SchemaRegistryClient,
      'writerType' | 'cachedWriterType' | 'register' | 'rememberWriterType'
    >,
    registered: readonly RegisteredTopicSchema[] = [],
  ) {
    for (const entry of registered) this.bind(entry.subject, entry.id, entry.type);
  }

  /** Registers every topic schema (idempotent) and returns a codec bound to all of them. */
  static async forTopics(registry: SchemaRegistryClient): Promise<AvroCodec> {
    return new AvroCodec(registry, await registry.registerAll());
  }

  /**
   * Makes `encode(subject)` write `type` with registry id `schemaId`. A subject `<topic>-value`
   * is also reachable by its topic name. The id must be the one the registry gave this schema.
   */
  bind(subject: string, schemaId: number, type: avro.Type): void {
    const writer: Writer = { subject, id: schemaId, type };
    this.writers.set(subject, writer);
    if (subject.endsWith('-value')) this.writers.set(subject.slice(0, -'-value'.length), writer);
    this.registry.rememberWriterType(schemaId, type);
  }

  /**
   * Registers `schema` (JSON or text) under `subject`, BACKWARD enforced, and binds it for
   * `encode`; returns the id. For writers of other schema versions (tools, tests, migrations).
   */
  async registerAndBind(subject: string, schema: SchemaDefinition): Promise<number> {
    const json = (typeof schema === 'string' ? JSON.parse(schema) : schema) as avro.Schema;
    const type = avro.Type.forSchema(json, { ...avroOptions, registry: {} });
    const id = await this.registry.register(subject, schema);
    this.bind(subject, id, type);
    return id;
  }

  /** The schema id `encode(topicOrSubject)` writes with, if bound. */
  schemaIdOf(topicOrSubject: string): number | undefined {
    return this.writers.get(topicOrSubject)?.id;
  }

  /** Validates `value` and writes it in the wire format with the bound schema of the topic or subject. */
  encode(topicOrSubject: string, value: unknown): Buffer {
    const writer = this.writers.get(topicOrSubject) ?? this.writers.get(valueSubject(topicOrSubject));
    if (!writer) {
      throw new InternalError(
        `no Avro schema bound for ${topicOrSubject}: register the topic schemas first (AvroCodec.forTopics or bind)`,
        { subject: topicOrSubject },
      );
    }
    const problems = invalidFields(writer.type, value);
    if (problems.length > 0) {
      throw new InvalidInputError(
        `invalid ${writer.type.name ?? 'value'} for ${writer.subject}: ${problems.map((p) => `${p.path} (${p.problem})`).join('; ')}`,
        {
          subject: writer.subject,
          field: problems[0]!.path,
        },
      );
    }
    return encodeFramed(writer.id, writer.type, value);
  }

  /**
   * Reads a wire-format message. Without `reader` the value has the writer's shape; with it,
   * the writer's data is resolved to the reader schema (Avro schema resolution: fields the
   * writer lacked take the reader's defaults, fields the reader lacks are skipped).
   */
  async decode<T = unknown>(buffer: Buffer, reader?: avro.Type): Promise<Decoded<T>> {
    const { schemaId, body } = unframe(buffer);
    const read = this.cachedRead(schemaId, reader) ?? (await this.prepareRead(schemaId, reader));
    return this.readBody<T>(schemaId, body, reader, read);
  }

  /**
   * `decode` without waiting, for hot loops: undefined when the message's writer schema has not
   * been met yet (then `decode` fetches it). Same errors as `decode`.
   */
  decodeKnown<T = unknown>(buffer: Buffer, reader?: avro.Type): Decoded<T> | undefined {
    const { schemaId, body } = unframe(buffer);
    const read = this.cachedRead(schemaId, reader);
    return read ? this.readBody<T>(schemaId, body, reader, read) : undefined;
  }

  /**
   * `decodeKnown`, else `decode`: the value itself when the writer schema is known, a promise
   * only the first time a schema id is met. Hot loops await only what is a promise.
   */
  decodeNowOrLater<T = unknown>(buffer: Buffer, reader?: avro.Type): Decoded<T> | Promise<Decoded<T>> {
    return this.decodeKnown<T>(buffer, reader) ?? this.decode<T>(buffer, reader);
  }

  private readBody<T>(schemaId: number, body: Buffer, reader: avro.Type | undefined, read: Read): Decoded<T> {
    try {
      return { schemaId, value: read(body) as T };
    } catch (error) {
      throw new InvalidInputError(
        `cannot decode Avro body written with schema id ${schemaId}${reader?.name ? ` as ${reader.name}` : ''}: ${errorMessage(error)}`,
        {
          schemaId,
        },
      );
    }
  }

  private cachedRead(schemaId: number, reader: avro.Type | undefined): Read | undefined {
    return reader ? this.readers.get(reader)?.get(schemaId) : this.plainReaders.get(schemaId);
  }

  private async prepareRead(schemaId: number, reader: avro.Type | undefined): Promise<Read> {
    const writer = this.registry.cachedWriterType(schemaId) ?? (await this.registry.writerType(schemaId));
    if (!reader) {
      const read: Read = (body) => writer.fromBuffer(body);
      this.plainReaders.set(schemaId, read);
      return read;
    }
    let read: Read;
    if (reader === writer || reader.equals(writer)) {
      read = (body) => reader.fromBuffer(body);
    } else {
      let resolver: avro.Resolver;
      try {
        resolver = reader.createResolver(writer);
      } catch (error) {
        throw new InvalidInputError(
          `a message written with schema id ${schemaId} (${writer.name ?? 'anonymous'}) cannot be read as ${reader.name ?? 'the reader schema'}: ${errorMessage(error)}`,
          {
            schemaId,
          },
        );
      }
      read = (body) => reader.fromBuffer(body, resolver);
    }
    let byWriter = this.readers.get(reader);
    if (!byWriter) this.readers.set(reader, (byWriter = new Map()));
    byWriter.set(schemaId, read);
    return read;
  }
}

/** Every field of `value` that does not fit `type`, as dotted paths with what was wrong. */
export function invalidFields(type: avro.Type, value: unknown): { path: string; problem: string }[] {
  const problems: { path: string; problem: string }[] = [];
  type.isValid(value, {
    errorHook(path: string[], got: unknown, expected: avro.Type) {
      problems.push({
        path: path.length > 0 ? path.join('.') : '(value)',
        problem: `expected ${describe(expected)}, got ${describeValue(got)}`,
      });
    },
  });
  return problems;
}

function describe(type: avro.Type): string {
  if (type.name) return type.name;
  const schema = type.schema();
  return typeof schema === 'string' ? schema : JSON.stringify(schema);
}

/** What a bad value was, without echoing it (it may be personal data). */
function describeValue(value: unknown): string {
  if (value === undefined) return 'nothing';
  if (value === null) return 'null';
  if (Array.isArray(value)) return 'an array';
  if (Buffer.isBuffer(value)) return 'bytes';
  if (typeof value === 'number')
    return Number.isInteger(value)
      ? Number.isSafeInteger(value)
        ? 'an integer'
        : 'an unsafe integer'
      : 'a fractional number';
  return `a ${typeof value}`;
}
