import http from 'node:http';
import https from 'node:https';
import { type COMPATIBILITY, SchemaRegistry, SchemaType } from '@kafkajs/confluent-schema-registry';
import type * as avro from 'avsc';
import { avroOptions, loadSchemas, type SchemaName } from '../../../schemas';
import {
  ConfigError,
  DependencyUnavailableError,
  InternalError,
  InvalidInputError,
  KumikiError,
  SchemaIncompatibleError,
  errorMessage,
} from '../errors';
import { allTopics, valueSubject, type TopicSpec } from '../kafka/topics';
import type { Logger } from '../logger';
import { isUntrustedCertificate, readCaFile, untrustedPeerError } from '../tls-files';
import { exchange, isNetworkFailure, registryMessage, statusOf, stripClientId } from './registry-http';

/**
 * kumiki's face over a Confluent-compatible schema registry (Apicurio's `/apis/ccompat/v7`
 * locally, Confluent Schema Registry or any other in external mode), built on
 * @kafkajs/confluent-schema-registry.
 *
 * Compatibility: DESIGN.md promises BACKWARD evolution for every subject. The library sets a
 * subject's level only after the subject's first registration, and refuses to register when
 * the level it reads differs from the one asked for. Apicurio answers GET /config/{subject}
 * with 404 for an unknown subject but with 200 `NONE` for a subject that exists without a
 * compatibility rule (created by another producer or before the rule was set), which the
 * library would reject forever. So `register` first makes sure the subject's level is
 * BACKWARD (or a stricter level that implies it: BACKWARD_TRANSITIVE, FULL,
 * FULL_TRANSITIVE), setting it with PUT /config/{subject} — which Apicurio accepts even
 * before the subject exists, so the rule is in force before the first version lands.
 *
 * Errors: an unreachable, timing-out or 5xx registry is DependencyUnavailableError
 * (retriable); a 409 is SchemaIncompatibleError with the registry's own words; a 422 is
 * InvalidInputError; 401/403 is ConfigError naming the credential variables; a certificate
 * that fails verification is ConfigError naming SCHEMA_REGISTRY_CA_FILE.
 *
 * TLS: an https URL is verified against the system's CAs, or only against `ca` when given
 * (a private CA); both the library's calls and the direct ones go through one https agent.
 */
export interface SchemaRegistrySettings {
  /** Base URL of the Confluent-compatible API, e.g. http://127.0.0.1:8081/apis/ccompat/v7. */
  readonly url: string;
  readonly username?: string | undefined;
  readonly password?: string | undefined;
  /** The certificates (PEM) an https registry's certificate must chain to, and the file they came from. */
  readonly ca?: { readonly pem: string; readonly file: string } | undefined;
  readonly clientId?: string;
  /** Upper bound for one registry call, retries inside the library included. */
  readonly requestTimeoutMs?: number;
  readonly logger?: Logger;
}

/** The registry part of the common config (config.ts `commonEnvShape`). */
export function registrySettingsFromConfig(
  config: {
    readonly SCHEMA_REGISTRY_URL: string;
    readonly SCHEMA_REGISTRY_USERNAME?: string | undefined;
    readonly SCHEMA_REGISTRY_PASSWORD?: string | undefined;
    readonly SCHEMA_REGISTRY_CA_FILE?: string | undefined;
  },
  logger?: Logger,
): SchemaRegistrySettings {
  const caFile = config.SCHEMA_REGISTRY_CA_FILE;
  return {
    url: config.SCHEMA_REGISTRY_URL,
    username: config.SCHEMA_REGISTRY_USERNAME,
    password: config.SCHEMA_REGISTRY_PASSWORD,
    ...(caFile ? { ca: { pem: readCaFile('SCHEMA_REGISTRY_CA_FILE', caFile), file: caFile } } : {}),
    ...(logger ? { logger } : {}),
  };
}

export type CompatibilityLevel = `${COMPATIBILITY}`;

/** Levels under which every new version can read data written with the previous one. */
const BACKWARD_SAFE: ReadonlySet<string> = new Set(['BACKWARD', 'BACKWARD_TRANSITIVE', 'FULL', 'FULL_TRANSITIVE']);

