import type { Event } from '../../schemas';

/** An identify call with a user id, an anonymous id, a device and an email to normalise. */
export const identifyEvent: Event = {
  messageId: 'm-1',
  type: 'identify',
  event: null,
  name: null,
  userId: 'u-1',
  anonymousId: 'a-1',
  previousId: null,
  groupId: null,
  timestamp: 1_700_000_000_000,
  sentAt: null,
  receivedAt: 1_700_000_000_500,
  channel: 'web',
  source: 'test',
  context: '{"device":{"id":"d-1"}}',
  properties: '{}',
  traits: '{"email":" A@B.io "}',
  consent: {},
};
