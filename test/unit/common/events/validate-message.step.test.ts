import {
  parseTimestamp,
  validateMessage,
  validateMessageStep,
} from '../../../../services/common/events/validate-message.step';
import { dlq } from '../../../../services/common/step-result';

describe('validate-message', () => {
  it('accepts a track call and types its fields', () => {
    const result = validateMessage(
      {
        userId: 42,
        event: 'Order Completed',
        properties: { revenue: 10 },
        timestamp: '2024-05-01T10:00:00.000Z',
        messageId: 'm-1',
        context: { ip: '1.2.3.4' },
      },
      { type: 'track' },
    );
    expect(result).toEqual({
      kind: 'ok',
      value: {
        type: 'track',
        messageId: 'm-1',
        event: 'Order Completed',
        name: undefined,
        category: undefined,
        userId: '42',
        anonymousId: undefined,
        previousId: undefined,
        groupId: undefined,
        timestamp: Date.UTC(2024, 4, 1, 10),
        sentAt: undefined,
        context: { ip: '1.2.3.4' },
        properties: { revenue: 10 },
        traits: {},
        consent: {},
        channelHint: undefined,
      },
    });
  });

  it.each([
    [
      'track without event',
      { userId: 'u' },
      'track',
      dlq('track needs an event name', 'KUMIKI_MISSING_FIELD', { field: 'event' }),
    ],
    [
      'no userId nor anonymousId',
      { event: 'E' },
      'track',
      dlq('userId or anonymousId is required', 'KUMIKI_MISSING_FIELD', { field: 'userId' }),
    ],
    [
      'empty ids count as absent',
      { userId: '', anonymousId: '', traits: {} },
      'identify',
      dlq('userId or anonymousId is required', 'KUMIKI_MISSING_FIELD', { field: 'userId' }),
    ],
    [
      'group without groupId',
      { anonymousId: 'a' },
      'group',
      dlq('group needs a groupId', 'KUMIKI_MISSING_FIELD', { field: 'groupId' }),
    ],
    [
      'alias without previousId',
      { userId: 'u' },
      'alias',
      dlq('alias needs a previousId', 'KUMIKI_MISSING_FIELD', { field: 'previousId' }),
    ],
    [
      'alias without userId',
      { anonymousId: 'a', previousId: 'p' },
      'alias',
      dlq('alias needs a userId', 'KUMIKI_MISSING_FIELD', { field: 'userId' }),
    ],
    [
      'properties an array',
      { userId: 'u', event: 'E', properties: [1] },
      'track',
      dlq('properties must be a JSON object', 'KUMIKI_INVALID_EVENT', { field: 'properties' }),
    ],
    [
      'event a number',
      { userId: 'u', event: 7 },
      'track',
      dlq('event must be a string', 'KUMIKI_INVALID_EVENT', { field: 'event' }),
    ],
    [
      'userId an object',
      { userId: { id: 1 } },
      'identify',
      dlq('userId must be a string or a number', 'KUMIKI_INVALID_EVENT', { field: 'userId' }),
    ],
    [
      'traits a string',
      { userId: 'u', traits: 'x' },
      'identify',
      dlq('traits must be a JSON object', 'KUMIKI_INVALID_EVENT', { field: 'traits' }),
    ],
    [
      'a bad timestamp',
      { userId: 'u', event: 'E', timestamp: 'yesterday' },
      'track',
      dlq('timestamp must be an ISO-8601 date-time, got "yesterday"', 'KUMIKI_INVALID_TIMESTAMP', {
        field: 'timestamp',
      }),
    ],
    [
      'an epoch number as timestamp',
      { userId: 'u', event: 'E', timestamp: 1714557600000 },
      'track',
      dlq('timestamp must be an ISO-8601 date-time, got 1714557600000', 'KUMIKI_INVALID_TIMESTAMP', {
        field: 'timestamp',
      }),
    ],
    [
      'an impossible date',
      { userId: 'u', event: 'E', sentAt: '2024-13-45T99:00:00Z' },
      'track',
      dlq('sentAt must be an ISO-8601 date-time, got "2024-13-45T99:00:00Z"', 'KUMIKI_INVALID_TIMESTAMP', {
        field: 'sentAt',
      }),
    ],
    [
      'a consent purpose that is not a boolean',
      { userId: 'u', event: 'E', context: { consent: { categoryPreferences: { Advertising: 'yes' } } } },
      'track',
      dlq('a consent purpose must be true or false', 'KUMIKI_INVALID_EVENT', {
        field: 'context.consent.categoryPreferences.Advertising',
      }),
    ],
  ] as const)('rejects %s', (_name, message, type, expected) => {
    expect(validateMessage(message, { type })).toEqual(expected);
  });

  it('reads the type of a batch element and refuses unknown or missing types', () => {
    expect(validateMessage({ type: 'screen', anonymousId: 'a', name: 'Home' })).toMatchObject({
      kind: 'ok',
      value: { type: 'screen', name: 'Home' },
    });
    expect(validateMessage({ type: 'purchase', userId: 'u' })).toEqual(
      dlq('type must be one of track, identify, page, screen, group, alias', 'KUMIKI_INVALID_EVENT', { field: 'type' }),
    );
    expect(validateMessage({ userId: 'u' })).toEqual(
      dlq('type is required in a batch', 'KUMIKI_MISSING_FIELD', { field: 'type' }),
    );
    expect(validateMessage('track')).toEqual(
      dlq('an event must be a JSON object', 'KUMIKI_INVALID_EVENT', { field: '' }),
    );
  });

  it('takes consent from context.consent.categoryPreferences', () => {
    const result = validateMessage(
      { userId: 'u', context: { consent: { categoryPreferences: { Advertising: false, Analytics: true } } } },
      { type: 'identify' },
    );
    expect(result).toMatchObject({ kind: 'ok', value: { consent: { Advertising: false, Analytics: true } } });
  });

  it('falls back to originalTimestamp when timestamp is absent', () => {
    const result = validateMessage(
      { userId: 'u', event: 'E', originalTimestamp: '2024-01-02T03:04:05Z' },
      { type: 'track' },
    );
    expect(result).toMatchObject({ kind: 'ok', value: { timestamp: Date.UTC(2024, 0, 2, 3, 4, 5) } });
  });
});