export interface RegisteredTopicSchema {
  readonly topic: string;
  readonly subject: string;
  readonly schema: SchemaName;
  readonly id: number;
  /** The parsed type of the registered schema, for encoding. */
  readonly type: avro.Type;
}

/** A schema as JSON (object) or its text. */
export type SchemaDefinition = object | string;

export class SchemaRegistryClient {
  readonly url: string;
  private readonly library: SchemaRegistry;
  private readonly clientId: string;
  private readonly timeoutMs: number;
  private readonly authorization: string | undefined;
  private readonly agent: http.Agent;
  private readonly caFile: string | undefined;
  private readonly logger: Logger | undefined;
  private readonly writerTypes = new Map<number, avro.Type>();
  private readonly pendingWriterTypes = new Map<number, Promise<avro.Type>>();

  constructor(settings: SchemaRegistrySettings) {
    this.url = settings.url.replace(/\/+$/, '');
    this.clientId = settings.clientId ?? 'kumiki';
    this.timeoutMs = settings.requestTimeoutMs ?? 10_000;
    this.logger = settings.logger?.child({ component: 'schema-registry' });
    const auth =
      settings.username !== undefined ? { username: settings.username, password: settings.password ?? '' } : undefined;
    this.authorization = auth
      ? `Basic ${Buffer.from(`${auth.username}:${auth.password}`).toString('base64')}`
      : undefined;
    this.caFile = settings.ca?.file;
    this.agent = this.url.startsWith('https:')
      ? new https.Agent({ keepAlive: true, ...(settings.ca ? { ca: settings.ca.pem } : {}) })
      : new http.Agent({ keepAlive: true });
    this.library = new SchemaRegistry(
      {
        host: this.url,
        clientId: this.clientId,
        agent: this.agent,
        ...(auth ? { auth } : {}),
        // GETs are retried on 5xx inside the library, briefly; callers decide how long to keep trying.
        retry: { retries: 2, initialRetryTimeInSecs: 0.1, maxRetryTimeInSecs: 1 },
      },
      { [SchemaType.AVRO]: { ...avroOptions } },
    );
  }

  /**
   * Registers `schema` under `subject` with BACKWARD compatibility enforced by the registry,
   * returning its id. Registering a schema the subject already has returns the existing id.
   */
  async register(subject: string, schema: SchemaDefinition): Promise<number> {
    const text = typeof schema === 'string' ? schema : JSON.stringify(schema);
    const level = await this.ensureBackward(subject);
    try {
      const { id } = await this.bounded(`register a schema under ${subject}`, () =>
        this.library.register(
          { type: SchemaType.AVRO, schema: text },
          { subject, compatibility: level as COMPATIBILITY },
        ),
      );
      return id;
    } catch (error) {
      throw this.translate(error, `register a schema under subject ${subject}`, { subject });
    }
  }

  /** Registers every topic's value schema (schemas/*.avsc) under `<topic>-value`. */
  async registerAll(specs: readonly TopicSpec[] = allTopics): Promise<RegisteredTopicSchema[]> {
    const schemas = loadSchemas();
    const registered: RegisteredTopicSchema[] = [];
    for (const spec of specs) {
      if (spec.valueSchema === undefined) continue;
      const loaded = schemas.get(spec.valueSchema);
      const subject = valueSubject(spec.name);
      const id = await this.register(subject, loaded.text);
      registered.push({ topic: spec.name, subject, schema: loaded.name, id, type: loaded.type });
      // The registry gave this id to exactly this text, so readers need not fetch it back.
      this.rememberWriterType(id, loaded.type);
    }
    this.logger?.info({ subjects: registered.map(({ subject, id }) => ({ subject, id })) }, 'topic schemas registered');
    return registered;
  }

