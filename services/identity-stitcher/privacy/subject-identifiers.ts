import type { IdentityGraph, LinkRequest } from '../identity/identity-graph';

/** An event's identifiers as the privacy checks read them: an alias's previousId typed as the graph will type it. */
export function subjectIdentifiers(
  request: LinkRequest,
  graph: Pick<IdentityGraph, 'profileIdOf'>,
): readonly { type: string; value: string }[] {
  if (request.previousId === undefined) return request.identifiers;
  const type = graph.profileIdOf('user_id', request.previousId) !== undefined ? 'user_id' : 'anonymous_id';
  return [...request.identifiers, { type, value: request.previousId }];
}
