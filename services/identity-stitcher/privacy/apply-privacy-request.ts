import type { PrivacyRequest, PrivacySubject, SubjectMemory as SubjectMemoryRecord } from '../../../schemas';
import { identifierTypeName } from '../../common/identifier-types';
import { erases, requestTypeOf } from '../../common/privacy/privacy-request';
import type { IdentityGraph, ProfileView } from '../identity/identity-graph';
import type { IdentityRules } from '../identity/identity-rules';
import type { IdentifierNormaliser } from '../identity/normalise';
import { erasedKey, executedKey, suppressedKey, type SubjectMemory } from './subject-memory';

/** What carrying out a request changes, to be written in the transaction that consumes it. */
export interface PrivacyOutputs {
  /** The answer on kumiki.privacy.requests: phase `resolved`, with the subject. */
  readonly answer: PrivacyRequest;
  /** `type:value` of every identifier the graph forgot: a tombstone each on kumiki.identity.graph. */
  readonly tombstones: readonly string[];
  /** Records of kumiki.privacy.subjects; null lifts a suppression. */
  readonly memory: readonly { readonly key: string; readonly value: SubjectMemoryRecord | null }[];
}

export type PrivacyStep =
  | { readonly kind: 'ok'; readonly outputs: PrivacyOutputs }
  /** Carried out before (a replay of the requests topic): nothing changes, its answer is on the topic already. */
  | { readonly kind: 'replayed' }
  /** The request cannot be carried out: dead-lettered with the reason, and answered `failed`. */
  | { readonly kind: 'invalid'; readonly reason: string; readonly answer: PrivacyRequest };

export interface PrivacyStepDeps {
  readonly graph: IdentityGraph;
  readonly memory: SubjectMemory;
  readonly rules: Pick<IdentityRules, 'unknownType'>;
  readonly normaliser: IdentifierNormaliser;
  readonly now: number;
}

/**
 * Carries out a privacy request's part in the identity graph, in the stitcher's one thread, so
 * that it is atomic with respect to every event: events stitched before it belong to the person
 * it resolves, events after it find the graph as it leaves it.
 *
 * - The subject is the person as the graph knows them now: the profile holding the identifier
 *   and every identifier in it, with provenance. (Profiles merged into it are not in the graph;
 *   the profile-materializer adds them from ClickHouse.)
 * - erase / suppress_and_erase: the graph forgets the profile and its identifiers (a tombstone
 *   each) and SubjectMemory remembers their keyed hashes, so that events received before now
 *   carrying them — still queued, or replayed later — are dropped. An identifier no profile
 *   holds is remembered too: the person's first events may still be queued behind the request.
 * - suppress / suppress_and_erase: a suppression of those hashes (and the profile, if it lives on).
 * - unsuppress: lifts the suppressions holding the identifier or its profile.
 * - export: resolves only.
 * Each request is remembered as carried out (SubjectMemory `executed:`): a replay of the requests
 * topic (a new consumer group, a rebuild) never carries one out again, against a graph that has
 * moved on since (the erased email may belong to a new person by then).
 */
