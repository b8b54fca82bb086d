import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import * as avro from 'avsc';
import { loadSchemas, schema, schemasDir } from '../../../schemas';
import { allTopics, topics } from '../../../services/common/kafka/topics';
import type { Event, ProfileUpdate } from '../../../schemas/types.generated';

// eslint-disable-next-line @typescript-eslint/no-require-imports
const generator = require('../../../scripts/generate-schema-types.js') as {
  loadSchemaFiles(dir: string): { fullName: string }[];
};

const sampleEvent: Event = {
  messageId: 'm-1',
  type: 'track',
  event: 'Order Completed',
  name: null,
  userId: 'u-1',
  anonymousId: 'a-1',
  previousId: null,
  groupId: null,
  timestamp: 1_760_000_000_123,
  sentAt: null,
  receivedAt: 1_760_000_000_456,
  channel: 'web',
  source: 'test',
  context: '{"ip":"127.0.0.1"}',
  properties: '{"order_id":"o-1","revenue":12.5}',
  traits: '{}',
  consent: { marketing: true, analytics: false },
};

/** Every field of every record, with the path that leads to it. */
function fieldsOf(json: unknown, trail = ''): { path: string; field: Record<string, unknown> }[] {
  const out: { path: string; field: Record<string, unknown> }[] = [];
  const visit = (node: unknown, at: string): void => {
    if (Array.isArray(node)) {
      for (const branch of node) visit(branch, at);
      return;
    }
    if (!node || typeof node !== 'object') return;
    const n = node as Record<string, unknown>;
    if (n.type === 'record') {
      for (const field of n.fields as Record<string, unknown>[]) {
        out.push({ path: `${at}${String(n.name)}.${String(field.name)}`, field });
        visit(field.type, `${at}${String(n.name)}.${String(field.name)}/`);
      }
    } else if (n.type === 'array') visit(n.items, at);
    else if (n.type === 'map') visit(n.values, at);
  };
  visit(json, trail);
  return out;
}

