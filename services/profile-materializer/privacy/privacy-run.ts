import type { PrivacyRequest } from '../../../schemas';
import type { PrivacyKey } from '../../common/privacy/privacy-key';
import { PRIVACY_DEADLINE_MS, requestTypeOf, type PrivacyRequestType } from '../../common/privacy/privacy-request';
import { isoTime } from '../../common/privacy/privacy-report';
import type { RequestState, SubjectRow, SubjectView } from './privacy-request.repository';

/** What one execution may do between steps: keep the consumer's session, and stop. */
export interface ExecutionContext {
  readonly heartbeat: () => Promise<void>;
  readonly signal: AbortSignal;
}

/** One request being carried out: its record, state and the progress its steps checkpoint. */
export interface Run {
  readonly record: PrivacyRequest;
  readonly type: PrivacyRequestType;
  readonly context: ExecutionContext;
  state: RequestState;
  subject: SubjectView | undefined;
  progress: Record<string, unknown>;
}

/** A request's state before any step: pending, with the identifier as a keyed hash. */
export function initialState(record: PrivacyRequest, key: PrivacyKey): RequestState {
  return {
    requestId: record.requestId,
    type: requestTypeOf(record.kind),
    status: 'pending',
    step: '',
    identifierType: record.identifier.type,
    identifierHash: key.hashIdentifier(record.identifier.type, record.identifier.value),
    requestedAt: record.requestedAt,
    requestedBy: record.requestedBy,
    reason: record.reason ?? '',
    deadlineAt: record.requestedAt + PRIVACY_DEADLINE_MS,
    resolvedAt: null,
    completedAt: null,
    outcome: '',
    subject: null,
    progress: {},
    report: null,
  };
}

export function allProfileIds(subject: Pick<SubjectView, 'profileIds' | 'mergedProfileIds'>): string[] {
  return [...subject.profileIds, ...subject.mergedProfileIds];
}

export function requestedRow(record: PrivacyRequest): SubjectRow {
  return {
    request_id: record.requestId,
    role: 'requested',
    profile_id: '',
    identifier_type: record.identifier.type,
    identifier_value: record.identifier.value,
    linked_by: '',
    linked_at: null,
    rule: '',
  };
}

export function profileRow(requestId: string, role: 'profile' | 'merged', profileId: string): SubjectRow {
  return {
    request_id: requestId,
    role,
    profile_id: profileId,
    identifier_type: '',
    identifier_value: '',
    linked_by: '',
    linked_at: null,
    rule: '',
  };
}

export function identifierRow(
  requestId: string,
  profileId: string,
  identifier: { type: string; value: string; linkedBy: string; linkedAt: number; rule?: string },
): SubjectRow {
  return {
    request_id: requestId,
    role: 'identifier',
    profile_id: profileId,
    identifier_type: identifier.type,
    identifier_value: identifier.value,
    linked_by: identifier.linkedBy,
    linked_at: isoTime(identifier.linkedAt),
    rule: identifier.rule ?? '',
  };
}
