import net from 'node:net';
import * as avro from 'avsc';
import { avroOptions, schema } from '../../../../schemas';
import {
  DependencyUnavailableError,
  InvalidInputError,
  SchemaIncompatibleError,
} from '../../../../services/common/errors';
import { allTopics, valueSubject } from '../../../../services/common/kafka/topics';
import { SchemaRegistryClient } from '../../../../services/common/registry';
import { testStack, uniqueName } from '../../../support/stack-env';

/**
 * BACKWARD compatibility as the real registry enforces it. Each test uses its own subjects.
 * Apicurio's ccompat API (3.0.x) has no compatibility rule on a subject unless one is set,
 * and reports such a subject as NONE; the client sets BACKWARD before registering.
 */
const url = testStack().registryUrl;
const client = (): SchemaRegistryClient => new SchemaRegistryClient({ url });

const record = (fields: object[]) => ({ type: 'record', name: 'Thing', namespace: 'kumiki.test', doc: 'test', fields });
const v1 = record([{ name: 'id', type: 'string' }]);
const v2WithDefault = record([
  { name: 'id', type: 'string' },
  { name: 'note', type: ['null', 'string'], default: null },
]);
const v3RequiredNoDefault = record([
  { name: 'id', type: 'string' },
  { name: 'note', type: ['null', 'string'], default: null },
  { name: 'owner', type: 'string' },
]);
const v3TypeChanged = record([
  { name: 'id', type: 'long' },
  { name: 'note', type: ['null', 'string'], default: null },
]);

async function registryCall(method: string, path: string, body?: unknown): Promise<{ status: number; body: unknown }> {
  const response = await fetch(`${url}${path}`, {
    method,
    headers: { 'Content-Type': 'application/vnd.schemaregistry.v1+json' },
    ...(body !== undefined ? { body: JSON.stringify(body) } : {}),
  });
  return { status: response.status, body: await response.json().catch(() => null) };
}

/** A local port nothing listens on. */
async function closedPort(): Promise<number> {
  const server = net.createServer();
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as net.AddressInfo;
  await new Promise((resolve) => server.close(resolve));
  return port;
}

async function caught(promise: Promise<unknown>): Promise<Error> {
  try {
    await promise;
  } catch (error) {
    return error as Error;
  }
  throw new Error('expected a rejection');
}

// Consumer-group joins take seconds; don't rely on the config's timeout reaching this project.
jest.setTimeout(60_000);

