import { randomBytes } from 'node:crypto';
import type { FastifyInstance, FastifyRequest, HTTPMethods, RouteHandlerMethod } from 'fastify';
import type { Destination, DestinationGrant } from '../../../schemas';
import {
  type AccessControlOptions,
  auditDetails,
  installAccessControl,
  mayReadPii,
  principalOf,
  requireScope,
  sendApiError,
} from '../../common/access';
import { withoutPersonalText } from '../../common/access/personal-text';
import { ApiError } from '../../common/error-codes';
import { logInternalError, toApiError } from '../../common/http-errors';
import type { Logger } from '../../common/logger';
import type { DeliveryLog } from '../delivery/delivery-log';
import type { DeadLetterReplay, ReplayReport } from '../delivery/dead-letter-replay';
import { carriesPersonalData, createDestinationBody, parseBody, patchDestinationBody, toView } from './destination';
import type { DestinationStore } from './destination-store';
import { destinationRouteScopes, type DestinationRoute } from './route-scopes';

export interface TestResult {
  readonly delivered: boolean;
  readonly status: number | null;
  readonly latencyMs: number;
  readonly error: string | null;
  readonly webhookId: string;
}

export interface DestinationRoutesDeps {
  readonly store: DestinationStore;
  readonly log: Pick<DeliveryLog, 'latest'>;
  readonly deadLetters: Pick<DeadLetterReplay, 'list'>;
  /** Keys, the admin token, throttling and the audit of every call (common/access). */
  readonly access: AccessControlOptions;
  readonly sendTest: (destination: Destination, webhookId: string) => Promise<TestResult>;
  readonly replayDeadLetters: (destination: Destination, limit: number) => Promise<ReplayReport>;
  readonly runExport: (destination: Destination) => Promise<object>;
  readonly logger: Logger;
}

/**
 * Who may let personal data flow to a destination: creating one that carries identifiers or
 * personal traits (or an export, whose files hold hashed identifiers), or changing one that
 * does, needs `pii:read` besides `destination:write`. The call's audit record names the
 * destination and the fields; the key becomes the destination's `grantedBy`, to which its
 * deliveries of personal data are attributed.
 */
function grantPersonalData(request: FastifyRequest, destination: Destination): DestinationGrant | null {
  const fields = [
    ...destination.identifiers.map((type) => `identifier:${type}`),
    ...destination.traits.map((key) => `trait:${key}`),
  ];
  const audit = auditDetails(request);
  audit.resource = `destination:${destination.id}${fields.length > 0 ? ` ${fields.join(',')}` : ''}`;
  if (!carriesPersonalData(destination)) return null;
  const principal = principalOf(request);
  if (!principal.scopes.has('pii:read'))
    throw new ApiError(
      'KUMIKI_FORBIDDEN',
      `API key ${principal.keyId} (role ${principal.role}) lacks scope pii:read, which a destination carrying personal data needs (${
        destination.type === 'export' ? 'an export of hashed identifiers' : fields.join(', ')
      })`,
    );
  return { keyId: principal.keyId, keyName: principal.keyName, role: principal.role, at: Date.now() };
}

/**
 * The destinations API (DESIGN.md, "Destinations"): `/v1/destinations` and the actions on one.
 * Errors are `{ code, message, field? }`. Secrets are shown once, when made (creation, rotation).
 * Every route needs its scope (route-scopes.ts) and every call is audited.
 */
