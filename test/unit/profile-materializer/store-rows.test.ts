import { applyMerges, resolveProfile } from '../../../services/profile-materializer/alias-map';
import { boundedTraits, latestPerKey } from '../../../services/profile-materializer/profile.repository';
import {
  identityRowsOfEvent,
  revenueText,
  rowsOfChange,
  toEventRow,
} from '../../../services/profile-materializer/store-rows';
import { dateTime64Text } from '../../../services/common/clickhouse/datetime64';
import type { StitchedEvent } from '../../../schemas';

const at = Date.UTC(2026, 0, 2, 3, 4, 5, 678);

function stitched(overrides: Partial<StitchedEvent['event']> = {}): StitchedEvent {
  return {
    profileId: 'p1',
    identifiers: [{ type: 'email', value: 'a@example.com' }],
    stitchedAt: at + 5,
    event: {
      messageId: 'm1',
      type: 'track',
      event: 'Order Completed',
      name: null,
      userId: 'u1',
      anonymousId: null,
      previousId: null,
      groupId: null,
      timestamp: at,
      sentAt: null,
      receivedAt: at + 1,
      channel: 'store',
      source: 'pos',
      context: '{"device":{"id":"d-7"},"page":{"path":"/checkout"}}',
      properties: '{"order_id":1234,"total":"19.99995","currency":" jpy "}',
      traits: '{}',
      consent: { email: true },
      ...overrides,
    },
  };
}

describe('event rows', () => {
  it('maps a stitched event onto the events_store columns', () => {
    expect(toEventRow(stitched())).toEqual({
      message_id: 'm1',
      profile_id: 'p1',
      type: 'track',
      event: 'Order Completed',
      name: '',
      timestamp: '2026-01-02 03:04:05.678',
      received_at: '2026-01-02 03:04:05.679',
      channel: 'store',
      source: 'pos',
      user_id: 'u1',
      anonymous_id: '',
      device_id: 'd-7',
      page_path: '/checkout',
      order_id: '1234',
      revenue: '20',
      currency: 'JPY',
      properties: '{"order_id":1234,"total":"19.99995","currency":" jpy "}',
      traits: '{}',
      context: '{"device":{"id":"d-7"},"page":{"path":"/checkout"}}',
      consent: { email: true },
      version: at + 1,
    });
  });

  it('prefers revenue over total, rounds to 4 decimals, and leaves non-track events without money', () => {
    expect(toEventRow(stitched({ properties: '{"revenue":12.34567,"total":99}' })).revenue).toBe('12.3457');
    expect(toEventRow(stitched({ properties: '{"revenue":"abc"}' })).revenue).toBeNull();
    expect(toEventRow(stitched({ properties: 'not json' })).revenue).toBeNull();
    const identify = toEventRow(stitched({ type: 'identify', event: null }));
    expect([identify.revenue, identify.order_id, identify.currency, identify.event]).toEqual([null, '', '', '']);
    expect(revenueText(-0.00005)).toBe('-0.0001');
    expect(dateTime64Text(0)).toBe('1970-01-01 00:00:00.000');
  });

  it('refuses an amount events_store.revenue cannot hold (Decimal(18, 4)), naming the field', () => {
    expect(revenueText('99999999999999.9999')).toBe('99999999999999.9999');
    expect(revenueText('-99999999999999.99994')).toBe('-99999999999999.9999');
    expect(() => revenueText('99999999999999.99995')).toThrow(/properties\.revenue/);
    expect(() => toEventRow(stitched({ properties: '{"revenue":1e15}' }))).toThrow(RangeError);
    expect(() => toEventRow(stitched({ properties: '{"total":-1e15}' }))).toThrow(/14 digits/);
  });

  it('reads order fields and context paths however their names are spelled in the JSON text', () => {
    // Escaped names are the same names: the quick "does the text name it" check must not skip them.
    const escaped = toEventRow(
      stitched({
        properties: '{"order\\u005fid":"o-9","rev\\u0065nue":5,"curr\\u0065ncy":"EUR"}',
        context: '{"p\\u0061ge":{"path":"/x"}}',
      }),
    );
    expect([escaped.order_id, escaped.revenue, escaped.currency, escaped.page_path]).toEqual(['o-9', '5', 'EUR', '/x']);
    const plain = toEventRow(stitched({ properties: '{"sku":"s-1","price":12.5}', context: '{"userAgent":"bench"}' }));
    expect([plain.order_id, plain.revenue, plain.currency, plain.device_id, plain.page_path]).toEqual([
      '',
      null,
      '',
      '',
      '',
    ]);
    const nested = toEventRow(stitched({ properties: '{"items":[{"order_id":"inner"}],"orderId":"o-2"}' }));
    expect(nested.order_id).toBe('o-2');
  });

  it('replays to identical rows', () => {
    expect(toEventRow(stitched())).toEqual(toEventRow(stitched()));
    expect(identityRowsOfEvent(stitched())).toEqual([
      {
        identifier_type: 'email',
        identifier_value: 'a@example.com',
        profile_id: 'p1',
        linked_at: '2026-01-02 03:04:05.678',
        message_id: 'm1',
        deleted: 0,
        version: at + 5,
      },
    ]);
  });

  it('writes links for every change kind and identities only for links and merges', () => {
    const base = {
      changeId: 'c',
      profileId: 'p1',
      absorbedProfileIds: [],
      identifiers: [{ type: 'user_id', value: 'u2' }],
      rule: 'user_id',
      reason: null,
      messageId: 'm9',
      eventTime: at,
      changedAt: at + 9,
    };
    const refused = rowsOfChange({ ...base, kind: 'refused', reason: 'profile already has user_id u1' });
    expect(refused.identities).toEqual([]);
    expect(refused.links).toEqual([
      expect.objectContaining({ rule: 'refused', reason: 'profile already has user_id u1', profile_id: 'p1' }),
    ]);
    const merge = rowsOfChange({ ...base, kind: 'merge', absorbedProfileIds: ['p2'] });
    expect(merge.links[0]).toMatchObject({ rule: 'merged', reason: 'merged p2 into p1 (rule user_id)' });
    expect(merge.identities[0]).toMatchObject({ profile_id: 'p1', version: at + 9 });
  });
});