  /** The subject's compatibility level, or null when the registry has none for it. */
  async compatibility(subject: string): Promise<CompatibilityLevel | null> {
    const response = await this.request(
      'GET',
      `/config/${encodeURIComponent(subject)}`,
      undefined,
      `read the compatibility of ${subject}`,
      { subject },
    );
    if (response === null) return null;
    const level =
      (response as { compatibilityLevel?: string; compatibility?: string }).compatibilityLevel ??
      (response as { compatibility?: string }).compatibility;
    return level ? (level.toUpperCase() as CompatibilityLevel) : null;
  }

  /** Makes BACKWARD (or a stricter level implying it) the subject's level; returns the level in force. */
  async ensureBackward(subject: string): Promise<CompatibilityLevel> {
    const current = await this.compatibility(subject);
    if (current !== null && BACKWARD_SAFE.has(current)) return current;
    if (current !== null && current !== 'NONE') {
      throw new SchemaIncompatibleError(
        `subject ${subject} is configured with compatibility ${current} in the schema registry; kumiki needs BACKWARD (or BACKWARD_TRANSITIVE, FULL, FULL_TRANSITIVE) so consumers can read every older message. Change it with PUT ${this.url}/config/${subject}.`,
        { subject, compatibility: current },
      );
    }
    try {
      await this.request(
        'PUT',
        `/config/${encodeURIComponent(subject)}`,
        { compatibility: 'BACKWARD' },
        `set compatibility of ${subject}`,
        { subject },
      );
    } catch (error) {
      // Services starting together race to set the rule of a shared subject (the DLQ's):
      // Apicurio answers 409 to the loser. What counts is the level now in force.
      if (!(error instanceof SchemaIncompatibleError)) throw error;
      const now = await this.compatibility(subject);
      if (now !== null && BACKWARD_SAFE.has(now)) return now;
      throw error;
    }
    this.logger?.info(
      { subject, previous: current ?? 'unset' },
      'schema registry subject compatibility set to BACKWARD',
    );
    return 'BACKWARD';
  }

  /** The id of the latest version registered under `subject`. */
  async latestSchemaId(subject: string): Promise<number> {
    try {
      return await this.bounded(`read the latest schema of ${subject}`, () => this.library.getLatestSchemaId(subject));
    } catch (error) {
      throw this.translate(error, `read the latest schema of subject ${subject}`, { subject });
    }
  }

  /** The writer schema with registry id `id`, parsed; fetched once, then served from memory. */
  writerType(id: number): Promise<avro.Type> {
    const known = this.writerTypes.get(id);
    if (known) return Promise.resolve(known);
    let pending = this.pendingWriterTypes.get(id);
    if (!pending) {
      pending = this.fetchWriterType(id).finally(() => this.pendingWriterTypes.delete(id));
      this.pendingWriterTypes.set(id, pending);
    }
    return pending;
  }

  /** The writer schema with id `id` if it is already in memory (no I/O). */
  cachedWriterType(id: number): avro.Type | undefined {
    return this.writerTypes.get(id);
  }

  /** Records that `id` is `type`'s id (only for ids the registry returned for that very schema). */
  rememberWriterType(id: number, type: avro.Type): void {
    this.writerTypes.set(id, type);
  }

  /** True when the registry answers its API (for readiness checks). */
  async isHealthy(): Promise<boolean> {
    try {
      await this.request('GET', '/subjects', undefined, 'list subjects', {});
      return true;
    } catch {
      return false;
    }
  }

  private async fetchWriterType(id: number): Promise<avro.Type> {
    try {
      const type = (await this.bounded(`fetch schema id ${id}`, () =>
        this.library.getSchema(id),
      )) as unknown as avro.Type;
      this.writerTypes.set(id, type);
      return type;
    } catch (error) {
      if (statusOf(error) === 404) {
        throw new InvalidInputError(
          `schema id ${id} is not known to the schema registry at ${this.url}; the message was written against another registry, or its schema was deleted`,
          { schemaId: id },
        );
      }
      throw this.translate(error, `fetch schema id ${id}`, { schemaId: id });
    }
  }

