import type { PrivacyRequest } from '../../../../schemas';
import { PrivacyKey } from '../../../../services/common/privacy/privacy-key';
import { requestRecord } from '../../../../services/common/privacy/privacy-request';
import { IdentityGraph, type LinkRequest } from '../../../../services/identity-stitcher/identity/identity-graph';
import { resolveIdentityRules } from '../../../../services/identity-stitcher/identity/identity-rules';
import { IdentifierNormaliser } from '../../../../services/identity-stitcher/identity/normalise';
import { applyPrivacyRequest } from '../../../../services/identity-stitcher/privacy/apply-privacy-request';
import { SubjectMemory } from '../../../../services/identity-stitcher/privacy/subject-memory';
import { dropErasedSubjectStep } from '../../../../services/identity-stitcher/steps/drop-erased-subject.step';
import { dropSuppressedSubjectStep } from '../../../../services/identity-stitcher/steps/drop-suppressed-subject.step';

const rules = resolveIdentityRules();
const key = PrivacyKey.fromHex('55'.repeat(32));

function ready(messageId: string, receivedAt: number, ids: Record<string, string>) {
  const request: LinkRequest = {
    messageId,
    eventTime: receivedAt,
    receivedAt,
    rule: 'same-event',
    identifiers: Object.entries(ids).map(([type, value]) => ({ type, value })),
  };
  return { request, written: Buffer.alloc(0) };
}

function carryOut(
  graph: IdentityGraph,
  memory: SubjectMemory,
  type: PrivacyRequest['kind'],
  userId: string,
  at: number,
) {
  const request = requestRecord(
    { type: type as 'erase', identifier: { type: 'user_id', value: userId }, reason: null },
    { requestId: `pr_${type}_${userId}`, requestedAt: at, requestedBy: 'test' },
  );
  const result = applyPrivacyRequest(request, {
    graph,
    memory,
    rules,
    normaliser: new IdentifierNormaliser(rules),
    now: at,
  });
  if (result.kind !== 'ok') throw new Error(result.kind);
}

/** The graph's steps are synchronous. */
const kindOf = (result: unknown) => (result as { kind: string }).kind;

describe('the graph path’s privacy steps', () => {
  it('drop-suppressed-subject drops the person and grows the suppression with new identifiers, once', () => {
    const graph = new IdentityGraph(rules);
    const memory = new SubjectMemory(key);
    const step = dropSuppressedSubjectStep(
      () => graph,
      () => memory,
    );
    graph.resolve(ready('m1', 1_000, { user_id: 'u1' }).request);
    graph.resolve(ready('m2', 1_000, { user_id: 'kid', device_id: 'tablet' }).request);
    const kid = ready('m3', 3_000, { user_id: 'kid' });
    expect(step.run(kid)).toEqual({ kind: 'ok', value: kid });

    carryOut(graph, memory, 'suppress', 'u1', 2_000);
    expect(step.name).toBe('drop-suppressed-subject');
    expect(step.run(ready('m4', 3_000, { user_id: 'u1', device_id: 'phone', device_id2: 'x' }))).toEqual({
      kind: 'drop',
      reason: 'a suppressed person',
    });
    const grown = memory.takeGrown();
    expect(grown.map(([recordKey]) => recordKey)).toEqual(['suppressed:pr_suppress_u1']);
    expect(JSON.stringify(grown)).not.toContain('phone');
    expect(memory.takeGrown()).toEqual([]);
    // The phone alone is the person now; the shared tablet joins nobody's suppression.
    expect(kindOf(step.run(ready('m5', 3_100, { device_id: 'phone' })))).toBe('drop');
    expect(kindOf(step.run(ready('m6', 3_200, { user_id: 'u1', device_id: 'tablet' })))).toBe('drop');
    expect(memory.takeGrown()).toEqual([]);
    expect(kindOf(step.run(ready('m7', 3_300, { user_id: 'kid', device_id: 'tablet' })))).toBe('ok');
  });

  it('drop-erased-subject drops events received before the erasure only', () => {
    const graph = new IdentityGraph(rules);
    const memory = new SubjectMemory(key);
    const step = dropErasedSubjectStep(
      () => graph,
      () => memory,
    );
    graph.resolve(ready('m1', 1_000, { user_id: 'u1', email: 'ann@x.io' }).request);
    carryOut(graph, memory, 'erase', 'u1', 2_000);
    expect(step.name).toBe('drop-erased-subject');
    expect(step.run(ready('m1', 1_000, { email: 'ann@x.io' }))).toEqual({
      kind: 'drop',
      reason: 'an erased person, received before the erasure',
    });
    expect(kindOf(step.run(ready('m9', 2_500, { email: 'ann@x.io' })))).toBe('ok');
    expect(kindOf(step.run(ready('m8', 1_500, { user_id: 'bob' })))).toBe('ok');
  });
});
