import type { Event } from '../../../../schemas';
import type { IncomingMessage } from '../../../../services/common/kafka/client';
import { DependencyUnavailableError, InvalidInputError } from '../../../../services/common/errors';
import { IdentityGraph } from '../../../../services/identity-stitcher/identity/identity-graph';
import { resolveIdentityRules } from '../../../../services/identity-stitcher/identity/identity-rules';
import { IdentifierNormaliser } from '../../../../services/identity-stitcher/identity/normalise';
import { decodeAvroEvent, parseJsonEvent } from '../../../../services/identity-stitcher/steps/decode-event.step';
import { linkRequestOf } from '../../../../services/identity-stitcher/steps/link-request.step';
import { resolveProfile } from '../../../../services/identity-stitcher/steps/resolve-profile.step';
import { identifyEvent } from '../../../support/events';

function message(value: string | Buffer | null, timestamp = '1700000000000'): IncomingMessage {
  return {
    topic: 't',
    partition: 0,
    offset: '5',
    key: null,
    value: typeof value === 'string' ? Buffer.from(value) : value,
    headers: {},
    timestamp,
  };
}

const event = identifyEvent;

describe('parse-json-event step', () => {
  it('accepts the Event shape with inline objects and ISO times, filling defaults', () => {
    const result = parseJsonEvent(
      message(
        JSON.stringify({
          messageId: 'j-1',
          type: 'track',
          event: 'X',
          userId: 42,
          timestamp: '2026-01-01T00:00:00Z',
          context: { device: { id: 'd' } },
        }),
      ),
    );
    expect(result).toEqual({
      kind: 'ok',
      value: expect.objectContaining({
        messageId: 'j-1',
        userId: '42',
        timestamp: Date.UTC(2026, 0, 1),
        receivedAt: 1_700_000_000_000,
        channel: 'server',
        source: 'kafka-json',
        context: '{"device":{"id":"d"}}',
        traits: '{}',
      }),
    });
  });

  it('dead-letters what is not JSON, not an object, or breaks the schema, naming the field', () => {
    expect(parseJsonEvent(message('{"messageId": "x"'))).toMatchObject({
      kind: 'dlq',
      code: 'KUMIKI_UNDECODABLE',
      reason: 'not JSON',
    });
    expect(parseJsonEvent(message('[1,2]'))).toMatchObject({ kind: 'dlq', code: 'KUMIKI_UNDECODABLE' });
    expect(parseJsonEvent(message(JSON.stringify({ messageId: 'x', type: 'buy' })))).toMatchObject({
      kind: 'dlq',
      code: 'KUMIKI_INVALID_EVENT',
      field: 'type',
    });
    expect(
      parseJsonEvent(message(JSON.stringify({ messageId: 'x', type: 'track', timestamp: 'yesterday' }))),
    ).toMatchObject({ kind: 'dlq', field: 'timestamp' });
    expect(parseJsonEvent(message(JSON.stringify({ messageId: 'x', type: 'track', traits: '[1]' })))).toMatchObject({
      kind: 'dlq',
      field: 'traits',
    });
  });

  it('drops empty records', () => {
    expect(parseJsonEvent(message(null))).toEqual({ kind: 'drop', reason: 'empty record' });
  });
});