describe('parseTimestamp', () => {
  it.each([
    ['2024-05-01T10:00:00Z', Date.UTC(2024, 4, 1, 10)],
    ['2024-05-01T10:00:00.123Z', Date.UTC(2024, 4, 1, 10, 0, 0, 123)],
    ['2024-05-01T10:00:00.123456Z', Date.UTC(2024, 4, 1, 10, 0, 0, 123)],
    ['2024-05-01T12:00:00+02:00', Date.UTC(2024, 4, 1, 10)],
    ['2024-05-01T12:00:00+0200', Date.UTC(2024, 4, 1, 10)],
    ['2024-05-01T10:00:00', Date.UTC(2024, 4, 1, 10)],
    ['2024-05-01 10:00:00Z', Date.UTC(2024, 4, 1, 10)],
    ['2024-05-01', Date.UTC(2024, 4, 1)],
  ])('reads %s', (text, ms) => {
    expect(parseTimestamp(text)).toBe(ms);
  });

  it.each(['', 'now', '1714557600000', '2024-5-1', '2024-05-01T25:00:00Z', 'Wed, 01 May 2024 10:00:00 GMT'])(
    'refuses %j',
    (text) => {
      expect(parseTimestamp(text)).toBeUndefined();
    },
  );
});

describe('the validate-message step', () => {
  it('checks with the call type it was made for', () => {
    const step = validateMessageStep({ type: 'track' });
    expect(step.name).toBe('validate-message');
    expect(step.run({ userId: 'u', event: 'E', type: 'identify' })).toMatchObject({
      kind: 'ok',
      value: { type: 'track' },
    });
    expect(step.run({ userId: 'u' })).toMatchObject({ kind: 'dlq', code: 'KUMIKI_MISSING_FIELD', field: 'event' });
  });
});