  /** One JSON call made directly (the library has no API for subject config); null on 404. */
  private async request(
    method: 'GET' | 'PUT',
    path: string,
    body: unknown,
    action: string,
    context: Record<string, string>,
  ): Promise<unknown> {
    let response: { status: number; text: string };
    try {
      response = await exchange(`${this.url}${path}`, {
        method,
        agent: this.agent,
        timeoutMs: this.timeoutMs,
        headers: {
          Accept: 'application/vnd.schemaregistry.v1+json, application/json',
          ...(body !== undefined ? { 'Content-Type': 'application/vnd.schemaregistry.v1+json' } : {}),
          ...(this.authorization ? { Authorization: this.authorization } : {}),
        },
        ...(body !== undefined ? { body: JSON.stringify(body) } : {}),
      });
    } catch (error) {
      if (isUntrustedCertificate(error)) throw this.untrusted(error);
      throw new DependencyUnavailableError(
        `schema registry at ${this.url} is unreachable: cannot ${action}: ${errorMessage(error)}`,
        { dependency: 'schema-registry', ...context },
        { cause: error },
      );
    }
    const { status, text } = response;
    if (status === 404 && method === 'GET') return null;
    if (status < 200 || status >= 300) {
      const said = registryMessage(text) ?? `HTTP ${status}`;
      throw this.translate({ status, message: said }, action, context);
    }
    return text ? (JSON.parse(text) as unknown) : {};
  }

  /** Bounds a library call: a registry that hangs is as unavailable as one that refuses. */
  private async bounded<T>(action: string, task: () => Promise<T>): Promise<T> {
    let timer: NodeJS.Timeout | undefined;
    const timeout = new Promise<never>((_, reject) => {
      timer = setTimeout(
        () =>
          reject(
            new DependencyUnavailableError(
              `schema registry at ${this.url} did not answer within ${this.timeoutMs} ms: cannot ${action}`,
              { dependency: 'schema-registry' },
            ),
          ),
        this.timeoutMs,
      );
    });
    try {
      return await Promise.race([task(), timeout]);
    } finally {
      clearTimeout(timer);
    }
  }

  private untrusted(error: unknown): Error {
    return untrustedPeerError(`the schema registry at ${this.url}`, 'SCHEMA_REGISTRY_CA_FILE', this.caFile, error);
  }

  /** Turns a library or HTTP failure into a kumiki error that says whether to retry. */
  private translate(error: unknown, action: string, context: Record<string, string | number>): Error {
    if (error instanceof KumikiError) return error;
    if (isUntrustedCertificate(error)) return this.untrusted(error);
    const status = statusOf(error);
    const said = stripClientId(errorMessage(error), this.clientId);
    const where = `schema registry at ${this.url}`;
    const options = { cause: error };
    const name = (error as { name?: string }).name ?? '';
    if (status === 409 || name === 'ConfluentSchemaRegistryCompatibilityError') {
      return new SchemaIncompatibleError(
        `${where} refused to ${action}: the schema is not compatible (BACKWARD) with the subject's registered versions. Registry said: ${said}`,
        context,
        options,
      );
    }
    if (
      status === 422 ||
      name === 'ConfluentSchemaRegistryArgumentError' ||
      name === 'ConfluentSchemaRegistryInvalidSchemaError'
    ) {
      return new InvalidInputError(
        `${where} rejected the schema as invalid: cannot ${action}: ${said}`,
        context,
        options,
      );
    }
    if (status === 401 || status === 403) {
      return new ConfigError(
        [`SCHEMA_REGISTRY_USERNAME / SCHEMA_REGISTRY_PASSWORD: ${where} answered ${status} to "${action}": ${said}`],
        context,
      );
    }
    if (status === undefined && !isNetworkFailure(said))
      return error instanceof Error ? error : new InternalError(said, context);
    if (status === undefined || status >= 500 || status === 408 || status === 429 || isNetworkFailure(said)) {
      return new DependencyUnavailableError(
        `${where} is unavailable: cannot ${action}: ${said}`,
        { dependency: 'schema-registry', ...context },
        options,
      );
    }
    return new InternalError(
      `${where} answered ${status} to "${action}" (is the URL the Confluent-compatible API, e.g. …/apis/ccompat/v7?): ${said}`,
      context,
      options,
    );
  }
}
