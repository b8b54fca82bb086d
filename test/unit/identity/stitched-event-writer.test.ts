import type { Event, StitchedEvent } from '../../../schemas';
import { schema } from '../../../schemas';
import { StitchedEventWriter } from '../../../services/identity-stitcher/stitched-event.writer';

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
  it("splices the input record's Avro body into exactly the bytes a full encoding gives", () => {
    const writer = new StitchedEventWriter(77);
    const value: StitchedEvent = { profileId: 'p_1', identifiers: [{ type: 'user_id', value: 'u-1' }], stitchedAt: 1_700_000_001_000, event };
    const body = Buffer.concat([Buffer.from([0, 0, 0, 0, 12]), schema('Event').type.toBuffer(event)]);
    const expected = Buffer.concat([Buffer.from([0, 0, 0, 0, 77]), schema('StitchedEvent').type.toBuffer(value)]);
    const { event: _event, ...head } = value;
    expect(writer.write(head, body)).toEqual(expected);
    expect(writer.write(head, event)).toEqual(expected);
    expect(schema('StitchedEvent').type.fromBuffer(writer.write(head, body).subarray(5))).toEqual(value);
  });
});
