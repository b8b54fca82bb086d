import { normaliseEvent, normaliseEventStep } from '../../../../services/common/events/normalise-event.step';
import { eventKey } from '../../../../services/common/kafka/topics';
import { validateMessage, type SegmentMessage } from '../../../../services/common/events/validate-message.step';
import { inferChannel } from '../../../../services/common/events/sources';

function message(
  raw: Record<string, unknown>,
  type?: 'track' | 'identify' | 'page' | 'screen' | 'group' | 'alias',
): SegmentMessage {
  const result = validateMessage(raw, type ? { type } : {});
  if (result.kind !== 'ok') throw new Error(`invalid test message: ${JSON.stringify(result)}`);
  return result.value;
}

const receivedAt = Date.UTC(2024, 4, 1, 12, 0, 0);
const web = { source: 'shop', channel: 'web' } as const;

describe('normalise-event', () => {
  it('corrects clock skew: timestamp = receivedAt − (sentAt − originalTimestamp)', () => {
    // The client's clock is 1 hour fast: it says it sent at 13:00:05 an event it saw at 13:00:00.
    const result = normaliseEvent(
      message({ userId: 'u', event: 'E', timestamp: '2024-05-01T13:00:00Z', sentAt: '2024-05-01T13:00:05Z' }, 'track'),
      {
        receivedAt,
        batchSentAt: undefined,
        source: web,
      },
    );
    expect(result).toMatchObject({
      kind: 'ok',
      value: { timestamp: receivedAt - 5_000, sentAt: Date.UTC(2024, 4, 1, 13, 0, 5), receivedAt },
    });
  });

  it("uses the batch's sentAt when the message has none, and its own when it has one", () => {
    const m = message({ userId: 'u', event: 'E', timestamp: '2024-05-01T11:00:00Z' }, 'track');
    expect(normaliseEvent(m, { receivedAt, batchSentAt: Date.UTC(2024, 4, 1, 11, 0, 30), source: web })).toMatchObject({
      value: { timestamp: receivedAt - 30_000 },
    });
    const own = message(
      { userId: 'u', event: 'E', timestamp: '2024-05-01T11:00:00Z', sentAt: '2024-05-01T11:00:10Z' },
      'track',
    );
    expect(
      normaliseEvent(own, { receivedAt, batchSentAt: Date.UTC(2024, 4, 1, 11, 0, 30), source: web }),
    ).toMatchObject({ value: { timestamp: receivedAt - 10_000 } });
  });

  it('keeps the client timestamp without sentAt, and uses receivedAt without a timestamp', () => {
    const noSentAt = message({ userId: 'u', event: 'E', timestamp: '2020-01-01T00:00:00Z' }, 'track');
    expect(normaliseEvent(noSentAt, { receivedAt, batchSentAt: undefined, source: web })).toMatchObject({
      value: { timestamp: Date.UTC(2020, 0, 1), sentAt: null },
    });
    const noTimestamp = message({ userId: 'u', event: 'E', sentAt: '2024-05-01T11:00:00Z' }, 'track');
    expect(normaliseEvent(noTimestamp, { receivedAt, batchSentAt: undefined, source: web })).toMatchObject({
      value: { timestamp: receivedAt },
    });
  });

  it('keeps the messageId, or generates one', () => {
    expect(
      normaliseEvent(message({ userId: 'u', event: 'E', messageId: 'keep-me' }, 'track'), {
        receivedAt,
        batchSentAt: undefined,
        source: web,
      }),
    ).toMatchObject({
      value: { messageId: 'keep-me' },
    });
    expect(
      normaliseEvent(message({ userId: 'u', event: 'E' }, 'track'), {
        receivedAt,
        batchSentAt: undefined,
        source: web,
        newMessageId: () => 'generated-1',
      }),
    ).toMatchObject({ value: { messageId: 'generated-1' } });
    const random = normaliseEvent(message({ userId: 'u', event: 'E' }, 'track'), {
      receivedAt,
      batchSentAt: undefined,
      source: web,
    });
    expect(random.kind === 'ok' && random.value.messageId).toMatch(/^[0-9a-f-]{36}$/);
  });

  it('builds the full Event of an identify call', () => {
    const m = message(
      {
        anonymousId: 'anon-1',
        userId: 'user-1',
        traits: { email: 'Ada@Example.com' },
        context: { library: { name: 'analytics-node-next' }, consent: { categoryPreferences: { Email: true } } },
        messageId: 'id-1',
      },
      'identify',
    );
    expect(
      normaliseEvent(m, { receivedAt, batchSentAt: undefined, source: { source: 'default', channel: 'auto' } }),
    ).toEqual({
      kind: 'ok',
      value: {
        messageId: 'id-1',
        type: 'identify',
        event: null,
        name: null,
        userId: 'user-1',
        anonymousId: 'anon-1',
        previousId: null,
        groupId: null,
        timestamp: receivedAt,
        sentAt: null,
        receivedAt,
        channel: 'server',
        source: 'default',
        context: '{"library":{"name":"analytics-node-next"},"consent":{"categoryPreferences":{"Email":true}}}',
        properties: '{}',
        traits: '{"email":"Ada@Example.com"}',
        consent: { Email: true },
      },
    });
  });

  it("takes source and channel from the write key's source, not the payload", () => {
    const m = message(
      {
        anonymousId: 'a',
        name: 'Home',
        category: 'Shop',
        channel: 'server',
        context: { library: { name: 'analytics.js' } },
      },
      'page',
    );
    expect(
      normaliseEvent(m, { receivedAt, batchSentAt: undefined, source: { source: 'pos-berlin', channel: 'store' } }),
    ).toMatchObject({
      value: { source: 'pos-berlin', channel: 'store', name: 'Home', properties: '{"category":"Shop"}' },
    });
  });

  it('keys by userId, else anonymousId, else messageId', () => {
    expect(eventKey({ userId: 'u', anonymousId: 'a', messageId: 'm' })).toBe('u');
    expect(eventKey({ userId: null, anonymousId: 'a', messageId: 'm' })).toBe('a');
    expect(eventKey({ userId: null, anonymousId: null, messageId: 'm' })).toBe('m');
  });
});

describe('inferChannel', () => {
  it.each([
    ['analytics.js', undefined, 'web'],
    ['analytics-next', undefined, 'web'],
    ['analytics-ios', undefined, 'mobile'],
    ['analytics-kotlin', undefined, 'mobile'],
    ['analytics-react-native', undefined, 'mobile'],
    ['analytics-node-next', undefined, 'server'],
    [undefined, 'browser', 'web'],
    [undefined, 'mobile', 'mobile'],
    [undefined, undefined, 'server'],
  ])('%s / %s → %s', (library, hint, channel) => {
    expect(inferChannel(library, hint)).toBe(channel);
  });
});

describe('the normalise-event step', () => {
  it('normalises with the request it was made for', () => {
    const step = normaliseEventStep({
      receivedAt: 5_000,
      batchSentAt: undefined,
      source: { source: 'shop', channel: 'web' },
      newMessageId: () => 'generated',
    });
    const validated = validateMessage({ type: 'track', userId: 'u', event: 'E' });
    if (validated.kind !== 'ok') throw new Error('invalid');
    expect(step.name).toBe('normalise-event');
    expect(step.run(validated.value)).toMatchObject({
      kind: 'ok',
      value: { messageId: 'generated', timestamp: 5_000, receivedAt: 5_000, channel: 'web', source: 'shop' },
    });
  });
});
