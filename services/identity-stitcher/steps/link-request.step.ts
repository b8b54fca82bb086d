import type { Event } from '../../../schemas';
import { step, type Step } from '../../common/pipeline';
import { dlq, ok, type StepResult } from '../../common/step-result';
import { extractIdentifiers } from '../identity/extract-identifiers';
import type { LinkRequest } from '../identity/identity-graph';
import { linkRules, type IdentityRules } from '../identity/identity-rules';
import type { IdentifierNormaliser } from '../identity/normalise';
import type { DecodedEvent } from './decode-event.step';

/** A record ready for the graph: its link request, and its own-schema record to reuse the body of, or the event to encode whole. */
export interface ReadyRecord {
  readonly request: LinkRequest;
  readonly written: Buffer | Event;
}

/**
 * Reading the identifiers is the first half of the documented `resolve-profile` stage (its dead
 * letters say so): it needs no graph, so it runs on a link-request thread when it can
 * (link-requests/), and here otherwise.
 */
export function linkRequestStep(
  rules: IdentityRules,
  normaliser: IdentifierNormaliser,
): Step<DecodedEvent, ReadyRecord> {
  return step('resolve-profile', ({ event, ownSchemaRecord }) => {
    const request = linkRequestOf(event, rules, normaliser);
    return request.kind === 'ok' ? ok({ request: request.value, written: ownSchemaRecord ?? event }) : request;
  });
}

/**
 * What an event asks of the identity graph: its normalised identifiers, with the rule and
 * provenance of the links. Pure (the graph is not touched), so it can run on any thread.
 * An event whose context or traits is not a JSON object is dead-lettered.
 */
export function linkRequestOf(
  event: Event,
  rules: IdentityRules,
  normaliser: IdentifierNormaliser,
): StepResult<LinkRequest> {
  const context = jsonObject(event.context);
  const traits = jsonObject(event.traits);
  const { messageId } = event;
  if (!context) return dlq('context is not a JSON object', 'KUMIKI_INVALID_EVENT', { field: 'context', messageId });
  if (!traits) return dlq('traits is not a JSON object', 'KUMIKI_INVALID_EVENT', { field: 'traits', messageId });
  const found = extractIdentifiers(
    {
      type: event.type,
      userId: event.userId,
      anonymousId: event.anonymousId,
      previousId: event.previousId,
      context,
      traits,
    },
    rules,
    normaliser,
  );
  return ok({
    messageId: event.messageId,
    eventTime: event.timestamp,
    receivedAt: event.receivedAt,
    rule: event.type === 'alias' ? linkRules.alias : linkRules.sameEvent,
    identifiers: found.identifiers,
    previousId: found.previousId,
  });
}

function jsonObject(text: string): Record<string, unknown> | undefined {
  if (text === '{}' || text === '') return {};
  try {
    const value: unknown = JSON.parse(text);
    return value !== null && typeof value === 'object' && !Array.isArray(value)
      ? (value as Record<string, unknown>)
      : undefined;
  } catch {
    return undefined;
  }
}
