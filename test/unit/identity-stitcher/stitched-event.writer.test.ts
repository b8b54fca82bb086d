import type { Event, StitchedEvent } from '../../../schemas';
import { schema } from '../../../schemas';
import { RecordSets } from '../../../services/common/kafka/record-sets';
import { StitchedEventWriter } from '../../../services/identity-stitcher/stitched-event.writer';
import { readAll } from '../../support/record-sets';

const event: Event = {
  messageId: 'm-1',
  type: 'track',
  event: 'Order Completed',
  name: null,
  userId: 'u-1',
  anonymousId: null,
  previousId: null,
  groupId: null,
  timestamp: 1_700_000_000_000,
  sentAt: 1_700_000_000_001,
  receivedAt: 1_700_000_000_500,
  channel: 'store',
  source: 'pos',
  context: '{"device":{"id":"d"}}',
  properties: '{"revenue":42.5}',
  traits: '{}',
  consent: { marketing: true },
};

describe('StitchedEventWriter', () => {
  it("splices the input record's Avro body into exactly the bytes a full encoding gives, keyed by profile", async () => {
    const writer = new StitchedEventWriter(77);
    const value: StitchedEvent = {
      profileId: 'p_1',
      identifiers: [{ type: 'user_id', value: 'u-1' }],
      stitchedAt: 1_700_000_001_000,
      event,
    };
    const body = Buffer.concat([Buffer.from([0, 0, 0, 0, 12]), schema('Event').type.toBuffer(event)]);
    const expected = Buffer.concat([Buffer.from([0, 0, 0, 0, 77]), schema('StitchedEvent').type.toBuffer(value)]);
    const { event: _event, ...head } = value;
    const sets = new RecordSets(new Map([['stitched', 1]]), 1_700_000_002_000);
    writer.append(sets, 'stitched', 'p_1', head, body);
    writer.append(sets, 'stitched', 'p_1', head, event);
    const records = await readAll(sets);
    expect(records.map((r) => r.key?.toString())).toEqual(['p_1', 'p_1']);
    expect(records.map((r) => r.value!.toString('hex'))).toEqual([expected.toString('hex'), expected.toString('hex')]);
    expect(schema('StitchedEvent').type.fromBuffer(records[0]!.value!.subarray(5))).toEqual(value);
  });
});
