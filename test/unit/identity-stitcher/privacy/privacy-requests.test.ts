import type { PrivacyRequest } from '../../../../schemas';
import { PrivacyKey } from '../../../../services/common/privacy/privacy-key';
import { requestRecord } from '../../../../services/common/privacy/privacy-request';
import { IdentityGraph, type LinkRequest } from '../../../../services/identity-stitcher/identity/identity-graph';
import { resolveIdentityRules } from '../../../../services/identity-stitcher/identity/identity-rules';
import { IdentifierNormaliser } from '../../../../services/identity-stitcher/identity/normalise';
import { applyPrivacyRequest } from '../../../../services/identity-stitcher/privacy/apply-privacy-request';
import { SubjectMemory } from '../../../../services/identity-stitcher/privacy/subject-memory';
import { isErasedSubject } from '../../../../services/identity-stitcher/steps/drop-erased-subject.step';
import { suppressionOf } from '../../../../services/identity-stitcher/steps/drop-suppressed-subject.step';

/** What the graph path's two privacy steps decide (drop-erased-subject, drop-suppressed-subject). */
function admitSubject(request: LinkRequest, graph: IdentityGraph, memory: SubjectMemory) {
  if (isErasedSubject(request, graph, memory)) return { kind: 'drop' as const, reason: 'erased' as const };
  const suppressed = suppressionOf(request, graph, memory);
  return suppressed
    ? { kind: 'drop' as const, reason: 'suppressed' as const, ...suppressed }
    : { kind: 'ok' as const, value: request };
}

const rules = resolveIdentityRules();
const key = PrivacyKey.fromHex('33'.repeat(32));

function event(messageId: string, receivedAt: number, ids: Record<string, string>): LinkRequest {
  return {
    messageId,
    eventTime: receivedAt,
    receivedAt,
    rule: 'same-event',
    identifiers: Object.entries(ids).map(([type, value]) => ({ type, value })),
  };
}

function request(
  type: PrivacyRequest['kind'],
  idType: string,
  value: string,
  requestId = `pr_${type}`,
): PrivacyRequest {
  return requestRecord(
    { type: type as 'erase', identifier: { type: idType, value }, reason: null },
    { requestId, requestedAt: 1, requestedBy: 'test' },
  );
}

function setup() {
  const graph = new IdentityGraph(rules);
  const memory = new SubjectMemory(key);
  const deps = (now: number) => ({ graph, memory, rules, normaliser: new IdentifierNormaliser(rules), now });
  const stitch = (e: LinkRequest) => {
    const admitted = admitSubject(e, graph, memory);
    if (admitted.kind === 'drop') return admitted;
    return { kind: 'ok' as const, profileId: graph.resolve(e)!.profileId };
  };
  return { graph, memory, deps, stitch };
}

describe('erase in the graph', () => {
  it('forgets the person, resolved with provenance, and drops their replayed events but not fresh ones', () => {
    const { graph, deps, stitch } = setup();
    stitch(event('m1', 1_000, { anonymous_id: 'a1', email: 'ann@x.io' }));
    const ann = stitch(event('m2', 2_000, { user_id: 'u1', anonymous_id: 'a1' }));
    const bob = stitch(event('m3', 2_500, { user_id: 'bob' }));

    const step = applyPrivacyRequest(request('erase', 'email', ' ANN@X.io '), deps(3_000));
    if (step.kind !== 'ok') throw new Error(step.kind);
    const { answer, tombstones, memory: writes } = step.outputs;
    expect(answer.phase).toBe('resolved');
    expect(answer.subject).toMatchObject({
      outcome: 'found',
      profileIds: [ann.kind === 'ok' && ann.profileId],
      resolvedAt: 3_000,
    });
    expect(answer.subject!.identifiers.map((i) => [`${i.type}:${i.value}`, i.linkedBy]).sort()).toEqual([
      ['anonymous_id:a1', 'm1'],
      ['email:ann@x.io', 'm1'],
      ['user_id:u1', 'm2'],
    ]);
    expect([...tombstones].sort()).toEqual(['anonymous_id:a1', 'email:ann@x.io', 'user_id:u1']);
    expect(writes.map((w) => w.key)).toEqual(['erased:pr_erase', 'executed:pr_erase']);
    const erased = writes[0]!.value!;
    expect(erased.identifierHashes).toContain(key.hashIdentifier('email', 'ann@x.io'));
    expect(JSON.stringify(writes)).not.toContain('ann@x.io');
    expect(graph.profileIdOf('user_id', 'u1')).toBeUndefined();
    expect(graph.profileIdOf('user_id', 'bob')).toBe(bob.kind === 'ok' && bob.profileId);
    expect([...graph.snapshot().keys()]).toEqual(['user_id:bob']);

    // Replayed (received before the erasure): dropped. Fresh (after): a new, unrelated profile.
    expect(stitch(event('m2', 2_000, { user_id: 'u1', anonymous_id: 'a1' }))).toMatchObject({
      kind: 'drop',
      reason: 'erased',
    });
    const fresh = stitch(event('m9', 4_000, { email: 'ann@x.io' }));
    expect(fresh.kind).toBe('ok');
    expect(fresh.kind === 'ok' && fresh.profileId).not.toBe(ann.kind === 'ok' && ann.profileId);
  });

  it('answers an identifier no profile holds as not_found, and one erased before as already_erased, remembering it either way', () => {
    const { memory, deps, stitch } = setup();
    const nobody = applyPrivacyRequest(request('erase', 'email', 'ghost@x.io', 'pr_1'), deps(1_000));
    expect(nobody.kind === 'ok' && nobody.outputs.answer.subject).toMatchObject({
      outcome: 'not_found',
      profileIds: [],
    });
    // The person's first events may still be queued behind the request: they are theirs.
    expect(stitch(event('q', 900, { email: 'ghost@x.io' }))).toMatchObject({ kind: 'drop', reason: 'erased' });
    stitch(event('m1', 1_100, { user_id: 'u2' }));
    applyPrivacyRequest(request('erase', 'user_id', 'u2', 'pr_2'), deps(2_000));
    const again = applyPrivacyRequest(request('erase', 'user_id', 'u2', 'pr_3'), deps(3_000));
    expect(again.kind === 'ok' && again.outputs.answer.subject).toMatchObject({
      outcome: 'already_erased',
      erasedBy: 'pr_2',
    });
    expect(memory.wasExecuted('pr_3')).toBe(true);
  });

  it('never carries a request out twice: a replay of the requests topic finds it executed', () => {
    const { graph, deps, stitch } = setup();
    stitch(event('m1', 1_000, { email: 'ann@x.io' }));
    applyPrivacyRequest(request('erase', 'email', 'ann@x.io'), deps(2_000));
    stitch(event('m2', 3_000, { email: 'ann@x.io' })); // the email's new owner
    expect(applyPrivacyRequest(request('erase', 'email', 'ann@x.io'), deps(4_000))).toEqual({ kind: 'replayed' });
    expect(graph.profileIdOf('email', 'ann@x.io')).toBeDefined();
  });

  it('refuses a request it cannot carry out, with the reason, and answers it failed', () => {
    const { deps } = setup();
    const invalid = applyPrivacyRequest(request('erase', 'email', 'not-an-email'), deps(1_000));
    expect(invalid).toMatchObject({ kind: 'invalid', reason: expect.stringMatching(/not a usable email/) });
    expect(invalid.kind === 'invalid' && invalid.answer).toMatchObject({ phase: 'failed', completedAt: 1_000 });
    const badType = applyPrivacyRequest(request('erase', 'E-mail', 'x'), deps(1_000));
    expect(badType).toMatchObject({ kind: 'invalid', reason: expect.stringMatching(/not an identifier type name/) });
  });
});

