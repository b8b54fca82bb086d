import { step, type Step } from '../../common/pipeline';
import { drop, ok } from '../../common/step-result';
import type { IdentityGraph, LinkRequest } from '../identity/identity-graph';
import { subjectIdentifiers } from '../privacy/subject-identifiers';
import type { SubjectMemory } from '../privacy/subject-memory';
import type { ReadyRecord } from './link-request.step';

/**
 * Whether an event is an erased person's old data coming back: received at or before the
 * erasure of one of its identifiers (a replay of the raw topics, a rebuild). An event received
 * after every erasure costs one comparison; identifiers are hashed only when they might match.
 */
export function isErasedSubject(request: LinkRequest, graph: IdentityGraph, memory: SubjectMemory): boolean {
  if (memory.isEmpty || !memory.mayBeErased(request.receivedAt)) return false;
  for (const { type, value } of subjectIdentifiers(request, graph)) {
    const erasure = memory.erasureOf(memory.key.hashIdentifier(type, value));
    if (erasure && request.receivedAt <= erasure.at) return true;
  }
  return false;
}

/** Before resolve-profile: the graph never sees an erased person's replayed events. */
export function dropErasedSubjectStep(
  graph: () => IdentityGraph,
  memory: () => SubjectMemory,
): Step<ReadyRecord, ReadyRecord> {
  return step<ReadyRecord, ReadyRecord>('drop-erased-subject', (record) =>
    isErasedSubject(record.request, graph(), memory())
      ? drop('an erased person, received before the erasure')
      : ok(record),
  );
}
