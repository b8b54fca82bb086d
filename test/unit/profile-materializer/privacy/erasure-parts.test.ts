import type { ClickHouse } from '../../../../services/common/clickhouse/client-factory';
import type { IncomingMessage } from '../../../../services/common/kafka/client';
import { PrivacyKey } from '../../../../services/common/privacy/privacy-key';
import { encodeFramed } from '../../../../services/common/registry';
import { schema } from '../../../../schemas';
import { eventWith } from '../../../../schemas/event-defaults';
import { catalogue, SUBJECT_TABLE } from '../../../../services/profile-materializer/privacy/clickhouse-erasure';
import { ErasedPeople } from '../../../../services/profile-materializer/privacy/erased-people';
import {
  avroMessageId,
  belongsTo,
  jsonMessageId,
  residualReport,
  type PersonKeys,
} from '../../../../services/profile-materializer/privacy/residual-data';
import { stepsOf } from '../../../../services/profile-materializer/privacy/privacy-steps';

const key = PrivacyKey.fromHex('44'.repeat(32));

describe('ErasedPeople', () => {
  it('drops records made up to an erasure that name an erased profile or identifier, and nothing made after', () => {
    const erased = new ErasedPeople(key);
    const hashes = erased.begin(['p1', 'p0'], [{ type: 'email', value: 'ann@x.io' }], 1_000);
    expect(hashes.profiles).toEqual([key.hashProfileId('p1'), key.hashProfileId('p0')]);
    expect(erased.isErasing('p1')).toBe(true);
    erased.end(['p1', 'p0']);
    expect(erased.isErasing('p1')).toBe(false);
    expect(erased.isErasedRecord(900, ['p1'])).toBe(true);
    expect(erased.isErasedRecord(900, ['p9'], [{ type: 'email', value: 'ann@x.io' }])).toBe(true);
    expect(erased.isErasedRecord(900, ['p9'], [{ type: 'email', value: 'bob@x.io' }])).toBe(false);
    expect(erased.isErasedRecord(1_001, ['p1'])).toBe(false);
    expect(erased.isErased('p0')).toBe(true);

    // Restarted: the hashes are loaded; a later erasure of someone else does not make the email's new owner erased.
    const restarted = new ErasedPeople(key);
    restarted.load([
      { hash: hashes.profiles[0]!, kind: 'profile', erasedAt: 1_000 },
      { hash: hashes.identifiers[0]!, kind: 'identifier', erasedAt: 1_000 },
    ]);
    restarted.begin(['p7'], [], 5_000);
    expect(restarted.isErasedRecord(3_000, ['p2'], [{ type: 'email', value: 'ann@x.io' }])).toBe(false);
    expect(restarted.isErasedRecord(800, ['p2'], [{ type: 'email', value: 'ann@x.io' }])).toBe(true);
    expect(restarted.isErasedRecord(3_000, ['p1'])).toBe(true);
  });
});

describe('residual data on Kafka', () => {
  const person: PersonKeys = {
    profileIds: new Set(['p1']),
    identifierKeys: new Set(['email:ann@x.io']),
    eventKeys: new Set(['u1']),
    messageIds: new Set(['m-ann']),
    needles: ['ann@x.io'],
  };
  const message = (key: string | null, value: Buffer | null): IncomingMessage => ({
    topic: 't',
    partition: 0,
    offset: '0',
    key: key === null ? null : Buffer.from(key),
    value,
    headers: {},
    timestamp: '1000',
  });

  it('reads an event messageId from Avro without decoding it, and from JSON text', () => {
    const avro = encodeFramed(
      7,
      schema('Event').type,
      eventWith({ messageId: 'm-ann', type: 'track', timestamp: 1, channel: 'web', source: 'test' }),
    );
    expect(avroMessageId(avro)).toBe('m-ann');
    expect(avroMessageId(Buffer.from('junk'))).toBeUndefined();
    expect(jsonMessageId(Buffer.from('{"type":"page","messageId":"m-\\"ann"}'))).toBe('m-"ann');
    expect(belongsTo(person, 'raw', message('anon-x', avro))).toBe(true);
    expect(belongsTo(person, 'json', message('u1', Buffer.from('{}')))).toBe(true);
    expect(belongsTo(person, 'keyedByProfile', message('p2', Buffer.from('x')))).toBe(false);
    expect(belongsTo(person, 'deadLetters', message(null, Buffer.from('..."EMAIL":"ANN@X.IO"...')))).toBe(true);
    expect(belongsTo(person, 'keyedByIdentifier', message('email:ann@x.io', Buffer.from('x')))).toBe(true);
  });

  it('dates removal by the topic settings: retention after the segment closes, or the compaction lag', () => {
    const day = 86_400_000;
    const deleteTopic = residualReport(
      { topic: 'raw', role: 'raw', cleanup: 'delete' },
      { 'retention.ms': String(7 * day), 'segment.ms': String(day) },
      3,
      0,
      1_000,
    );
    expect(deleteTopic).toMatchObject({ records: 3, removedBy: new Date(1_000 + 8 * day + 300_000).toISOString() });
    expect(
      residualReport(
        { topic: 'g', role: 'keyedByIdentifier', cleanup: 'compact' },
        { 'max.compaction.lag.ms': String(day) },
        1,
        0,
        0,
      ).removedBy,
    ).toBe(new Date(day).toISOString());
    expect(
      residualReport(
        { topic: 'g', role: 'keyedByIdentifier', cleanup: 'compact' },
        { 'max.compaction.lag.ms': '9223372036854775807' },
        1,
        0,
        0,
      ),
    ).toMatchObject({ removedBy: null, how: expect.stringMatching(/no bound/) });
    expect(
      residualReport({ topic: 'r', role: 'raw', cleanup: 'delete' }, { 'retention.ms': '-1' }, 1, 0, 0).removedBy,
    ).toBeNull();
  });
});