describe('alias map', () => {
  const merge = (survivor: string, ...absorbed: string[]) => ({
    survivor,
    absorbed,
    mergedAt: at,
    messageId: `m-${survivor}`,
  });

  it('stays flat whichever order a chain of merges arrives in', () => {
    const forward = new Map<string, string>();
    applyMerges(forward, [merge('A', 'B'), merge('Z', 'A')]);
    const backward = new Map<string, string>();
    applyMerges(backward, [merge('Z', 'A'), merge('A', 'B')]);
    expect([...forward].sort()).toEqual([
      ['A', 'Z'],
      ['B', 'Z'],
    ]);
    expect([...backward].sort()).toEqual([...forward].sort());
    expect(resolveProfile(forward, 'B')).toBe('Z');
    expect(resolveProfile(forward, 'Q')).toBe('Q');
  });

  it('changes nothing on a replayed merge, and never points an id at itself', () => {
    const aliases = new Map([['B', 'A']]);
    expect(applyMerges(aliases, [merge('A', 'B')])).toEqual([]);
    expect(applyMerges(aliases, [merge('B', 'A')])).toEqual([]); // B already is A
    expect([...aliases]).toEqual([['B', 'A']]);
  });

  it('returns one row per id whose survivor changed', () => {
    const aliases = new Map([
      ['B', 'A'],
      ['C', 'A'],
    ]);
    const rows = applyMerges(aliases, [merge('Z', 'A')]);
    expect(rows.map((r) => [r.absorbed, r.survivor]).sort()).toEqual([
      ['A', 'Z'],
      ['B', 'Z'],
      ['C', 'Z'],
    ]);
  });
});

describe('latest value per key', () => {
  it('folds statements by event time, messageId breaking ties, whatever the arrival order', () => {
    const statements = [
      { at: 20, messageId: 'b', values: { plan: 'gold' } },
      { at: 10, messageId: 'a', values: { plan: 'silver', name: 'Ann' } },
      { at: 20, messageId: 'a', values: { plan: 'bronze', city: 'Kyoto' } },
    ];
    const expected = { city: 'Kyoto', name: 'Ann', plan: 'gold' };
    expect(latestPerKey(statements)).toEqual(expected);
    expect(JSON.stringify(latestPerKey([...statements].reverse()))).toBe(JSON.stringify(expected));
    expect(latestPerKey([])).toEqual({});
  });

  it('keeps a key named __proto__ as a trait, in sorted order, without touching any prototype', () => {
    const statements = [
      { at: 1, messageId: 'a', values: JSON.parse('{"__proto__":{"admin":true},"b":1}') as Record<string, unknown> },
      { at: 2, messageId: 'b', values: JSON.parse('{"__proto__":"later","a":2}') as Record<string, unknown> },
    ];
    const merged = latestPerKey(statements);
    expect(JSON.stringify(merged)).toBe('{"__proto__":"later","a":2,"b":1}');
    expect(Object.getPrototypeOf(merged)).toBe(Object.prototype);
    expect((merged as { admin?: unknown }).admin).toBeUndefined();
  });

  it('bounded: keeps the keys set most recently while their JSON fits, whatever the arrival order', () => {
    const statements = [
      { at: 30, messageId: 'c', values: { tier: 'x'.repeat(40) } },
      { at: 10, messageId: 'a', values: { name: 'Ann', city: 'Kyoto', tier: 'old' } },
      { at: 20, messageId: 'b', values: { name: 'Anne', plan: 'gold' } },
    ];
    // Newest first: tier (set at 30), then name and plan (20), then city (10).
    const tier = `"tier":"${'x'.repeat(40)}"`.length + 1;
    const all = JSON.stringify(latestPerKey(statements));
    expect(boundedTraits(statements, all.length)).toEqual({ text: all, leftOut: 0 });
    expect(boundedTraits([...statements].reverse(), all.length - 1)).toEqual({
      text: JSON.stringify({ name: 'Anne', plan: 'gold', tier: 'x'.repeat(40) }),
      leftOut: 1,
    });
    const onlyTier = boundedTraits(statements, 2 + tier);
    expect(onlyTier).toEqual({ text: JSON.stringify({ tier: 'x'.repeat(40) }), leftOut: 3 });
    expect(Buffer.byteLength(onlyTier.text)).toBeLessThanOrEqual(2 + tier);
    expect(boundedTraits(statements, 10)).toEqual({ text: '{}', leftOut: 4 });
  });

  it('bounded: counts UTF-8 bytes', () => {
    const statements = [{ at: 1, messageId: 'a', values: { a: 'é'.repeat(10), b: 'x' } }];
    const text = JSON.stringify({ a: 'é'.repeat(10), b: 'x' });
    expect(boundedTraits(statements, Buffer.byteLength(text))).toEqual({ text, leftOut: 0 });
    expect(boundedTraits(statements, Buffer.byteLength(text) - 1)).toEqual({ text: '{"b":"x"}', leftOut: 1 });
  });
});