describe('schema registry compatibility (Apicurio ccompat)', () => {
  it('accepts a BACKWARD-compatible change and refuses incompatible ones with the registry’s reason', async () => {
    const subject = `${uniqueName('compat')}-value`;
    const registry = client();
    const id1 = await registry.register(subject, v1);
    expect(await registry.compatibility(subject)).toBe('BACKWARD');
    const id2 = await registry.register(subject, v2WithDefault);
    expect(id2).not.toBe(id1);
    await expect(registry.register(subject, v2WithDefault)).resolves.toBe(id2);
    await expect(registry.latestSchemaId(subject)).resolves.toBe(id2);

    const required = await caught(registry.register(subject, v3RequiredNoDefault));
    expect(required).toBeInstanceOf(SchemaIncompatibleError);
    expect((required as SchemaIncompatibleError).isRetriable).toBe(false);
    expect((required as SchemaIncompatibleError).context).toEqual({ subject });
    expect(required.message).toContain(
      `refused to register a schema under subject ${subject}: the schema is not compatible (BACKWARD)`,
    );
    // Apicurio names the offending field.
    expect(required.message).toMatch(/Registry said: .*Incompatible artifact: .*owner at \/fields\/2/);

    const retyped = await caught(registry.register(subject, v3TypeChanged));
    expect(retyped).toBeInstanceOf(SchemaIncompatibleError);
    expect(retyped.message).toMatch(
      /Registry said: .*reader type: LONG not compatible with writer type: STRING at \/fields\/0\/type/,
    );

    // Nothing was registered by the refused attempts.
    expect((await registryCall('GET', `/subjects/${encodeURIComponent(subject)}/versions`)).body).toEqual([1, 2]);
  });

  it('evolves the real Event schema: a new field with a default is accepted, a retyped field is not', async () => {
    const subject = `${uniqueName('event')}-value`;
    const registry = client();
    const event = schema('Event').json;
    await registry.register(subject, event);
    const withField = {
      ...event,
      fields: [...event.fields, { name: 'locale', type: ['null', 'string'], default: null, doc: 'Locale.' }],
    };
    await expect(registry.register(subject, withField)).resolves.toEqual(expect.any(Number));
    const retyped = {
      ...withField,
      fields: withField.fields.map((f) =>
        (f as { name: string }).name === 'timestamp' ? { ...(f as object), type: 'string' } : f,
      ),
    };
    await expect(registry.register(subject, retyped)).rejects.toBeInstanceOf(SchemaIncompatibleError);
  });

  it('accepts ProfileUpdate with predictions after the version without it, and reads old records with predictions null', async () => {
    const subject = `${uniqueName('profile-update')}-value`;
    const registry = client();
    const current = schema('ProfileUpdate').json as unknown as { fields: { name: string }[] };
    const before = { ...current, fields: current.fields.filter((field) => field.name !== 'predictions') };
    expect(before.fields.length).toBe(current.fields.length - 1);
    const beforeId = await registry.register(subject, before);
    const currentId = await registry.register(subject, current);
    expect(currentId).not.toBe(beforeId);
    // A consumer on the new schema reads a record written with the old one.
    const old = avro.Type.forSchema(before as unknown as avro.Schema, { ...avroOptions, registry: {} });
    const written = {
      profileId: 'p-1',
      mergedInto: null,
      traits: '{}',
      identifiers: [],
      rfm: null,
      consent: {},
      segments: [],
      firstSeen: null,
      lastSeen: null,
      updatedAt: 1_760_000_000_000,
    };
    const reader = schema('ProfileUpdate').type;
    const read = reader.fromBuffer(old.toBuffer(written), reader.createResolver(old));
    expect(read).toEqual({ ...written, predictions: null });
  });

  it('enforces BACKWARD on a subject that already exists without a rule (Apicurio reports NONE)', async () => {
    const subject = `${uniqueName('preexisting')}-value`;
    // Another producer created the subject straight through the API, leaving no rule.
    expect((await registryCall('POST', `/subjects/${subject}/versions`, { schema: JSON.stringify(v1) })).status).toBe(
      200,
    );
    expect((await registryCall('GET', `/config/${subject}`)).body).toEqual({ compatibilityLevel: 'NONE' });

    const registry = client();
    await expect(registry.register(subject, v2WithDefault)).resolves.toEqual(expect.any(Number));
    expect((await registryCall('GET', `/config/${subject}`)).body).toEqual({ compatibilityLevel: 'BACKWARD' });
    await expect(registry.register(subject, v3RequiredNoDefault)).rejects.toBeInstanceOf(SchemaIncompatibleError);
  });

  it('lets services that start together register the same new subject (the shared DLQ)', async () => {
    const subject = `${uniqueName('shared')}-value`;
    const ids = await Promise.all(
      Array.from({ length: 20 }, () => client().register(subject, schema('DeadLetter').text)),
    );
    expect(new Set(ids).size).toBe(1);
    expect(await client().compatibility(subject)).toBe('BACKWARD');
  });

  it('refuses to weaken a subject configured FORWARD, saying what to change', async () => {
    const subject = `${uniqueName('forward')}-value`;
    expect((await registryCall('PUT', `/config/${subject}`, { compatibility: 'FORWARD' })).status).toBe(200);
    const error = await caught(client().register(subject, v1));
    expect(error).toBeInstanceOf(SchemaIncompatibleError);
    expect(error.message).toBe(
      `subject ${subject} is configured with compatibility FORWARD in the schema registry; kumiki needs BACKWARD (or BACKWARD_TRANSITIVE, FULL, FULL_TRANSITIVE) so consumers can read every older message. Change it with PUT ${url}/config/${subject}.`,
    );
  });

  it('registers every topic schema under <topic>-value and returns the ids', async () => {
    const prefix = uniqueName('all');
    const specs = allTopics.map((spec) => ({ ...spec, name: `${prefix}.${spec.name}` }));
    const registry = client();
    const registered = await registry.registerAll(specs);
    const expected = specs.filter((spec) => spec.valueSchema !== undefined);
    expect(registered.map(({ topic, subject, schema: name }) => ({ topic, subject, name }))).toEqual(
      expected.map((spec) => ({ topic: spec.name, subject: valueSubject(spec.name), name: spec.valueSchema })),
    );
    for (const entry of registered) {
      const stored = await registryCall('GET', `/schemas/ids/${entry.id}`);
      expect(JSON.parse((stored.body as { schema: string }).schema)).toEqual(schema(entry.schema).json);
      expect(await registry.compatibility(entry.subject)).toBe('BACKWARD');
    }
    // Registering again is idempotent: same ids.
    await expect(client().registerAll(specs)).resolves.toEqual(
      registered.map((entry) => expect.objectContaining({ subject: entry.subject, id: entry.id })),
    );
  });

  it('rejects a malformed schema as invalid input', async () => {
    const error = await caught(
      client().register(`${uniqueName('bad')}-value`, {
        type: 'record',
        name: 'Bad',
        fields: [{ name: 'x', type: 'strng' }],
      }),
    );
    expect(error).toBeInstanceOf(InvalidInputError);
    expect(error.message).toMatch(
      /rejected the schema as invalid: cannot register a schema under subject bad-.*-value: .*strng/,
    );
  });

  it('reports an unknown schema id as invalid input, and an unreachable registry as retriable', async () => {
    await expect(client().writerType(2_000_000_000)).rejects.toThrow(
      new InvalidInputError(
        `schema id 2000000000 is not known to the schema registry at ${url}; the message was written against another registry, or its schema was deleted`,
      ),
    );
    const downUrl = `http://127.0.0.1:${await closedPort()}/apis/ccompat/v7`;
    const down = new SchemaRegistryClient({ url: downUrl, requestTimeoutMs: 2_000 });
    const registering = await caught(down.register(`${uniqueName('down')}-value`, v1));
    expect(registering).toBeInstanceOf(DependencyUnavailableError);
    expect((registering as DependencyUnavailableError).isRetriable).toBe(true);
    expect(registering.message).toMatch(
      new RegExp(`^schema registry at ${downUrl} is unreachable: cannot read the compatibility of down-.*ECONNREFUSED`),
    );
    const fetching = await caught(down.writerType(1));
    expect(fetching).toBeInstanceOf(DependencyUnavailableError);
    expect(fetching.message).toMatch(/is unavailable: cannot fetch schema id 1: .*ECONNREFUSED/);
    await expect(down.isHealthy()).resolves.toBe(false);
    await expect(client().isHealthy()).resolves.toBe(true);
  });
});
