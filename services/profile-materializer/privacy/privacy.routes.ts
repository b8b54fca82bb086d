import type { FastifyInstance } from 'fastify';
import type { PrivacyRequest } from '../../../schemas';
import { auditDetails, mayReadPii, principalOf, requireScope } from '../../common/access';
import { forbidden } from '../../common/access/authenticate';
import type { ClickHouse } from '../../common/clickhouse/client-factory';
import { ApiError } from '../../common/error-codes';
import { errorMessage } from '../../common/errors';
import { builtInIdentifierTypes } from '../../common/identifier-types';
import type { Logger } from '../../common/logger';
import {
  checkPrivacyRequest,
  isPrivacyRequestType,
  newRequestId,
  PRIVACY_DEADLINE_MS,
  requestRecord,
} from '../../common/privacy/privacy-request';
import type { DestinationReceived } from './destination-recipients';
import { exportDocument } from './export-subject';
import { stepsOf } from './privacy-steps';
import type { PrivacyRequestRepository, RequestState, SubjectView } from './privacy-request.repository';

/**
 * The privacy request API (DESIGN.md, "Privacy requests"), a plugin of the read API's `/v1` scope:
 * `POST /v1/privacy/requests`, `GET /v1/privacy/requests[?status=&type=&limit=]`,
 * `GET /v1/privacy/requests/{id}`, `GET /v1/privacy/requests/{id}/export`.
 *
 * A request is accepted (202) once Kafka acknowledged its record on kumiki.privacy.requests: from
 * then on it cannot be lost, whatever stops on the way (docs/privacy.md). The pending row written
 * next only lets GET answer at once; the privacy consumer writes it too.
 */
export interface PrivacyRoutesDeps {
  readonly clickhouse: () => ClickHouse;
  readonly repository: () => PrivacyRequestRepository;
  /** Produces the request onto kumiki.privacy.requests; resolves once Kafka acknowledged it (acks=all). */
  readonly produce: (record: PrivacyRequest) => Promise<void>;
  readonly recordPending: (record: PrivacyRequest) => Promise<void>;
  readonly logger: Logger;
  readonly now?: () => number;
  /** The audit trail's keyed hash of a profile id or identifier (the export's `accessedBy`). */
  readonly auditHash: (type: string, value: string) => string;
  /** The destinations that received these profiles (destination-recipients.ts); none when unset. */
  readonly recipients?: (profileIds: readonly string[]) => Promise<DestinationReceived[]>;
}

/**
 * The scope each route needs (docs/access.md). An export lets personal data out, so its key
 * needs `pii:read` besides `privacy:read`; a status answer shows the subject's raw identifiers
 * only to keys with `pii:read` (keyed hashes otherwise).
 */
export const privacyRouteScopes = {
  create: 'privacy:write',
  list: 'privacy:read',
  read: 'privacy:read',
  export: 'privacy:read',
} as const;

/** Identifier types seen in ClickHouse are re-read at most this often (a request for a new type waits this long). */
const TYPES_TTL_MS = 60_000;

