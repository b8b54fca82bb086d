import { randomBytes } from 'node:crypto';
import type { PrivacyRequest, PrivacyRequestKind } from '../../../schemas';
import { identifierTypeName } from '../identifier-types';

/**
 * A privacy request has one meaning whichever door it came through (the read API, a
 * PrivacyRequest produced onto kumiki.privacy.requests, `kumiki privacy …`): these are its
 * types and the checks every door applies, so that a request refused at one door is refused at
 * the others with the same words.
 */
export const privacyRequestTypes = ['erase', 'suppress', 'suppress_and_erase', 'unsuppress', 'export'] as const;

export type PrivacyRequestType = (typeof privacyRequestTypes)[number];

/** Statuses a request goes through (`GET /v1/privacy/requests/{id}`). */
export type PrivacyRequestStatus = 'pending' | 'running' | 'completed' | 'failed';

/** GDPR Art. 12(3): one month; kumiki counts 30 days from the request. */
export const PRIVACY_DEADLINE_MS = 30 * 24 * 60 * 60 * 1000;

/** The type a PrivacyRequest record asks for (`delete` and `access` are the schema's older names). */
export function requestTypeOf(kind: PrivacyRequestKind): PrivacyRequestType {
  return kind === 'delete' ? 'erase' : kind === 'access' ? 'export' : kind;
}

export function isPrivacyRequestType(value: unknown): value is PrivacyRequestType {
  return typeof value === 'string' && (privacyRequestTypes as readonly string[]).includes(value);
}

/** Whether the request removes the person's data. */
export function erases(type: PrivacyRequestType): boolean {
  return type === 'erase' || type === 'suppress_and_erase';
}

export function newRequestId(): string {
  return `pr_${randomBytes(12).toString('hex')}`;
}

/** A request as a door took it in, checked. */
export interface PrivacyRequestInput {
  readonly type: PrivacyRequestType;
  readonly identifier: { readonly type: string; readonly value: string };
  readonly reason: string | null;
}

/** Why a request is refused, naming the field to blame (a JSON path). */
export interface PrivacyRequestProblem {
  readonly message: string;
  readonly field: string;
}

const MAX_VALUE_LENGTH = 512;
const MAX_REASON_LENGTH = 1_000;

/**
 * Checks a request body `{ type, identifier: { type, value }, reason? }`. `knownTypes` are the
 * identifier types this installation can hold; a type outside them is refused, so that a typo
 * (`emial`) is an error and not a request that finds nobody.
 */
export function checkPrivacyRequest(
  body: unknown,
  knownTypes: ReadonlySet<string>,
): { ok: true; request: PrivacyRequestInput } | { ok: false; problem: PrivacyRequestProblem } {
  const refuse = (message: string, field: string) => ({ ok: false as const, problem: { message, field } });
  if (!body || typeof body !== 'object' || Array.isArray(body))
    return refuse('the body must be a JSON object { "type", "identifier": { "type", "value" }, "reason"? }', '');
  const { type, identifier, reason } = body as Record<string, unknown>;
  if (!isPrivacyRequestType(type))
    return refuse(
      `unknown request type ${JSON.stringify(type)}; expected one of ${privacyRequestTypes.join(', ')}`,
      'type',
    );
  if (!identifier || typeof identifier !== 'object' || Array.isArray(identifier))
    return refuse(
      'identifier must be an object { "type", "value" }, e.g. { "type": "email", "value": "ann@example.com" }',
      'identifier',
    );
  const { type: idType, value } = identifier as Record<string, unknown>;
  const typeProblem = identifierTypeProblem(idType, knownTypes);
  if (typeProblem) return refuse(typeProblem, 'identifier.type');
  if (typeof value !== 'string' || value.trim() === '')
    return refuse('identifier.value must be a non-empty string', 'identifier.value');
  if (value.length > MAX_VALUE_LENGTH)
    return refuse(`identifier.value is longer than ${MAX_VALUE_LENGTH} characters`, 'identifier.value');
  if (reason !== undefined && reason !== null && typeof reason !== 'string')
    return refuse('reason must be a string', 'reason');
  if (typeof reason === 'string' && reason.length > MAX_REASON_LENGTH)
    return refuse(`reason is longer than ${MAX_REASON_LENGTH} characters`, 'reason');
  return {
    ok: true,
    request: {
      type,
      identifier: { type: idType as string, value },
      reason: typeof reason === 'string' ? reason : null,
    },
  };
}

/** Why `type` cannot be an identifier type of this installation, or undefined when it can. */
export function identifierTypeProblem(type: unknown, knownTypes: ReadonlySet<string>): string | undefined {
  if (typeof type !== 'string' || !identifierTypeName.test(type))
    return `identifier.type must be an identifier type name (lower-case letters, digits and _), e.g. email; got ${JSON.stringify(type)}`;
  if (!knownTypes.has(type))
    return `unknown identifier type ${JSON.stringify(type)}; this installation knows ${[...knownTypes].sort().join(', ')}`;
  return undefined;
}

/** The PrivacyRequest record a door produces for a checked request (phase `requested`). */
export function requestRecord(
  input: PrivacyRequestInput,
  meta: { readonly requestId: string; readonly requestedAt: number; readonly requestedBy: string },
): PrivacyRequest {
  return {
    requestId: meta.requestId,
    kind: input.type,
    identifier: { type: input.identifier.type, value: input.identifier.value },
    requestedAt: meta.requestedAt,
    requestedBy: meta.requestedBy,
    reason: input.reason,
    phase: 'requested',
    subject: null,
    outcome: null,
    completedAt: null,
  };
}

/** The record key of every phase of a request: the identifier as given. */
export function requestKey(record: Pick<PrivacyRequest, 'identifier'>): string {
  return `${record.identifier.type}:${record.identifier.value}`;
}