describe('decode-avro-event step', () => {
  it('decodes at once when the writer schema is known, dead-letters undecodable bytes either way', () => {
    expect(decodeAvroEvent(message('x'), () => ({ event, ownSchemaRecord: undefined }))).toEqual({
      kind: 'ok',
      value: { event, ownSchemaRecord: undefined },
    });
    expect(
      decodeAvroEvent(message('junk'), () => {
        throw new InvalidInputError('bad magic byte');
      }),
    ).toMatchObject({ kind: 'dlq', code: 'KUMIKI_UNDECODABLE', reason: expect.stringContaining('bad magic byte') });
    expect(decodeAvroEvent(message(null), () => ({ event, ownSchemaRecord: undefined }))).toEqual({
      kind: 'drop',
      reason: 'empty record',
    });
  });

  it('dead-letters undecodable bytes and rethrows outages once a writer schema had to be fetched', async () => {
    await expect(decodeAvroEvent(message('x'), async () => ({ event, ownSchemaRecord: undefined }))).resolves.toEqual({
      kind: 'ok',
      value: { event, ownSchemaRecord: undefined },
    });
    await expect(
      decodeAvroEvent(message('junk'), async () => {
        throw new InvalidInputError('bad magic byte');
      }),
    ).resolves.toMatchObject({
      kind: 'dlq',
      code: 'KUMIKI_UNDECODABLE',
      reason: expect.stringContaining('bad magic byte'),
    });
    await expect(
      decodeAvroEvent(message('x'), async () => {
        throw new DependencyUnavailableError('registry down');
      }),
    ).rejects.toThrow('registry down');
  });
});

describe('link-request and resolve-profile steps', () => {
  const rules = resolveIdentityRules();
  const normaliser = new IdentifierNormaliser(rules);
  const requestOf = (e: Event) => {
    const request = linkRequestOf(e, rules, normaliser);
    if (request.kind !== 'ok') throw new Error(`no request: ${JSON.stringify(request)}`);
    return request.value;
  };
  const deps = () => ({ graph: new IdentityGraph(rules) });

  it("reads the event's normalised identifiers, rule and provenance into its link request", () => {
    expect(linkRequestOf(event, rules, normaliser)).toEqual({
      kind: 'ok',
      value: {
        messageId: 'm-1',
        eventTime: 1_700_000_000_000,
        rule: 'same-event',
        identifiers: [
          { type: 'user_id', value: 'u-1' },
          { type: 'anonymous_id', value: 'a-1' },
          { type: 'device_id', value: 'd-1' },
          { type: 'email', value: 'a@b.io' },
        ],
        previousId: undefined,
      },
    });
  });

  it('links every identifier of the event to one profile', () => {
    const result = resolveProfile(requestOf(event), deps().graph);
    expect(result.kind).toBe('ok');
    if (result.kind !== 'ok') return;
    expect(result.value.linked).toEqual([
      { type: 'user_id', value: 'u-1' },
      { type: 'email', value: 'a@b.io' },
      { type: 'device_id', value: 'd-1' },
      { type: 'anonymous_id', value: 'a-1' },
    ]);
  });

  it('dead-letters an event without a usable identifier, or with broken JSON', () => {
    const blank = {
      ...event,
      userId: 'null',
      anonymousId: '00000000-0000-0000-0000-000000000000',
      context: '{}',
      traits: '{}',
    };
    expect(resolveProfile(requestOf(blank), deps().graph)).toMatchObject({ kind: 'dlq', code: 'KUMIKI_NO_IDENTIFIER' });
    expect(linkRequestOf({ ...event, context: 'not json' }, rules, normaliser)).toMatchObject({
      kind: 'dlq',
      field: 'context',
    });
    expect(linkRequestOf({ ...event, traits: '[1]' }, rules, normaliser)).toMatchObject({
      kind: 'dlq',
      field: 'traits',
    });
  });

  it('uses the alias rule for alias calls', () => {
    const d = deps();
    resolveProfile(
      requestOf({
        ...event,
        messageId: 'm0',
        type: 'track',
        userId: null,
        anonymousId: 'visitor',
        context: '{}',
        traits: '{}',
      }),
      d.graph,
    );
    const result = resolveProfile(
      requestOf({
        ...event,
        messageId: 'm2',
        type: 'alias',
        previousId: 'visitor',
        anonymousId: null,
        context: '{}',
        traits: '{}',
      }),
      d.graph,
    );
    expect(result.kind === 'ok' && result.value.changes.map((c) => [c.kind, c.rule])).toEqual([['link', 'alias']]);
    expect(d.graph.profileIdOf('user_id', 'u-1')).toBe(d.graph.profileIdOf('anonymous_id', 'visitor'));
  });
});
