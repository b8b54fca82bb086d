import type { Event } from '../../../../schemas';
import { IdentityGraph } from '../../../../services/identity-stitcher/identity/identity-graph';
import { resolveIdentityRules } from '../../../../services/identity-stitcher/identity/identity-rules';
import { IdentifierNormaliser } from '../../../../services/identity-stitcher/identity/normalise';
import { linkRequestOf } from '../../../../services/identity-stitcher/steps/link-request.step';
import { resolveProfile, resolveProfileStep } from '../../../../services/identity-stitcher/steps/resolve-profile.step';
import { identifyEvent as event } from '../../../support/events';

const rules = resolveIdentityRules();
const normaliser = new IdentifierNormaliser(rules);
const requestOf = (e: Event) => {
  const request = linkRequestOf(e, rules, normaliser);
  if (request.kind !== 'ok') throw new Error(`no request: ${JSON.stringify(request)}`);
  return request.value;
};

describe('resolve-profile', () => {
  it('links every identifier of the event to one profile', () => {
    const result = resolveProfile(requestOf(event), new IdentityGraph(rules));
    expect(result.kind).toBe('ok');
    if (result.kind !== 'ok') return;
    expect(result.value.linked).toEqual([
      { type: 'user_id', value: 'u-1' },
      { type: 'email', value: 'a@b.io' },
      { type: 'device_id', value: 'd-1' },
      { type: 'anonymous_id', value: 'a-1' },
    ]);
  });

  it('dead-letters an event without a usable identifier, naming the message', () => {
    const blank = {
      ...event,
      userId: 'null',
      anonymousId: '00000000-0000-0000-0000-000000000000',
      context: '{}',
      traits: '{}',
    };
    expect(resolveProfile(requestOf(blank), new IdentityGraph(rules))).toMatchObject({
      kind: 'dlq',
      code: 'KUMIKI_NO_IDENTIFIER',
      messageId: 'm-1',
    });
  });

  it('uses the alias rule for alias calls', () => {
    const graph = new IdentityGraph(rules);
    const bare = { ...event, context: '{}', traits: '{}' };
    resolveProfile(requestOf({ ...bare, messageId: 'm0', type: 'track', userId: null, anonymousId: 'visitor' }), graph);
    const result = resolveProfile(
      requestOf({ ...bare, messageId: 'm2', type: 'alias', previousId: 'visitor', anonymousId: null }),
      graph,
    );
    expect(result.kind === 'ok' && result.value.changes.map((c) => [c.kind, c.rule])).toEqual([['link', 'alias']]);
    expect(graph.profileIdOf('user_id', 'u-1')).toBe(graph.profileIdOf('anonymous_id', 'visitor'));
  });

  it('as a step, resolves on the graph it is given at each call (the one rebuilt after a recovery)', () => {
    let graph = new IdentityGraph(rules);
    const step = resolveProfileStep(() => graph);
    expect(step.name).toBe('resolve-profile');
    const first = step.run({ request: requestOf(event), written: event });
    graph = new IdentityGraph(rules);
    const again = step.run({ request: requestOf(event), written: event });
    expect(first).toMatchObject({ kind: 'ok', value: { createdProfile: true } });
    expect(again).toMatchObject({ kind: 'ok', value: { createdProfile: true } });
    expect(graph.profileCount).toBe(1);
  });
});
