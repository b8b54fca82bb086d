import { schema } from '../../../../schemas';
import { decodeDeadLetterBytes, hexDump } from '../../../../services/profile-materializer/console/dead-letter-bytes';
import { buildIdentityGraph } from '../../../../services/profile-materializer/console/identity-graph';
import { decodeCursor, encodeCursor } from '../../../../services/profile-materializer/console/read-model';
import { deadLetterRow, segmentChangeRow } from '../../../../services/profile-materializer/history/history-rows';

describe('identity graph for the console', () => {
  const link = (type: string, value: string, profileId: string, rule: string, messageId: string) => ({
    type,
    value,
    profileId,
    rule,
    reason: `${rule} by rule same-event`,
    messageId,
    linkedAt: '2026-05-01T10:00:00.000Z',
  });

  it('draws each recorded link as an edge to the profile it joined, merges to the survivor', () => {
    const graph = buildIdentityGraph({
      profileId: 'p_a',
      identifiers: [
        { type: 'user_id', value: 'u1' },
        { type: 'email', value: 'a@x.io' },
        { type: 'anonymous_id', value: 'an1' },
      ],
      links: [
        link('user_id', 'u1', 'p_a', 'linked', 'm1'),
        link('email', 'a@x.io', 'p_a', 'linked', 'm1'),
        link('anonymous_id', 'an1', 'p_b', 'linked', 'm0'),
        link('email', 'a@x.io', 'p_a', 'linked', 'm1'),
        link('user_id', 'u2', 'p_a', 'refused', 'm2'),
        link('anonymous_id', 'old', 'p_a', 'linked', 'm3'),
      ],
      merges: [{ absorbedProfileId: 'p_b', mergedAt: '2026-05-02T00:00:00.000Z', messageId: 'm4' }],
    });
    const states = Object.fromEntries(
      graph.nodes.filter((n) => n.kind === 'identifier').map((n) => [`${n.type}:${n.value}`, n.state]),
    );
    expect(states).toEqual({
      'user_id:u1': 'linked',
      'email:a@x.io': 'linked',
      'anonymous_id:an1': 'linked',
      'user_id:u2': 'refused',
      'anonymous_id:old': 'moved',
    });
    expect(graph.nodes.filter((n) => n.kind === 'profile').map((n) => [n.profileId, n.survivor])).toEqual([
      ['p_a', true],
      ['p_b', false],
    ]);
    // The duplicate row (a replay) is one edge; the refusal and the merge are edges too.
    expect(graph.edges.map((e) => `${e.source} ${e.rule} ${e.target} ${e.messageId}`)).toEqual([
      'identifier:user_id:u1 linked profile:p_a m1',
      'identifier:email:a@x.io linked profile:p_a m1',
      'identifier:anonymous_id:an1 linked profile:p_b m0',
      'identifier:user_id:u2 refused profile:p_a m2',
      'identifier:anonymous_id:old linked profile:p_a m3',
      'profile:p_b merge profile:p_a m4',
    ]);
  });

  it('hangs an identifier without a recorded link off the profile, so none is left floating', () => {
    const graph = buildIdentityGraph({
      profileId: 'p_a',
      identifiers: [{ type: 'email', value: 'a@x.io' }],
      links: [],
      merges: [],
    });
    expect(graph.edges).toEqual([
      expect.objectContaining({ source: 'identifier:email:a@x.io', target: 'profile:p_a', rule: 'linked' }),
    ]);
  });
});

