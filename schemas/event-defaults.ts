import type { Event } from './types.generated';

/**
 * An Event with every optional field at its empty value: the nullable ids and `sentAt` null,
 * `context`/`properties`/`traits` the JSON text '{}' (they have no Avro default, see the README),
 * no consent, `receivedAt` = `timestamp`. For code that builds events by hand: tests, benchmarks,
 * tools. The given fields win.
 */
export function eventWith(
  fields: Pick<Event, 'messageId' | 'type' | 'timestamp' | 'channel' | 'source'> & Partial<Event>,
): Event {
  return {
    event: null,
    name: null,
    userId: null,
    anonymousId: null,
    previousId: null,
    groupId: null,
    sentAt: null,
    receivedAt: fields.timestamp,
    context: '{}',
    properties: '{}',
    traits: '{}',
    consent: {},
    ...fields,
  };
}
