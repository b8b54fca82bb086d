import { step, type Step } from '../../common/pipeline';
import { drop, ok } from '../../common/step-result';
import type { IdentityGraph, LinkRequest } from '../identity/identity-graph';
import { subjectIdentifiers } from '../privacy/subject-identifiers';
import type { SubjectMemory } from '../privacy/subject-memory';
import type { ReadyRecord } from './link-request.step';

/** The suppression an event falls under, and the hashes of its identifiers the graph does not know (they join it). */
export interface Suppressed {
  readonly suppression: string;
  readonly newHashes: readonly string[];
}

/**
 * The suppression holding one of the event's identifiers (SubjectMemory explains the rules), if
 * any. A suppressed person's known identifiers cost a profile lookup; only identifiers the graph
 * does not know are hashed, and only while some suppression exists.
 */
export function suppressionOf(
  request: LinkRequest,
  graph: IdentityGraph,
  memory: SubjectMemory,
): Suppressed | undefined {
  if (!memory.hasSuppressions) return undefined;
  let suppression: string | undefined;
  const unknown: string[] = [];
  for (const { type, value } of subjectIdentifiers(request, graph)) {
    const profileId = graph.profileIdOf(type, value);
    if (profileId !== undefined) {
      suppression ??= memory.suppressionOfProfile(profileId);
      continue;
    }
    const hash = memory.key.hashIdentifier(type, value);
    const holder = memory.suppressionOfIdentifier(hash);
    if (holder !== undefined) suppression ??= holder;
    else unknown.push(hash);
  }
  return suppression === undefined ? undefined : { suppression, newHashes: unknown };
}

/**
 * Before resolve-profile: a suppressed person's events are accepted upstream but never stitched
 * or stored. Identifiers arriving with them join the suppression ("linked later"): the memory
 * grows here, like the graph in resolve-profile, and the stitcher writes the grown record in
 * the batch's transaction (SubjectMemory.takeGrown).
 */
export function dropSuppressedSubjectStep(
  graph: () => IdentityGraph,
  memory: () => SubjectMemory,
): Step<ReadyRecord, ReadyRecord> {
  return step<ReadyRecord, ReadyRecord>('drop-suppressed-subject', (record) => {
    const remembered = memory();
    const suppressed = suppressionOf(record.request, graph(), remembered);
    if (!suppressed) return ok(record);
    remembered.grow(suppressed.suppression, suppressed.newHashes);
    return drop('a suppressed person');
  });
}
