import type * as avro from 'avsc';
import type { IdentityChange, StitchedEvent } from '../../../schemas';
import type { IncomingMessage } from '../../../services/common/kafka/client';
import { prepareChunk } from '../../../services/profile-materializer/materialize-batch';

const topics = { stitched: 't.stitched', changes: 't.changes', updates: 't.updates' };

/** Records carried as JSON: only the rows built from them are under test, not Avro. */
function message(topic: string, offset: number, value: StitchedEvent | IdentityChange): IncomingMessage {
  return {
    topic,
    partition: 0,
    offset: String(offset),
    key: null,
    value: Buffer.from(JSON.stringify(value)),
    headers: {},
    timestamp: '0',
  };
}

function stitched(messageId: string, stitchedAt: number, profileId = 'p1'): StitchedEvent {
  return {
    profileId,
    identifiers: [
      { type: 'email', value: 'a@example.com' },
      { type: 'user_id', value: `u-${messageId}` },
    ],
    stitchedAt,
    event: {
      messageId,
      type: 'track',
      event: 'Product Viewed',
      name: null,
      userId: null,
      anonymousId: null,
      previousId: null,
      groupId: null,
      timestamp: 1_000,
      sentAt: null,
      receivedAt: 1_000,
      channel: 'web',
      source: 'test',
      context: '{}',
      properties: '{}',
      traits: '{}',
      consent: {},
    },
  };
}

const prepare = (messages: IncomingMessage[]) =>
  prepareChunk(messages, {
    decode: async <T>(buffer: Buffer) => ({ value: JSON.parse(buffer.toString('utf8')) as T }),
    readers: { stitched: {} as avro.Type, change: {} as avro.Type },
    topics,
  });

describe('prepareChunk identity rows', () => {
  it('keeps one row per identifier, the one of highest version, whichever record states it', async () => {
    const change: IdentityChange = {
      changeId: 'c1',
      kind: 'link',
      profileId: 'p2',
      absorbedProfileIds: [],
      identifiers: [{ type: 'email', value: 'a@example.com' }],
      rule: 'same-event',
      reason: null,
      messageId: 'm9',
      eventTime: 1_000,
      changedAt: 25,
    };
    const chunk = await prepare([
      message(topics.stitched, 0, stitched('m1', 10)),
      message(topics.stitched, 1, stitched('m2', 30)),
      message(topics.changes, 2, change),
      message(topics.stitched, 3, stitched('m3', 20)),
    ]);
    const rows = Object.fromEntries(
      chunk.identityRows.map((row) => [
        `${row.identifier_type}:${row.identifier_value}`,
        [row.version, row.message_id, row.profile_id],
      ]),
    );
    expect(rows).toEqual({
      'email:a@example.com': [30, 'm2', 'p1'],
      'user_id:u-m1': [10, 'm1', 'p1'],
      'user_id:u-m2': [30, 'm2', 'p1'],
      'user_id:u-m3': [20, 'm3', 'p1'],
    });
  });

  it('lets a later identity change win over the events before it', async () => {
    const change: IdentityChange = {
      changeId: 'c1',
      kind: 'merge',
      profileId: 'p2',
      absorbedProfileIds: ['p1'],
      identifiers: [{ type: 'email', value: 'a@example.com' }],
      rule: 'same-event',
      reason: null,
      messageId: 'm9',
      eventTime: 1_000,
      changedAt: 40,
    };
    const chunk = await prepare([message(topics.stitched, 0, stitched('m1', 10)), message(topics.changes, 1, change)]);
    expect(chunk.identityRows.find((row) => row.identifier_value === 'a@example.com')).toMatchObject({
      profile_id: 'p2',
      version: 40,
      message_id: 'm9',
    });
  });
});