describe('suppression', () => {
  it('drops the person, grows with identifiers that arrive with them, leaves other people alone, and lifts', () => {
    const { memory, deps, stitch } = setup();
    stitch(event('m1', 1_000, { user_id: 'u1', email: 'ann@x.io' }));
    stitch(event('m2', 1_000, { user_id: 'kid', device_id: 'tablet' }));
    const step = applyPrivacyRequest(request('suppress', 'user_id', 'u1', 'pr_s'), deps(2_000));
    expect(step.kind === 'ok' && step.outputs.tombstones).toEqual([]);

    const withNewDevice = admitSubject(
      event('m3', 3_000, { user_id: 'u1', device_id: 'phone', anonymous_id: 'a9' }),
      deps(0).graph,
      memory,
    );
    expect(withNewDevice).toMatchObject({ kind: 'drop', reason: 'suppressed', suppression: 'suppressed:pr_s' });
    // The phone and the anonymous id join the suppression (the caller writes it); the shared tablet would not.
    if (withNewDevice.kind !== 'drop' || withNewDevice.reason !== 'suppressed') throw new Error('not dropped');
    expect(withNewDevice.newHashes).toHaveLength(2);
    const grown = memory.grow(withNewDevice.suppression, withNewDevice.newHashes)!;
    expect(grown.identifierHashes).toHaveLength(4);
    expect(stitch(event('m4', 3_100, { device_id: 'phone' }))).toMatchObject({ kind: 'drop', reason: 'suppressed' });
    const onTablet = admitSubject(event('m5', 3_200, { user_id: 'u1', device_id: 'tablet' }), deps(0).graph, memory);
    expect(onTablet.kind === 'drop' && onTablet.reason === 'suppressed' && onTablet.newHashes).toEqual([]);
    expect(stitch(event('m6', 3_300, { user_id: 'kid', device_id: 'tablet' })).kind).toBe('ok');

    const again = applyPrivacyRequest(request('suppress', 'email', 'ann@x.io', 'pr_s2'), deps(3_500));
    expect(again.kind === 'ok' && again.outputs.answer.outcome).toBe('already suppressed by pr_s');
    const lifted = applyPrivacyRequest(request('unsuppress', 'email', 'ann@x.io', 'pr_u'), deps(4_000));
    expect(lifted.kind === 'ok' && lifted.outputs.memory.map((w) => [w.key, w.value])).toEqual([
      ['suppressed:pr_s', null],
      ['executed:pr_u', expect.objectContaining({ kind: 'executed' })],
    ]);
    expect(stitch(event('m7', 5_000, { device_id: 'phone' })).kind).toBe('ok');
    expect(stitch(event('m8', 5_000, { user_id: 'u1' })).kind).toBe('ok');
  });

  it('is restored from its records: a suppressed person known to the graph is flagged by profile id', () => {
    const { graph, deps, stitch } = setup();
    stitch(event('m1', 1_000, { user_id: 'u1' }));
    const step = applyPrivacyRequest(request('suppress', 'user_id', 'u1', 'pr_s'), deps(2_000));
    const restored = new SubjectMemory(key);
    for (const write of step.kind === 'ok' ? step.outputs.memory : []) restored.apply(write.key, write.value);
    expect(admitSubject(event('m2', 3_000, { user_id: 'u1' }), graph, restored).kind).toBe('ok');
    restored.flagProfiles((visit) => graph.forEachProfile(visit));
    expect(admitSubject(event('m2', 3_000, { user_id: 'u1' }), graph, restored)).toMatchObject({ kind: 'drop' });
  });
});
