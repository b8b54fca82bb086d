import { toEvent } from '../../../../services/common/events/direct-producer';

const base = {
  messageId: 'pos-1',
  type: 'track' as const,
  event: 'Order Completed',
  userId: 'c-42',
  timestamp: '2024-03-01T09:30:00Z',
  channel: 'store',
  source: 'pos-berlin',
};

describe('toEvent (direct producers)', () => {
  it('fills defaults and turns objects into JSON text', () => {
    expect(toEvent({ ...base, properties: { order_id: '4711', total: 30 } }, 1_000)).toEqual({
      messageId: 'pos-1',
      type: 'track',
      event: 'Order Completed',
      name: null,
      userId: 'c-42',
      anonymousId: null,
      previousId: null,
      groupId: null,
      timestamp: Date.UTC(2024, 2, 1, 9, 30),
      sentAt: null,
      receivedAt: 1_000,
      channel: 'store',
      source: 'pos-berlin',
      context: '{}',
      properties: '{"order_id":"4711","total":30}',
      traits: '{}',
      consent: {},
    });
  });

  it.each([
    [{ messageId: '' }, 'messageId: is required'],
    [{ type: 'purchase' }, 'type: must be one of track, identify, page, screen, group, alias'],
    [{ userId: null }, 'userId: userId or anonymousId is required'],
    [{ event: undefined }, 'event: track needs an event name'],
    [{ timestamp: 'soon' }, 'timestamp: must be epoch milliseconds, a Date or an ISO-8601 string'],
    [{ properties: '[1,2]' }, 'properties: must be a JSON object or its text'],
    [{ channel: '' }, 'channel: is required'],
    [{ consent: { ads: 'yes' } }, 'consent.ads: consent.ads (expected boolean, got a string)'],
  ])('refuses %j', (change, message) => {
    expect(() => toEvent({ ...base, ...(change as object) } as never)).toThrow(message);
  });
});
