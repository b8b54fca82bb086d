import { step, type Step } from '../../common/pipeline';
import { dlq, ok, type StepResult } from '../../common/step-result';
import type { IdentityGraph, LinkRequest, Resolution } from '../identity/identity-graph';
import type { ReadyRecord } from './link-request.step';

/**
 * Applies the identity rules to an event's link request (this mutates the graph: the caller
 * must publish the resolution in the same transaction as the offsets). An event with no
 * identifier the graph can use is dead-lettered.
 */
export function resolveProfile(request: LinkRequest, graph: IdentityGraph): StepResult<Resolution> {
  const resolution = graph.resolve(request);
  if (!resolution)
    return dlq(
      'no usable identifier (userId, anonymousId, email, phone, device or external id)',
      'KUMIKI_NO_IDENTIFIER',
      { messageId: request.messageId },
    );
  return ok(resolution);
}

/** The step, on the graph `graph()` returns (the one rebuilt after a recovery). */
export function resolveProfileStep(graph: () => IdentityGraph): Step<ReadyRecord, Resolution> {
  return step('resolve-profile', (record) => resolveProfile(record.request, graph()));
}