describe('schemas/*.avsc', () => {
  const set = loadSchemas();

  it('are found from the project root and loaded in dependency order', () => {
    expect(schemasDir()).toBe(path.resolve(__dirname, '..', '..', '..', 'schemas'));
    const order = set.all.map((loaded) => loaded.name);
    expect(order).toEqual(
      expect.arrayContaining([
        'Event',
        'Identifier',
        'StitchedEvent',
        'IdentityChange',
        'IdentityGraphRecord',
        'ProfileUpdate',
        'SegmentChange',
        'DeadLetter',
        'PrivacyRequest',
      ]),
    );
    expect(order.indexOf('Identifier')).toBeLessThan(order.indexOf('StitchedEvent'));
    expect(order.indexOf('Event')).toBeLessThan(order.indexOf('StitchedEvent'));
    // The generator must order (and so validate) the files exactly as the runtime does.
    expect(generator.loadSchemaFiles(schemasDir()).map((entry) => entry.fullName)).toEqual(
      set.all.map((loaded) => loaded.fullName),
    );
  });

  it('live in namespace kumiki.v1 and document every field', () => {
    for (const loaded of set.all) {
      expect(loaded.fullName).toBe(`kumiki.v1.${loaded.name}`);
      for (const { path: at, field } of fieldsOf(JSON.parse(fs.readFileSync(loaded.file, 'utf8')))) {
        expect({ at, doc: typeof field.doc === 'string' && field.doc.length > 0 }).toEqual({ at, doc: true });
      }
    }
  });

  it('give every nullable field a null default, so readers can evolve BACKWARD', () => {
    for (const loaded of set.all) {
      for (const { path: at, field } of fieldsOf(loaded.json)) {
        if (Array.isArray(field.type) && field.type[0] === 'null')
          expect({ at, default: field.default }).toEqual({ at, default: null });
      }
    }
  });

  it('avoid the string default "{}", which Apicurio 3.0.9 cannot register', () => {
    // Apicurio's ccompat API answers 422 "Failed to discover artifact type from content" for
    // any schema with a field whose default is the string "{}" (checked against 3.0.9), so the
    // JSON-text fields (context, properties, traits) are required instead of defaulting to it.
    for (const loaded of set.all) {
      for (const { path: at, field } of fieldsOf(loaded.json))
        expect({ at, default: field.default }).not.toEqual({ at, default: '{}' });
    }
  });

  it('hold the value schema every topic names', () => {
    const named = allTopics.flatMap((spec) => (spec.valueSchema === undefined ? [] : [spec.valueSchema]));
    expect(named.filter((name) => !set.all.some((loaded) => loaded.name === name))).toEqual([]);
    expect(topics.eventsRaw.valueSchema).toBe('Event');
    expect(topics.eventsStitched.valueSchema).toBe('StitchedEvent');
    expect(topics.eventsJson).not.toHaveProperty('valueSchema');
  });

  it('export self-contained JSON that parses alone into the same type, keeping docs and logical types', () => {
    for (const loaded of set.all) {
      const alone = avro.Type.forSchema(JSON.parse(loaded.text) as avro.Schema, { registry: {} });
      expect({ name: loaded.name, equal: alone.equals(loaded.type) }).toEqual({ name: loaded.name, equal: true });
    }
    const stitched = schema('StitchedEvent').json;
    const eventField = stitched.fields.find((field) => (field as { name: string }).name === 'event') as {
      type: { name: string; namespace: string; doc: string; fields: { name: string; type: unknown }[] };
    };
    expect(eventField.type).toMatchObject({ type: 'record', name: 'Event', namespace: 'kumiki.v1' });
    expect(eventField.type.doc).toMatch(/Segment tracking spec/);
    expect(eventField.type.fields.find((f) => f.name === 'timestamp')?.type).toEqual({
      type: 'long',
      logicalType: 'timestamp-millis',
    });
    // Identifier is defined once (first use) and referred to by name afterwards.
    const profileText = schema('IdentityChange').text;
    expect(profileText.match(/"name":"Identifier"/g)).toHaveLength(1);
  });

  it('share one definition of a named type across files', () => {
    const identifier = schema('Identifier').type;
    const stitched = schema('StitchedEvent').type as avro.types.RecordType;
    const items = (stitched.field('identifiers')!.type as avro.types.ArrayType).itemsType;
    expect(items).toBe(identifier);
    expect(stitched.field('event')!.type).toBe(schema('Event').type);
  });

  it('round-trip a value through avsc, with nullable fields and maps', () => {
    const type = schema('Event').type;
    expect(type.fromBuffer(type.toBuffer(sampleEvent))).toEqual(sampleEvent);
    const update: ProfileUpdate = {
      profileId: 'p-1',
      mergedInto: null,
      traits: '{"plan":"pro"}',
      identifiers: [{ type: 'email', value: 'a@example.com' }],
      rfm: {
        lastPurchaseAt: 1_760_000_000_000,
        recencyDays: 3,
        frequency: 2,
        monetary: 99.5,
        r: 5,
        f: 3,
        m: 4,
        label: 'Champions',
      },
      consent: { email: true },
      segments: ['s-1'],
      firstSeen: 1_750_000_000_000,
      lastSeen: null,
      updatedAt: 1_760_000_000_001,
      predictions: {
        pAlive: 0.82,
        expectedPurchases30d: 0.4,
        expectedPurchases90d: 1.1,
        expectedOrderValue: 48.2,
        clv365d: 190.5,
        nextPurchaseAt: null,
        purchasePropensity30d: null,
        modelVersion: 1_760_000_000_000,
        computedAt: 1_760_000_000_000,
      },
    };
    const profileType = schema('ProfileUpdate').type;
    expect(profileType.fromBuffer(profileType.toBuffer(update))).toEqual(update);
  });

  it('report a schema file that refers to an undefined type, naming file and type', () => {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'kumiki-schemas-'));
    try {
      fs.writeFileSync(
        path.join(dir, 'Broken.avsc'),
        JSON.stringify({
          type: 'record',
          name: 'Broken',
          namespace: 'kumiki.v1',
          fields: [{ name: 'x', type: 'kumiki.v1.Missing', doc: 'x' }],
        }),
      );
      expect(() => loadSchemas(dir)).toThrow(
        'schemas/Broken.avsc: type kumiki.v1.Missing is not defined in any schemas/*.avsc file',
      );
    } finally {
      fs.rmSync(dir, { recursive: true, force: true });
    }
  });
});