export function privacyRoutes(deps: PrivacyRoutesDeps): (v1: FastifyInstance) => Promise<void> {
  const now = deps.now ?? Date.now;
  const logger = deps.logger.child({ component: 'privacy-api' });
  let knownTypes: { at: number; types: Set<string> } | undefined;
  const identifierTypes = async (): Promise<Set<string>> => {
    if (!knownTypes || now() - knownTypes.at > TYPES_TTL_MS) {
      const seen = await deps.repository().identifierTypesSeen();
      knownTypes = { at: now(), types: new Set([...builtInIdentifierTypes, ...seen]) };
    }
    return knownTypes.types;
  };
  const find = async (id: string): Promise<RequestState> => {
    const state = await deps.repository().get(id);
    if (!state)
      throw new ApiError('KUMIKI_PRIVACY_REQUEST_NOT_FOUND', `no privacy request has id ${JSON.stringify(id)}`);
    return state;
  };

  return async (v1) => {
    v1.post('/privacy/requests', requireScope(privacyRouteScopes.create), async (request, reply) => {
      const audit = auditDetails(request);
      audit.resource = 'privacy-request';
      const body = request.body as { identifier?: { type?: unknown; value?: unknown } } | undefined;
      if (typeof body?.identifier?.type === 'string' && typeof body.identifier.value === 'string')
        audit.identifiers.push({ type: body.identifier.type, value: body.identifier.value });
      const checked = checkPrivacyRequest(request.body, await identifierTypes());
      if (!checked.ok)
        throw new ApiError(
          'KUMIKI_INVALID_PRIVACY_REQUEST',
          checked.problem.message,
          checked.problem.field || undefined,
        );
      const requestedAt = now();
      const principal = principalOf(request);
      const record = requestRecord(checked.request, {
        requestId: newRequestId(),
        requestedAt,
        requestedBy: `key ${principal.keyId} (${principal.keyName}, ${principal.role})`,
      });
      audit.resource = `privacy-request:${record.requestId}`;
      await deps.produce(record);
      await deps
        .recordPending(record)
        .catch((error: unknown) =>
          logger.warn(
            { requestId: record.requestId, error: errorMessage(error) },
            'pending row not written; the privacy consumer writes it',
          ),
        );
      return reply.code(202).send({
        requestId: record.requestId,
        status: 'pending',
        deadlineAt: new Date(requestedAt + PRIVACY_DEADLINE_MS).toISOString(),
      });
    });

    v1.get('/privacy/requests', requireScope(privacyRouteScopes.list), async (request) => {
      auditDetails(request).resource = 'privacy-requests';
      const query = request.query as { status?: string; type?: string; limit?: string };
      if (query.type !== undefined && !isPrivacyRequestType(query.type))
        throw new ApiError(
          'KUMIKI_INVALID_PRIVACY_REQUEST',
          `unknown request type ${JSON.stringify(query.type)}`,
          'type',
        );
      const limit = Math.min(Math.max(Math.floor(Number(query.limit ?? 100)) || 100, 1), 1_000);
      const states = await deps.repository().list({
        ...(query.status ? { status: query.status } : {}),
        ...(query.type ? { type: query.type } : {}),
        limit,
      });
      return { requests: states.map(summary) };
    });

    v1.get('/privacy/requests/:id', requireScope(privacyRouteScopes.read), async (request) => {
      const { id } = request.params as { id: string };
      const audit = auditDetails(request);
      audit.resource = `privacy-request:${id}`;
      const state = await find(id);
      const subject = await deps.repository().subjectOf(id);
      const raw = subject !== undefined && mayReadPii(request);
      if (subject) {
        audit.profileIds.push(...subject.profileIds, ...subject.mergedProfileIds);
        audit.piiReturned = raw;
      }
      return {
        ...summary(state),
        reason: state.reason,
        subject: subjectAnswer(state, raw ? subject : undefined),
        report: state.report,
      };
    });

    v1.get('/privacy/requests/:id/export', requireScope(privacyRouteScopes.export), async (request) => {
      const { id } = request.params as { id: string };
      const audit = auditDetails(request);
      audit.resource = `privacy-export:${id}`;
      if (!mayReadPii(request)) throw forbidden(principalOf(request), 'pii:read');
      const state = await find(id);
      const subject = await deps.repository().subjectOf(id);
      if (state.type !== 'export' || state.status !== 'completed' || !subject)
        throw new ApiError(
          'KUMIKI_PRIVACY_EXPORT_NOT_READY',
          state.type !== 'export'
            ? `request ${id} is an ${state.type}, not an export`
            : `export ${id} is ${state.status}; ask again once it is completed`,
        );
      audit.profileIds.push(...subject.profileIds, ...subject.mergedProfileIds);
      audit.identifiers.push(...subject.identifiers.map(({ type, value }) => ({ type, value })));
      audit.piiReturned = true;
      const destinations = (await deps.recipients?.([...subject.profileIds, ...subject.mergedProfileIds])) ?? [];
      const document = await exportDocument(deps.clickhouse(), id, subject, now(), deps.auditHash, destinations);
      audit.rows = Object.values(document.tables).reduce((sum, rows) => sum + rows.length, 0);
      return document;
    });
  };
}

function summary(state: RequestState) {
  const iso = (ms: number | null) => (ms === null ? null : new Date(ms).toISOString());
  return {
    requestId: state.requestId,
    type: state.type,
    status: state.status,
    identifier: { type: state.identifierType, hash: state.identifierHash },
    requestedAt: iso(state.requestedAt),
    requestedBy: state.requestedBy,
    deadlineAt: iso(state.deadlineAt),
    resolvedAt: iso(state.resolvedAt),
    completedAt: iso(state.completedAt),
    outcome: state.outcome,
    step: stepOf(state),
  };
}

/** Where a request stands among the steps of its type (the CLI's progress bar). */
function stepOf(state: RequestState): { name: string; done: number; of: number } {
  const steps = stepsOf(state.type);
  const done = state.status === 'completed' ? steps.length : steps.indexOf(state.step) + 1;
  return { name: state.step, done, of: steps.length };
}

/**
 * The person as the answer shows them: raw while kumiki holds them (a running request; an
 * export or suppression) and the key has `pii:read`; as keyed hashes once erased or to keys
 * without `pii:read` (null until the request's outcome is recorded); null before the stitcher
 * resolved them.
 */
function subjectAnswer(state: RequestState, subject: SubjectView | undefined) {
  if (subject && (subject.profileIds.length > 0 || subject.identifiers.length > 0 || state.subject))
    return {
      hashed: false,
      outcome: state.subject?.outcome ?? null,
      profileIds: subject.profileIds,
      mergedProfileIds: subject.mergedProfileIds,
      identifiers: subject.identifiers.map(({ profileId: _owner, linkedAt, ...rest }) => ({
        ...rest,
        linkedAt: new Date(linkedAt).toISOString(),
      })),
    };
  if (!state.subject) return null;
  return {
    hashed: true,
    outcome: state.subject.outcome,
    erasedBy: state.subject.erasedBy,
    profileIds: state.subject.profileIdHashes,
    mergedProfileIds: state.subject.mergedProfileIdHashes,
    identifiers: state.subject.identifiers,
  };
}
