import type { Event } from '../../../schemas';
import { dlq, ok, type StepResult } from '../../common/step-result';
import { extractIdentifiers } from '../identity/extract-identifiers';
import type { IdentityGraph, Resolution } from '../identity/identity-graph';
import { linkRules, type IdentityRules } from '../identity/identity-rules';
import type { IdentifierNormaliser } from '../identity/normalise';

export interface ResolveDeps {
  readonly graph: IdentityGraph;
  readonly rules: IdentityRules;
  readonly normaliser: IdentifierNormaliser;
}

/**
 * Finds the event's identifiers and applies the identity rules to them (this mutates the
 * graph: the caller must publish the resolution in the same transaction as the offsets).
 * An event with no usable identifier is dead-lettered.
 */
export function resolveProfile(event: Event, deps: ResolveDeps): StepResult<Resolution> {
  const context = jsonObject(event.context);
  const traits = jsonObject(event.traits);
  if (!context) return dlq('context is not a JSON object', 'KUMIKI_INVALID_EVENT', { field: 'context' });
  if (!traits) return dlq('traits is not a JSON object', 'KUMIKI_INVALID_EVENT', { field: 'traits' });
  const found = extractIdentifiers({ type: event.type, userId: event.userId, anonymousId: event.anonymousId, previousId: event.previousId, context, traits }, deps.rules, deps.normaliser);
  const resolution = deps.graph.resolve({
    messageId: event.messageId,
    eventTime: event.timestamp,
    rule: event.type === 'alias' ? linkRules.alias : linkRules.sameEvent,
    identifiers: found.identifiers,
    previousId: found.previousId,
  });
  if (!resolution) return dlq('no usable identifier (userId, anonymousId, email, phone, device or external id)', 'KUMIKI_NO_IDENTIFIER');
  return ok(resolution);
}

function jsonObject(text: string): Record<string, unknown> | undefined {
  if (text === '{}' || text === '') return {};
  try {
    const value: unknown = JSON.parse(text);
    return value !== null && typeof value === 'object' && !Array.isArray(value) ? (value as Record<string, unknown>) : undefined;
  } catch {
    return undefined;
  }
}