export function applyPrivacyRequest(request: PrivacyRequest, deps: PrivacyStepDeps): PrivacyStep {
  const type = requestTypeOf(request.kind);
  if (deps.memory.wasExecuted(request.requestId)) return { kind: 'replayed' };
  const problem = check(request, deps);
  if (problem) return { kind: 'invalid', reason: problem, answer: failed(request, problem, deps.now) };
  const idType = request.identifier.type;
  const value = deps.normaliser.spell(idType, request.identifier.value)!;
  const { graph, memory, now } = deps;
  const requestedHash = memory.key.hashIdentifier(idType, value);
  const view = graph.profileOf(idType, value);
  const earlier = view ? undefined : memory.erasureOf(requestedHash);
  const subject: PrivacySubject = {
    outcome: view ? 'found' : earlier ? 'already_erased' : 'not_found',
    profileIds: view ? [view.profileId] : [],
    mergedProfileIds: [],
    identifiers: view
      ? view.identifiers.map((i) => ({
          type: i.type,
          value: i.value,
          linkedBy: i.linkedBy,
          linkedAt: i.linkedAt,
          rule: i.rule,
        }))
      : [],
    erasedBy: earlier?.requestId ?? null,
    resolvedAt: now,
  };
  const hashes = view ? identifierHashes(view, memory) : [requestedHash];
  const profileIdHashes = view ? [memory.key.hashProfileId(view.profileId)] : [];
  const tombstones: string[] = [];
  const writes: { key: string; value: SubjectMemoryRecord | null }[] = [];
  const remember = (key: string, value: SubjectMemoryRecord | null): void => {
    memory.apply(key, value);
    writes.push({ key, value });
  };

  if (erases(type)) {
    if (view) {
      graph.forgetProfileOf(idType, value);
      for (const identifier of view.identifiers) tombstones.push(`${identifier.type}:${identifier.value}`);
    }
    remember(erasedKey(request.requestId), {
      kind: 'erased',
      requestId: request.requestId,
      identifierHashes: hashes,
      profileIdHashes,
      at: now,
    });
  }
  let note: string | null = null;
  if (type === 'suppress' || type === 'suppress_and_erase') {
    // One suppression per person: a second one would outlive an unsuppress of the first.
    const existing =
      memory.suppressionOfIdentifier(requestedHash) ?? (view ? memory.suppressionOfProfile(view.profileId) : undefined);
    if (existing !== undefined) note = `already suppressed by ${memory.record(existing)?.requestId ?? existing}`;
    else {
      const key = suppressedKey(request.requestId);
      remember(key, {
        kind: 'suppressed',
        requestId: request.requestId,
        identifierHashes: hashes,
        profileIdHashes,
        at: now,
      });
      if (view && type === 'suppress') memory.flagProfile(view.profileId, key);
    }
  }
  if (type === 'unsuppress') {
    const keys = new Set<string>();
    const byIdentifier = memory.suppressionOfIdentifier(requestedHash);
    if (byIdentifier) keys.add(byIdentifier);
    if (view) {
      const byProfile = memory.suppressionOfProfile(view.profileId);
      if (byProfile) keys.add(byProfile);
    }
    for (const key of keys) remember(key, null);
    if (keys.size === 0) note = 'not suppressed';
  }
  remember(executedKey(request.requestId), {
    kind: 'executed',
    requestId: request.requestId,
    identifierHashes: [],
    profileIdHashes: [],
    at: now,
  });
  return {
    kind: 'ok',
    outputs: { answer: { ...request, phase: 'resolved', subject, outcome: note }, tombstones, memory: writes },
  };
}

/** Why the request cannot be carried out, or undefined. */
function check(request: PrivacyRequest, deps: PrivacyStepDeps): string | undefined {
  if (request.requestId.trim() === '' || request.requestId.length > 128)
    return 'requestId must be a non-empty string of at most 128 characters';
  const { type, value } = request.identifier;
  if (!identifierTypeName.test(type))
    return `identifier.type ${JSON.stringify(type)} is not an identifier type name (lower-case letters, digits and _)`;
  if (!deps.graph.types.isKnown(type) && !deps.rules.unknownType.accept)
    return `unknown identifier type ${JSON.stringify(type)}; the identity rules know ${deps.graph.types.names.join(', ')}`;
  if (deps.normaliser.spell(type, value) === undefined)
    return `identifier.value is not a usable ${type} (empty, blocked, or not in the ${type} format)`;
  return undefined;
}

function failed(request: PrivacyRequest, outcome: string, now: number): PrivacyRequest {
  return { ...request, phase: 'failed', subject: null, outcome, completedAt: now };
}

function identifierHashes(view: ProfileView, memory: SubjectMemory): string[] {
  return view.identifiers.map((i) => memory.key.hashIdentifier(i.type, i.value));
}
