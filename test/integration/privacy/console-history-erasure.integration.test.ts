import type { ClickHouse } from '../../../services/common/clickhouse/client-factory';
import { dateTime64Text } from '../../../services/common/clickhouse/datetime64';
import { catalogue, countRows, deleteRows } from '../../../services/profile-materializer/privacy/clickhouse-erasure';
import { deadLetterRow, segmentChangeRow } from '../../../services/profile-materializer/history/history-rows';
import { embeddedHome, freshDatabase } from '../profile-materializer/materializer-test-env';

/**
 * The console's history tables (migration 0017) under an erase: segment changes go by profile id,
 * dead letters by the person's values inside the input bytes, as a JSON or an Avro string; other
 * people's rows stay, and verification counts what is left.
 */
describe('an erase in the console history tables', () => {
  let ch: ClickHouse;
  beforeAll(async () => {
    ch = await freshDatabase(embeddedHome('history-erasure'));
  });
  afterAll(async () => ch.close());

  const avroString = (text: string) => {
    const bytes = Buffer.from(text);
    const zigzag = bytes.length * 2;
    const prefix = zigzag < 128 ? Buffer.from([zigzag]) : Buffer.from([(zigzag & 0x7f) | 0x80, zigzag >> 7]);
    return Buffer.concat([prefix, bytes]);
  };
  const letter = (offset: number, value: Buffer) =>
    deadLetterRow(
      { topic: 'dlq', partition: 0, offset: String(offset) },
      {
        failedAt: Date.now(), // within the table's 30-day TTL
        service: 'identity-stitcher',
        stage: 'link',
        code: 'KUMIKI_INVALID_EVENT',
        reason: 'test',
        error: 'test',
        messageId: null,
        originalTopic: 'raw',
        originalPartition: 0,
        originalOffset: offset,
        originalKey: null,
        originalValue: value,
        attempt: 1,
      },
    );
  const change = (offset: number, profileId: string) =>
    segmentChangeRow(
      { topic: 'segments', partition: 0, offset: String(offset) },
      {
        segmentId: 's1',
        segmentName: 'VIP',
        profileId,
        change: 'entered',
        at: Date.now(),
        evaluation: 'incremental',
        reason: null,
      },
    );

  it('deletes the person’s dead letters (JSON and Avro input) and segment changes, and nobody else’s', async () => {
    const long = `${'x'.repeat(70)}@example.com`; // an Avro length of two bytes
    await ch.insert('dead_letters_store', [
      letter(1, Buffer.from(JSON.stringify({ type: 'track', userId: 'u-ann', traits: { email: 'ann@example.com' } }))),
      letter(2, Buffer.concat([Buffer.from([0, 0, 0, 0, 7]), avroString('ann@example.com'), avroString('web')])),
      letter(3, Buffer.concat([Buffer.from([0, 0, 0, 0, 7]), avroString(long)])),
      // Bob's, although his value contains hers, and a value that merely starts like hers.
      letter(4, Buffer.from(JSON.stringify({ userId: 'u-bob', traits: { email: 'joann@example.com' } }))),
      letter(5, Buffer.concat([Buffer.from([0, 0, 0, 0, 7]), avroString('u-ann2')])),
    ]);
    await ch.insert('segment_changes_store', [change(1, 'p-ann'), change(2, 'p-bob')]);
    await ch.insert('privacy_request_subjects', [
      { request_id: 'pr_t', role: 'profile', profile_id: 'p-ann', linked_at: null },
      ...['ann@example.com', long].map((value) => ({
        request_id: 'pr_t',
        role: 'identifier',
        profile_id: 'p-ann',
        identifier_type: 'email',
        identifier_value: value,
        linked_at: dateTime64Text(Date.UTC(2026, 4, 1)),
      })),
      {
        request_id: 'pr_t',
        role: 'identifier',
        profile_id: 'p-ann',
        identifier_type: 'user_id',
        identifier_value: 'u-ann',
        linked_at: null,
      },
    ]);

    const stores = new Map((await catalogue(ch)).map((s) => [s.name, s]));
    const letters = stores.get('dead_letters_store')!;
    const changes = stores.get('segment_changes_store')!;
    expect(letters.matchedBy).toEqual(['original_key', 'original_value']);
    expect(await countRows(ch, letters, 'pr_t', 'person')).toBe(3);
    expect(await countRows(ch, letters, 'pr_t', 'mentions')).toBe(3);
    expect(await countRows(ch, changes, 'pr_t', 'person')).toBe(1);
    // The decoded view is found through its table, not searched as bytes itself.
    expect(stores.get('dead_letters')?.matchedBy).toEqual([]);

    await deleteRows(ch, [letters, changes], 'pr_t');
    expect(await countRows(ch, letters, 'pr_t', 'mentions')).toBe(0);
    expect(await countRows(ch, changes, 'pr_t', 'mentions')).toBe(0);
    const left = await ch.query<{ source_offset: string }>(
      'SELECT toString(source_offset) AS source_offset FROM dead_letters ORDER BY source_offset',
    );
    expect(left.map((r) => r.source_offset)).toEqual(['4', '5']);
    expect(await ch.query('SELECT profile_id FROM segment_changes')).toEqual([{ profile_id: 'p-bob' }]);
  });
});