export function destinationRoutes(deps: DestinationRoutesDeps): (app: FastifyInstance) => Promise<void> {
  const logger = deps.logger.child({ component: 'destinations-api' });
  return async (app) => {
    await app.register(async (v1) => routesIn(v1));
  };

  async function routesIn(app: FastifyInstance): Promise<void> {
    installAccessControl(app, deps.access);
    app.setErrorHandler(async (error, request, reply) => {
      const apiError = toApiError(error);
      logInternalError(logger, request, error, apiError);
      return sendApiError(request, reply, apiError);
    });

    const route = (name: DestinationRoute, handler: RouteHandlerMethod): void => {
      const [method, url] = name.split(' ') as [HTTPMethods, string];
      app.route({
        method,
        url,
        ...requireScope(destinationRouteScopes[name]),
        preHandler: async (request) => {
          const { id } = (request.params ?? {}) as { id?: string };
          auditDetails(request).resource = id === undefined ? 'destinations' : `destination:${id}`;
        },
        handler,
      });
    };
    const idOf = (request: FastifyRequest): string => (request.params as { id: string }).id;
    const limitOf = (request: FastifyRequest, fallback: number, max: number): number => {
      const raw = (request.query as { limit?: string }).limit;
      if (raw === undefined) return fallback;
      const limit = Number(raw);
      if (!Number.isInteger(limit) || limit < 1 || limit > max)
        throw new ApiError('KUMIKI_INVALID_DESTINATION', `limit must be a whole number from 1 to ${max}`, 'limit');
      return limit;
    };

    route('POST /v1/destinations', async (request, reply) => {
      const body = parseBody(createDestinationBody, request.body);
      const { destination, secret } = await deps.store.create(body, async (made) => grantPersonalData(request, made));
      logger.info({ destination: destination.id, type: destination.type }, 'destination created');
      return reply.code(201).send({ ...toView(destination), secret });
    });

    route('GET /v1/destinations', async () => ({ destinations: deps.store.list().map(toView) }));

    route('GET /v1/destinations/:id', async (request) => toView(deps.store.get(idOf(request))));

    route('PATCH /v1/destinations/:id', async (request) => {
      const body = parseBody(patchDestinationBody, request.body);
      return toView(await deps.store.patch(idOf(request), body, async (made) => grantPersonalData(request, made)));
    });

    route('DELETE /v1/destinations/:id', async (request, reply) => {
      await deps.store.remove(idOf(request));
      return reply.code(204).send();
    });

    route('POST /v1/destinations/:id/pause', async (request) =>
      toView(await deps.store.pause(idOf(request), 'paused through the API')),
    );

    route('POST /v1/destinations/:id/resume', async (request) => toView(await deps.store.resume(idOf(request))));

    route('POST /v1/destinations/:id/test', async (request) => {
      const destination = deps.store.get(idOf(request));
      if (destination.url === null)
        throw new ApiError(
          'KUMIKI_DESTINATION_CONFLICT',
          'this destination writes to a directory; it has no URL to test',
        );
      return deps.sendTest(destination, `msg_test_${randomBytes(12).toString('base64url')}`);
    });

    route('POST /v1/destinations/:id/replay', async (request, reply) => {
      const body = (request.body ?? {}) as { from?: unknown };
      const from = typeof body.from === 'string' ? Date.parse(body.from) : Number.NaN;
      if (Number.isNaN(from))
        throw new ApiError(
          'KUMIKI_INVALID_DESTINATION',
          'from must be an ISO-8601 time (e.g. 2024-05-01T00:00:00Z)',
          'from',
        );
      // Kafka reads negative times as "latest" (-1) and "earliest" (-2): a time before 1970 is the beginning.
      const { destination, positions } = await deps.store.replay(idOf(request), Math.max(from, 0));
      return reply
        .code(202)
        .send({ ...toView(destination), replayFrom: new Date(Math.max(from, 0)).toISOString(), positions });
    });

    route('POST /v1/destinations/:id/rotate-secret', async (request) => {
      const { destination, secret } = await deps.store.rotateSecret(idOf(request));
      return { ...toView(destination), secret };
    });

    route('GET /v1/destinations/:id/deliveries', async (request) => {
      const destination = deps.store.get(idOf(request));
      const limit = limitOf(request, 100, 1_000);
      return {
        destinationId: destination.id,
        deliveries: (await deps.log.latest(destination.id, limit)).map((a) => ({
          at: new Date(a.at).toISOString(),
          webhookId: a.webhookId,
          eventType: a.eventType,
          profileId: a.profileId,
          attempt: a.attempt,
          status: a.status,
          outcome: a.outcome,
          latencyMs: a.latencyMs,
          error: a.error,
        })),
      };
    });

    route('GET /v1/destinations/:id/dead-letters', async (request) => {
      const destination = deps.store.get(idOf(request));
      const from = (request.query as { from?: string }).from;
      if (from !== undefined && !/^\d+$/.test(from))
        throw new ApiError('KUMIKI_INVALID_DESTINATION', 'from must be an offset (a whole number)', 'from');
      const page = await deps.deadLetters.list(destination, from, limitOf(request, 100, 1_000));
      // A receiver's answer may echo the payload it refused: kept from keys without pii:read.
      const raw = mayReadPii(request);
      return {
        destinationId: destination.id,
        cursor: String(destination.deadLetterCursor),
        deadLetters: page.deadLetters.map((d) => ({
          offset: d.offset,
          failedAt: new Date(d.failedAt).toISOString(),
          webhookId: d.webhookId,
          eventType: d.eventType,
          profileId: d.profileId,
          code: d.code,
          reason: raw ? d.reason : withoutPersonalText(d.reason),
          attempts: d.attempts,
          responseStatus: d.responseStatus,
          responseBody: raw ? d.responseBody : null,
        })),
        next: page.next,
      };
    });

    route('POST /v1/destinations/:id/dead-letters/replay', async (request) => {
      const destination = deps.store.get(idOf(request));
      if (destination.type !== 'webhook')
        throw new ApiError('KUMIKI_DESTINATION_CONFLICT', 'only webhook destinations have dead letters');
      return deps.replayDeadLetters(destination, limitOf(request, 1_000, 10_000));
    });

    route('POST /v1/destinations/:id/export', async (request) => {
      const destination = deps.store.get(idOf(request));
      if (destination.type !== 'export')
        throw new ApiError('KUMIKI_DESTINATION_CONFLICT', 'only export destinations export; webhooks deliver changes');
      return deps.runExport(destination);
    });
  }
}