describe('ClickHouse stores, by convention', () => {
  const fake = (tables: { name: string; engine: string }[], columns: { table: string; name: string; type: string }[]) =>
    ({
      query: async (sql: string) =>
        (sql.includes('system.tables') ? tables.map((t) => ({ ...t, parameters: [] })) : columns) as never,
    }) as unknown as ClickHouse;

  it('find a person by profile id, identifier and identifiers columns, in tables added later too, reading the values by request id', async () => {
    const stores = await catalogue(
      fake(
        [
          { name: 'predictions', engine: 'ReplacingMergeTree' },
          { name: 'profiles_store', engine: 'ReplacingMergeTree' },
          { name: 'rfm_settings_store', engine: 'ReplacingMergeTree' },
          { name: 'events', engine: 'View' },
          { name: 'profile_facts_from_events', engine: 'MaterializedView' },
          { name: SUBJECT_TABLE, engine: 'ReplacingMergeTree' },
        ],
        [
          { table: 'predictions', name: 'profile_id', type: 'String' },
          { table: 'predictions', name: 'p_alive', type: 'Float64' },
          { table: 'profiles_store', name: 'profile_id', type: 'String' },
          { table: 'profiles_store', name: 'identifiers', type: 'Array(String)' },
          { table: 'profiles_store', name: 'consent', type: 'Map(String, Bool)' },
          { table: 'rfm_settings_store', name: 'purchase_events', type: 'Array(String)' },
          { table: 'events', name: 'profile_id', type: 'String' },
          { table: SUBJECT_TABLE, name: 'profile_id', type: 'String' },
          { table: SUBJECT_TABLE, name: 'identifier_type', type: 'LowCardinality(String)' },
          { table: SUBJECT_TABLE, name: 'identifier_value', type: 'String' },
        ],
      ),
    );
    const byName = new Map(stores.map((s) => [s.name, s]));
    expect(byName.has('profile_facts_from_events')).toBe(false);
    expect(byName.get('predictions')).toMatchObject({ matchedBy: ['profile_id'], deletable: true, kind: 'table' });
    expect(byName.get('profiles_store')?.matchedBy).toEqual(['profile_id', 'identifiers']);
    expect(byName.get('rfm_settings_store')).toMatchObject({ matchedBy: [], personCondition: undefined });
    expect(byName.get('rfm_settings_store')?.mentionCondition).toContain('hasAny(`purchase_events`');
    expect(byName.get('events')).toMatchObject({ kind: 'view', deletable: false });
    expect(byName.get(SUBJECT_TABLE)?.personCondition).toMatch(/AND request_id != \{kumiki_request:String\}$/);
    // The person's values are read from the subject rows: no SQL text (nor system.mutations) holds them.
    for (const store of stores)
      for (const condition of [store.personCondition, store.mentionCondition, store.exclusiveCondition])
        if (condition) expect(condition).toContain(`FROM ${SUBJECT_TABLE} WHERE request_id = {kumiki_request:String}`);
  });
});

describe('PrivacyRequestExecutor step lists', () => {
  it('erase ends with the report, the notice and its own subject rows; the others never delete', () => {
    expect(stepsOf('erase').slice(-3)).toEqual(['report', 'notify', 'forget-subject']);
    expect(stepsOf('suppress_and_erase')).toEqual(stepsOf('erase'));
    for (const type of ['export', 'suppress', 'unsuppress'] as const)
      expect(stepsOf(type).filter((s) => /delete|tombstone|forget|exit/.test(s))).toEqual([]);
  });
});
