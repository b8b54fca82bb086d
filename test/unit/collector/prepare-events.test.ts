import { prepareEvents } from '../../../services/collector/prepare-events';
import { ApiError } from '../../../services/common/error-codes';
import { fieldOf } from '../../../services/common/result-handler';

const meta = {
  receivedAt: Date.UTC(2024, 0, 1),
  source: { source: 'web-shop', channel: 'web' as const },
  newMessageId: () => 'gen',
};

describe('prepareEvents', () => {
  it('accepts the valid elements of a batch and reports each rejected one with its path', () => {
    const body = {
      batch: [
        { type: 'track', userId: 'u1', event: 'Viewed', messageId: 'm1' },
        { type: 'track', userId: 'u2', messageId: 'm2' },
        { type: 'identify', anonymousId: 'a3', timestamp: 'soon', messageId: 'm3' },
        'not an event',
        { type: 'alias', userId: 'u5', previousId: 'a5', messageId: 'm5' },
      ],
    };
    const prepared = prepareEvents(body, 'batch', meta);
    expect(prepared.accepted.map((a) => [a.index, a.event.messageId, a.event.type])).toEqual([
      [0, 'm1', 'track'],
      [4, 'm5', 'alias'],
    ]);
    expect(
      prepared.rejected.map((rejected) => ({
        index: rejected.origin.index,
        code: rejected.code,
        field: fieldOf(rejected),
        stage: rejected.step,
        messageId: rejected.origin.messageId,
        originalKey: rejected.origin.key,
      })),
    ).toEqual([
      {
        index: 1,
        code: 'KUMIKI_MISSING_FIELD',
        field: 'batch[1].event',
        stage: 'validate-message',
        messageId: 'm2',
        originalKey: 'u2',
      },
      {
        index: 2,
        code: 'KUMIKI_INVALID_TIMESTAMP',
        field: 'batch[2].timestamp',
        stage: 'validate-message',
        messageId: 'm3',
        originalKey: 'a3',
      },
      {
        index: 3,
        code: 'KUMIKI_INVALID_EVENT',
        field: 'batch[3]',
        stage: 'validate-message',
        messageId: null,
        originalKey: null,
      },
    ]);
    expect(JSON.parse(prepared.rejected[0]!.origin.value.toString())).toEqual(body.batch[1]);
  });

  it("applies the batch's context and sentAt as defaults", () => {
    const body = {
      sentAt: '2024-01-01T00:00:10Z',
      context: { library: { name: 'analytics-ios' }, locale: 'de-DE' },
      batch: [
        { type: 'track', userId: 'u', event: 'E', timestamp: '2024-01-01T00:00:00Z', context: { locale: 'fr-FR' } },
      ],
    };
    const [accepted] = prepareEvents(body, 'batch', { ...meta, source: { source: 'app', channel: 'auto' } }).accepted;
    expect(accepted!.event).toMatchObject({
      timestamp: meta.receivedAt - 10_000,
      sentAt: Date.UTC(2024, 0, 1, 0, 0, 10),
      channel: 'mobile',
      context: '{"library":{"name":"analytics-ios"},"locale":"fr-FR"}',
    });
  });

  it('rejects an element over 32 KB on its own', () => {
    const big = { type: 'track', userId: 'u', event: 'Big', properties: { blob: 'x'.repeat(33 * 1024) } };
    const prepared = prepareEvents({ batch: [big, { type: 'track', userId: 'u', event: 'Small' }] }, 'batch', meta);
    expect(prepared.accepted.map((a) => a.event.event)).toEqual(['Small']);
    expect(prepared.rejected).toMatchObject([
      { origin: { index: 0, path: 'batch[0]' }, code: 'KUMIKI_PAYLOAD_TOO_LARGE', step: 'check-event-size' },
    ]);
    expect(fieldOf(prepared.rejected[0]!)).toBe('batch[0]');
  });

  it('rejects an element nested deeper than 64 levels on its own, before anything writes it out', () => {
    // 10,000 levels: JSON.stringify overflowed the stack on it, and the whole request was answered 500.
    const deep = JSON.parse(`${'['.repeat(10_000)}${']'.repeat(10_000)}`) as unknown;
    const nested = { type: 'track', userId: 'u', event: 'Deep', messageId: 'm-deep', properties: { a: deep } };
    const prepared = prepareEvents({ batch: [nested, { type: 'track', userId: 'u', event: 'Flat' }] }, 'batch', meta);
    expect(prepared.accepted.map((a) => a.event.event)).toEqual(['Flat']);
    expect(prepared.rejected).toMatchObject([
      {
        origin: { index: 0, path: 'batch[0]', messageId: 'm-deep' },
        code: 'KUMIKI_INVALID_EVENT',
        step: 'check-event-size',
      },
    ]);
    expect(fieldOf(prepared.rejected[0]!)).toBe('batch[0]');
    expect(prepared.rejected[0]!.reason).toBe('the event nests deeper than 64 levels');
    // The dead letter keeps what can be written: the event, its depths below the limit cut.
    const original = JSON.parse(prepared.rejected[0]!.origin.value.toString()) as {
      messageId: string;
      properties: unknown;
    };
    expect(original.messageId).toBe('m-deep');
    expect(JSON.stringify(original.properties)).toMatch(/^\{"a":\[\[+"\[nested deeper than 64 levels\]"\]+\}$/);

    const single = prepareEvents(
      { userId: 'u', event: 'Deep', properties: { a: deep } },
      'track',
      meta,
      Buffer.from('raw'),
    );
    expect(single.rejected).toMatchObject([{ code: 'KUMIKI_INVALID_EVENT', origin: { value: Buffer.from('raw') } }]);
  });

  it('takes the type of a single call from the route and ignores writeKey in the body', () => {
    const prepared = prepareEvents(
      { writeKey: 'wk_secret_1', userId: 'u', event: 'E', type: 'identify' },
      'track',
      meta,
    );
    expect(prepared.accepted).toMatchObject([{ index: 0, event: { type: 'track', event: 'E', context: '{}' } }]);
  });

  it('refuses a batch request without a batch array, or with a bad sentAt', () => {
    expect(() => prepareEvents({}, 'batch', meta)).toThrow(
      new ApiError('KUMIKI_MISSING_FIELD', 'a batch request needs a batch array', 'batch'),
    );
    expect(() => prepareEvents({ batch: {} }, 'batch', meta)).toThrow(
      expect.objectContaining({ code: 'KUMIKI_INVALID_EVENT', field: 'batch' }),
    );
    expect(() => prepareEvents({ batch: [], sentAt: 'x' }, 'batch', meta)).toThrow(
      expect.objectContaining({ code: 'KUMIKI_INVALID_TIMESTAMP', field: 'sentAt' }),
    );
  });
});

describe('prepareEvents dead-letter bytes', () => {
  it('keeps the original bytes of a single call, without a writeKey from the body', () => {
    const original = Buffer.from('{"userId":"u"}');
    expect(prepareEvents({ userId: 'u' }, 'track', meta, original).rejected[0]!.origin.value).toBe(original);
    const withKey = prepareEvents(
      { userId: 'u', writeKey: 'wk_secret_1' },
      'track',
      meta,
      Buffer.from('{"userId":"u","writeKey":"wk_secret_1"}'),
    );
    expect(withKey.rejected[0]!.origin.value.toString()).toBe('{"userId":"u"}');
  });
});