describe('dead-letter bytes for reading', () => {
  const avro = async () => ({ messageId: 'm1' });

  it('pretty-prints JSON and keeps text as text', async () => {
    expect(await decodeDeadLetterBytes(Buffer.from('{"a":1}'), avro)).toMatchObject({
      format: 'json',
      size: 7,
      text: '{\n  "a": 1\n}',
    });
    expect(await decodeDeadLetterBytes(Buffer.from('not json, 日本語'), avro)).toMatchObject({
      format: 'text',
      text: 'not json, 日本語',
    });
  });

  it('reads a wire-format record with its schema id, and says why when it does not decode', async () => {
    const wire = Buffer.from([0, 0, 0, 0, 42, 2, 3, 4]);
    expect(await decodeDeadLetterBytes(wire, avro)).toMatchObject({
      format: 'avro',
      schemaId: 42,
      text: '{\n  "messageId": "m1"\n}',
      error: null,
    });
    expect(
      await decodeDeadLetterBytes(wire, async () => {
        throw new Error('unknown schema id 42');
      }),
    ).toMatchObject({ format: 'avro', schemaId: 42, text: null, error: 'unknown schema id 42' });
  });

  it('shows other bytes as a hex dump, as xxd does', async () => {
    const bytes = Buffer.from([0xff, 0xfe, 0x41, 0x0a]);
    expect(await decodeDeadLetterBytes(bytes, avro)).toEqual({ format: 'binary', size: 4, hex: hexDump(bytes) });
    expect(hexDump(bytes)).toBe(`00000000  ff fe 41 0a${' '.repeat(36)}  ..A.`);
    expect(hexDump(Buffer.alloc(600)).split('\n').at(-1)).toBe('… 88 more bytes');
    expect(await decodeDeadLetterBytes(Buffer.alloc(0), avro)).toEqual({ format: 'empty', size: 0, hex: '' });
  });
});

describe('history rows', () => {
  const source = { topic: 'kumiki.events.dlq', partition: 2, offset: '17' };

  it('keep a dead letter with its provenance and its bytes exactly (base64)', () => {
    const bytes = Buffer.from([0, 1, 2, 0xff]);
    const row = deadLetterRow(source, {
      reason: 'bad',
      code: 'KUMIKI_UNDECODABLE',
      stage: 'decode-event',
      error: 'InvalidInputError: bad',
      service: 'identity-stitcher',
      originalTopic: 'kumiki.events.raw',
      originalPartition: 3,
      originalOffset: 99,
      originalKey: Buffer.from('k'),
      originalValue: bytes,
      attempt: 1,
      failedAt: Date.UTC(2026, 4, 1, 10, 0, 0, 5),
      messageId: null,
    });
    expect(row).toMatchObject({
      source_topic: 'kumiki.events.dlq',
      source_partition: 2,
      source_offset: '17',
      failed_at: '2026-05-01 10:00:00.005',
      message_id: '',
      original_offset: 99,
      original_key: 'aw==',
    });
    expect(Buffer.from(row.original_value as string, 'base64')).toEqual(bytes);
    expect(schema('DeadLetter').type).toBeDefined();
  });

  it('keep a segment change as published', () => {
    expect(
      segmentChangeRow(source, {
        segmentId: 's1',
        segmentName: 'VIP',
        profileId: 'p1',
        change: 'entered',
        at: Date.UTC(2026, 4, 1),
        evaluation: 'scheduled',
        reason: null,
      }),
    ).toEqual({
      source_topic: 'kumiki.events.dlq',
      source_partition: 2,
      source_offset: '17',
      segment_id: 's1',
      segment_name: 'VIP',
      profile_id: 'p1',
      change: 'entered',
      at: '2026-05-01 00:00:00.000',
      evaluation: 'scheduled',
    });
  });
});

describe('paging cursors', () => {
  it('round-trip the key of the last row, and refuse one not handed out', () => {
    expect(decodeCursor(encodeCursor([1714557600000, 'm-9']), 2)).toEqual([1714557600000, 'm-9']);
    expect(decodeCursor(undefined, 2)).toBeUndefined();
    expect(() => decodeCursor('bm90IGpzb24', 2)).toThrow(
      expect.objectContaining({ code: 'KUMIKI_INVALID_EVENT', field: 'cursor' }),
    );
    expect(() => decodeCursor(encodeCursor([1]), 2)).toThrow(expect.objectContaining({ field: 'cursor' }));
  });
});
