import {
  IdentityGraph,
  profileIdFor,
  type LinkRequest,
} from '../../../../services/identity-stitcher/identity/identity-graph';
import { linkRules, resolveIdentityRules } from '../../../../services/identity-stitcher/identity/identity-rules';

const rules = resolveIdentityRules();

function event(
  messageId: string,
  eventTime: number,
  ids: Record<string, string | string[]>,
  extra: Partial<LinkRequest> = {},
): LinkRequest {
  const identifiers = Object.entries(ids).flatMap(([type, values]) =>
    (Array.isArray(values) ? values : [values]).map((value) => ({ type, value })),
  );
  return { messageId, eventTime, receivedAt: eventTime, rule: linkRules.sameEvent, identifiers, ...extra };
}

function resolve(graph: IdentityGraph, request: LinkRequest) {
  const resolution = graph.resolve(request);
  if (!resolution) throw new Error('no resolution');
  return resolution;
}

describe('identity graph rules', () => {
  it('creates a profile with a content-derived id when no identifier is known', () => {
    const graph = new IdentityGraph(rules);
    const result = resolve(graph, event('m1', 1000, { anonymous_id: 'a1', device_id: 'd1' }));
    expect(result.createdProfile).toBe(true);
    // The strongest identifier (device_id beats anonymous_id) and the messageId make the id.
    expect(result.profileId).toBe(profileIdFor('m1', 'device_id', 'd1'));
    expect(result.changes).toEqual([
      expect.objectContaining({
        kind: 'link',
        profileId: result.profileId,
        identifiers: [
          { type: 'device_id', value: 'd1' },
          { type: 'anonymous_id', value: 'a1' },
        ],
        rule: 'same-event',
        messageId: 'm1',
        eventTime: 1000,
        reason: null,
      }),
    ]);
    expect(result.graphRecords).toEqual([
      {
        identifier: { type: 'device_id', value: 'd1' },
        profileId: result.profileId,
        profileCreatedAt: 1000,
        linkedBy: 'm1',
        linkedAt: 1000,
        rule: 'same-event',
      },
      {
        identifier: { type: 'anonymous_id', value: 'a1' },
        profileId: result.profileId,
        profileCreatedAt: 1000,
        linkedBy: 'm1',
        linkedAt: 1000,
        rule: 'same-event',
      },
    ]);
    expect(graph.profileCount).toBe(1);
    expect(graph.identifierCount).toBe(2);
  });

  it('grows a profile when one identifier is known, and changes nothing for a repeat', () => {
    const graph = new IdentityGraph(rules);
    const first = resolve(graph, event('m1', 1000, { anonymous_id: 'a1' }));
    const grown = resolve(graph, event('m2', 2000, { anonymous_id: 'a1', email: 'x@example.com' }));
    expect(grown.profileId).toBe(first.profileId);
    expect(grown.createdProfile).toBe(false);
    expect(grown.changes.map((c) => [c.kind, c.identifiers])).toEqual([
      ['link', [{ type: 'email', value: 'x@example.com' }]],
    ]);
    expect(grown.graphRecords).toHaveLength(1);

    const repeat = resolve(graph, event('m3', 3000, { email: 'x@example.com', anonymous_id: 'a1' }));
    expect(repeat.profileId).toBe(first.profileId);
    expect(repeat.changes).toEqual([]);
    expect(repeat.graphRecords).toEqual([]);
    expect(repeat.linked).toEqual([
      { type: 'email', value: 'x@example.com' },
      { type: 'anonymous_id', value: 'a1' },
    ]);
  });

  it('merges profiles into the older one and flattens the absorbed one', () => {
    const graph = new IdentityGraph(rules);
    const web = resolve(graph, event('m1', 1000, { anonymous_id: 'web' }));
    const app = resolve(graph, event('m2', 2000, { anonymous_id: 'app', device_id: 'phone-1' }));
    const login = resolve(graph, event('m3', 3000, { user_id: 'u1', anonymous_id: 'app' }));
    expect(login.profileId).toBe(app.profileId);
    const merged = resolve(graph, event('m4', 4000, { user_id: 'u1', anonymous_id: 'web' }));

    expect(merged.profileId).toBe(web.profileId); // web's profile is older
    expect(merged.mergedProfileIds).toEqual([app.profileId]);
    const merge = merged.changes.find((c) => c.kind === 'merge')!;
    expect(merge).toMatchObject({
      profileId: web.profileId,
      absorbedProfileIds: [app.profileId],
      messageId: 'm4',
      eventTime: 4000,
      rule: 'same-event',
    });
    // Every identifier of the absorbed profile now points straight at the survivor.
    expect([...graph.snapshot().values()].every((id) => id === web.profileId)).toBe(true);
    expect(merged.graphRecords.map((r) => `${r.identifier.type}:${r.identifier.value}`).sort()).toEqual([
      'anonymous_id:app',
      'device_id:phone-1',
      'user_id:u1',
    ]);
    // Moved identifiers keep the provenance of their own link.
    expect(merged.graphRecords.find((r) => r.identifier.value === 'u1')).toMatchObject({
      linkedBy: 'm3',
      linkedAt: 3000,
      profileCreatedAt: 1000,
    });
    expect(graph.profileCount).toBe(1);

    // A later merge of the survivor keeps everything flat (no alias chains).
    const other = resolve(graph, event('m5', 500, { email: 'early@example.com' }));
    const again = resolve(graph, event('m6', 6000, { email: 'early@example.com', device_id: 'phone-1' }));
    expect(again.profileId).toBe(other.profileId); // created with an earlier event time
    expect(new Set(graph.snapshot().values())).toEqual(new Set([other.profileId]));
  });

  it('refuses a merge that would give a profile two user_ids, and records why', () => {
    const graph = new IdentityGraph(rules);
    const alice = resolve(graph, event('m1', 1000, { user_id: 'alice', anonymous_id: 'a-alice' }));
    const bob = resolve(graph, event('m2', 2000, { user_id: 'bob', anonymous_id: 'a-bob' }));
    const bridge = resolve(
      graph,
      event('m3', 3000, { user_id: 'bob', anonymous_id: 'a-alice', email: 'bob@example.com' }),
    );

    // The highest-priority identifier (user_id bob) decides; alice's anonymous id is not linked.
    expect(bridge.profileId).toBe(bob.profileId);
    expect(bridge.mergedProfileIds).toEqual([]);
    expect(bridge.refusals).toEqual([
      {
        identifier: { type: 'anonymous_id', value: 'a-alice' },
        limitType: 'user_id',
        reason: `user_id limit 1 exceeded: merging its profile ${alice.profileId} would give the profile 2 user_id identifiers`,
      },
    ]);
    expect(bridge.changes.map((c) => c.kind)).toEqual(['link', 'refused']);
    expect(bridge.changes[1]).toMatchObject({
      kind: 'refused',
      profileId: bob.profileId,
      messageId: 'm3',
      identifiers: [{ type: 'anonymous_id', value: 'a-alice' }],
    });
    expect(bridge.linked).toEqual([
      { type: 'user_id', value: 'bob' },
      { type: 'email', value: 'bob@example.com' },
    ]);
    expect(graph.profileIdOf('anonymous_id', 'a-alice')).toBe(alice.profileId);
    expect(graph.profileIdOf('email', 'bob@example.com')).toBe(bob.profileId);
  });

  it('refuses a new identifier beyond its type limit', () => {
    const graph = new IdentityGraph(resolveIdentityRules({ types: [{ name: 'email', priority: 3, limit: 2 }] }));
    const p = resolve(graph, event('m1', 1000, { user_id: 'u', email: ['a@x.io', 'b@x.io'] }));
    const third = resolve(graph, event('m2', 2000, { user_id: 'u', email: 'c@x.io' }));
    expect(third.profileId).toBe(p.profileId);
    expect(third.refusals).toEqual([
      {
        identifier: { type: 'email', value: 'c@x.io' },
        limitType: 'email',
        reason: 'email limit 2 exceeded: linking it would give the profile 3 email identifiers',
      },
    ]);
    expect(graph.profileIdOf('email', 'c@x.io')).toBeUndefined();
  });

  it('keeps two people apart on a shared device', () => {
    const graph = new IdentityGraph(rules);
    const mum = resolve(
      graph,
      event('m1', 1000, { user_id: 'mum', device_id: 'family-tablet', anonymous_id: 'tab-1' }),
    );
    const kid = resolve(
      graph,
      event('m2', 2000, { user_id: 'kid', device_id: 'family-tablet', anonymous_id: 'tab-2' }),
    );
    expect(kid.profileId).not.toBe(mum.profileId);
    expect(kid.refusals.map((r) => r.identifier)).toEqual([{ type: 'device_id', value: 'family-tablet' }]);
    // The kid's own anonymous id still links to the kid; the tablet stays with the first owner.
    expect(graph.profileIdOf('anonymous_id', 'tab-2')).toBe(kid.profileId);
    expect(graph.profileIdOf('device_id', 'family-tablet')).toBe(mum.profileId);
    // Later events by either stay apart.
    expect(resolve(graph, event('m3', 3000, { user_id: 'mum', device_id: 'family-tablet' })).profileId).toBe(
      mum.profileId,
    );
    expect(resolve(graph, event('m4', 4000, { user_id: 'kid', device_id: 'family-tablet' })).profileId).toBe(
      kid.profileId,
    );
    expect(graph.profileCount).toBe(2);
  });

  it('links previousId to userId on alias, as an anonymous id or a known user id', () => {
    const graph = new IdentityGraph(rules);
    const anon = resolve(graph, event('m1', 1000, { anonymous_id: 'visitor-9' }));
    const known = resolve(graph, event('m2', 2000, { user_id: 'new-id', email: 'n@x.io' }));
    const alias = resolve(
      graph,
      event('m3', 3000, { user_id: 'new-id' }, { rule: linkRules.alias, previousId: 'visitor-9' }),
    );
    expect(alias.profileId).toBe(anon.profileId);
    expect(alias.mergedProfileIds).toEqual([known.profileId]);
    expect(alias.changes[0]).toMatchObject({ kind: 'merge', rule: 'alias' });

    // previousId that is a known user_id: a second user_id is refused under the same rules.
    const other = resolve(graph, event('m4', 4000, { user_id: 'old-id' }));
    const aliasUsers = resolve(
      graph,
      event('m5', 5000, { user_id: 'new-id' }, { rule: linkRules.alias, previousId: 'old-id' }),
    );
    expect(aliasUsers.refusals).toEqual([
      expect.objectContaining({ identifier: { type: 'user_id', value: 'old-id' }, limitType: 'user_id' }),
    ]);
    expect(graph.profileIdOf('user_id', 'old-id')).toBe(other.profileId);
  });

  it('is deterministic: the same input twice gives identical ids, merges and records', () => {
    const run = () => {
      const graph = new IdentityGraph(rules);
      const out = [
        event('e1', 10, { anonymous_id: 'a', device_id: 'd' }),
        event('e2', 20, { anonymous_id: 'b', email: 'p@x.io' }),
        event('e3', 30, { email: 'p@x.io', device_id: 'd', user_id: 'u' }),
        event('e4', 40, { user_id: 'v', device_id: 'd', phone: '+14155552671' }),
        event('e5', 50, { anonymous_id: 'c' }, { rule: linkRules.alias, previousId: 'b' }),
      ].map((request) => graph.resolve(request));
      return { out, snapshot: graph.snapshot() };
    };
    const first = run();
    const second = run();
    expect(second).toEqual(first);
    // Identifier order within an event does not matter.
    const a = new IdentityGraph(rules).resolve(event('x', 1, { email: 'q@x.io', anonymous_id: 'z' }));
    const b = new IdentityGraph(rules).resolve({
      ...event('x', 1, {}),
      identifiers: [
        { type: 'anonymous_id', value: 'z' },
        { type: 'email', value: 'q@x.io' },
      ],
    });
    expect(b).toEqual(a);
  });

  it('takes each identifier once, strongest first, from a request with few or many', () => {
    // A handful is sorted by insertion, many by Array.prototype.sort: the same outcome.
    for (const count of [4, 40]) {
      const graph = new IdentityGraph(rules);
      const anonymous = Array.from({ length: count }, (_, i) => `a${(count - i) % (count / 2)}`);
      const result = resolve(
        graph,
        event('m1', 1000, { anonymous_id: anonymous, email: ['z@x.io', 'b@x.io', 'z@x.io'], user_id: 'u1' }),
      );
      const distinctAnonymous = [...new Set(anonymous)].sort().map((value) => ({ type: 'anonymous_id', value }));
      expect(result.linked).toEqual([
        { type: 'user_id', value: 'u1' },
        { type: 'email', value: 'b@x.io' },
        { type: 'email', value: 'z@x.io' },
        ...distinctAnonymous,
      ]);
      expect(graph.identifierCount).toBe(3 + count / 2);
    }
  });

  it('returns undefined for an event without identifiers', () => {
    expect(new IdentityGraph(rules).resolve(event('m', 1, {}))).toBeUndefined();
  });

  it('is rebuilt from its changelog into the same state, latest record per identifier winning', () => {
    const live = new IdentityGraph(rules);
    const log: Parameters<IdentityGraph['restoreRecord']>[0][] = [];
    const requests = [
      event('m1', 1000, { anonymous_id: 'web' }),
      event('m2', 2000, { anonymous_id: 'app', device_id: 'phone-1' }),
      event('m3', 3000, { user_id: 'u1', anonymous_id: 'app' }),
      event('m4', 4000, { user_id: 'u1', anonymous_id: 'web' }),
      event('m5', 5000, { user_id: 'u2', anonymous_id: 'web', email: 'z@x.io' }),
    ];
    for (const request of requests) log.push(...resolve(live, request).graphRecords);
    const rebuilt = new IdentityGraph(rules);
    for (const record of log) rebuilt.restoreRecord(record);
    rebuilt.finishRestore();
    expect(rebuilt.snapshot()).toEqual(live.snapshot());
    expect(rebuilt.profileCount).toBe(live.profileCount);
    expect(rebuilt.profileOf('user_id', 'u1')).toEqual(live.profileOf('user_id', 'u1'));
    // Both continue identically, limits included.
    const next = event('m6', 6000, { user_id: 'u2', device_id: 'phone-1' });
    expect(rebuilt.resolve(next)).toEqual(live.resolve(next));
  });

  it('forgets tombstoned identifiers on rebuild', () => {
    const live = new IdentityGraph(rules);
    const { graphRecords } = resolve(live, event('m1', 1, { user_id: 'u', email: 'e@x.io' }));
    const rebuilt = new IdentityGraph(rules);
    for (const record of graphRecords) rebuilt.restoreRecord(record);
    rebuilt.restoreTombstone({ type: 'email', value: 'e@x.io' });
    rebuilt.finishRestore();
    expect(rebuilt.profileIdOf('email', 'e@x.io')).toBeUndefined();
    expect(rebuilt.profileIdOf('user_id', 'u')).toBe(live.profileIdOf('user_id', 'u'));
    expect(rebuilt.identifierCount).toBe(1);
  });

  it('explains a profile: every identifier with the event and rule that linked it', () => {
    const graph = new IdentityGraph(rules);
    resolve(graph, event('m1', 1000, { anonymous_id: 'a1' }));
    resolve(graph, event('m2', 2000, { user_id: 'u' }, { rule: linkRules.alias, previousId: 'a1' }));
    expect(graph.profileOf('user_id', 'u')?.identifiers).toEqual([
      { type: 'anonymous_id', value: 'a1', linkedBy: 'm1', linkedAt: 1000, rule: 'same-event' },
      { type: 'user_id', value: 'u', linkedBy: 'm2', linkedAt: 2000, rule: 'alias' },
    ]);
  });
});
