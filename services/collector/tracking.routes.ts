import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import type { Event, EventType } from '../../schemas';
import { ApiError, errorBody } from '../common/error-codes';
import { errorMessage } from '../common/errors';
import { logInternalError } from '../common/http-errors';
import type { SourceMap } from '../common/events/sources';
import type { OutgoingMessage } from '../common/kafka/client';
import { eventKey } from '../common/kafka/topics';
import type { Logger } from '../common/logger';
import { pipeline } from '../common/pipeline';
import { fieldOf, rejection, type Rejection, type ResultHandler } from '../common/result-handler';
import type { BatchingProducer } from './batching-producer';
import type { CollectorMetrics } from './collector.metrics';
import { limits, prepareEvents } from './prepare-events';
import { decodeBody, tooLarge, writeKeyFromAuthorization } from './request-body';
import { encodeEventStep } from './steps/encode-event.step';

/**
 * The Segment tracking API: `POST /v1/{track,identify,page,screen,group,alias,batch}`, the
 * short paths browser and mobile SDKs use (`/v1/t`, `/v1/i`, `/v1/p`, `/v1/s`, `/v1/g`,
 * `/v1/a`, `/v1/b`), and `/v1/import` (Segment's historical-import alias of batch).
 *
 * Durability: a request is answered 200 only after Kafka acknowledged every accepted event
 * and every dead letter of its rejected ones. Before reading a body the collector refuses
 * what it cannot take — unknown write key (401), too many requests in flight (429), Kafka
 * unreachable (503) — so refused requests cost almost nothing and nothing refused was kept.
 */
export interface TrackingDeps {
  readonly sources: SourceMap;
  readonly batcher: BatchingProducer;
  /** The one result handler: rejected events become dead letters (produced through the batcher). */
  readonly results: Pick<ResultHandler, 'rejected'>;
  /** Writes an Event in the wire format for the events topic (throws InvalidInputError for a value the schema refuses). */
  readonly encodeEvent: (event: Event) => Buffer;
  readonly eventsTopic: string;
  /** Kafka reachable and the producer connected. */
  readonly isAvailable: () => boolean;
  readonly metrics: CollectorMetrics;
  readonly logger: Logger;
  readonly maxInFlightRequests: number;
  readonly retryAfterSeconds: number;
  readonly now?: () => number;
}

const singleCalls: Readonly<Record<string, EventType>> = {
  track: 'track',
  t: 'track',
  identify: 'identify',
  i: 'identify',
  page: 'page',
  p: 'page',
  screen: 'screen',
  s: 'screen',
  group: 'group',
  g: 'group',
  alias: 'alias',
  a: 'alias',
};
const batchCalls = ['batch', 'b', 'import'];

declare module 'fastify' {
  interface FastifyRequest {
    kumikiWriteKey?: string;
  }
}

export function trackingRoutes(deps: TrackingDeps) {
  const now = deps.now ?? Date.now;
  const logger = deps.logger.child({ component: 'tracking-api' });
  // After prepareEvents: an accepted event's path to the record produced.
  const toRecord = pipeline<Event>().pipe(encodeEventStep(deps.encodeEvent));
  let inFlight = 0;

  return async (app: FastifyInstance): Promise<void> => {
    await app.register(
      async (v1) => {
        // Bodies are read raw: gzip, UTF-8 and JSON are checked by decodeBody with our own codes,
        // and analytics.js sends JSON as text/plain to avoid CORS preflights.
        v1.removeAllContentTypeParsers();
        v1.addContentTypeParser('*', { parseAs: 'buffer' }, (_request, body, done) => done(null, body));

        // On shutdown, answers close their connection: fastify's close waits for every open
        // connection, and keep-alive clients would otherwise hold it open past the grace period.
        let closing = false;
        v1.addHook('preClose', async () => {
          closing = true;
        });
        v1.addHook('onSend', async (_request, reply) => {
          if (closing) reply.header('connection', 'close');
        });

        v1.addHook('onRequest', async (request, reply) => {
          setCors(request, reply);
          if (request.method === 'OPTIONS') return;
          inFlight += 1;
          deps.metrics.inFlightRequests.set(inFlight);
          reply.raw.once('close', () => {
            inFlight -= 1;
            deps.metrics.inFlightRequests.set(inFlight);
          });
          const header = request.headers.authorization;
          if (header) {
            const key = writeKeyFromAuthorization(header);
            if (key === undefined || !deps.sources.has(key))
              throw new ApiError('KUMIKI_UNAUTHORIZED', 'unknown write key (Basic-auth user)');
            request.kumikiWriteKey = key;
          }
          if (inFlight > deps.maxInFlightRequests) {
            throw new ApiError('KUMIKI_OVERLOADED', 'too many requests in flight', undefined, { retryAfterSeconds: 1 });
          }
          if (!deps.isAvailable()) {
            throw new ApiError('KUMIKI_UNAVAILABLE', 'Kafka is unavailable; nothing was accepted', undefined, {
              retryAfterSeconds: deps.retryAfterSeconds,
            });
          }
        });

        v1.setErrorHandler(async (error, request, reply) => {
          const apiError = toApiError(error);
          logInternalError(logger, request, error, apiError);
          deps.metrics.rejects.inc({ code: apiError.code, level: 'request' });
          return sendError(reply, apiError);
        });
        v1.setNotFoundHandler(async (request, reply) =>
          sendError(reply, new ApiError('KUMIKI_NOT_FOUND', `no endpoint ${request.method} ${request.url}`)),
        );

        v1.options('/*', async (_request, reply) => reply.code(204).send());

        for (const [path, type] of Object.entries(singleCalls)) {
          v1.post(`/${path}`, { bodyLimit: limits.eventBytes + 1024 }, (request, reply) =>
            handle(request, reply, type),
          );
        }
        for (const path of batchCalls) {
          v1.post(`/${path}`, { bodyLimit: limits.batchBytes + 16 * 1024 }, (request, reply) =>
            handle(request, reply, 'batch'),
          );
        }
        v1.addHook('onResponse', async (request, reply) => {
          const route = request.routeOptions.url ?? 'unknown';
          deps.metrics.requests.inc({ route, status: String(reply.statusCode) });
        });
      },
      { prefix: '/v1' },
    );
  };

  async function handle(
    request: FastifyRequest,
    reply: FastifyReply,
    call: EventType | 'batch',
  ): Promise<FastifyReply> {
    const receivedAt = now();
    const raw = Buffer.isBuffer(request.body) ? request.body : Buffer.alloc(0);
    const limit = call === 'batch' ? limits.batchBytes : limits.eventBytes;
    if (raw.length === 0) throw new ApiError('KUMIKI_MALFORMED_JSON', 'the body is empty');
    const encoding = request.headers['content-encoding'];
    const { json, bytes } = await decodeBody(
      raw,
      Array.isArray(encoding) ? encoding[0] : encoding,
      limit,
      call === 'batch' ? 'the batch' : 'the event',
    );
    const writeKey =
      request.kumikiWriteKey ?? (typeof json.writeKey === 'string' && json.writeKey !== '' ? json.writeKey : undefined);
    const source = writeKey === undefined ? undefined : deps.sources.get(writeKey);
    if (!source)
      throw new ApiError(
        'KUMIKI_UNAUTHORIZED',
        writeKey === undefined
          ? 'a write key is required (Basic-auth user or writeKey in the body)'
          : 'unknown write key',
      );
    if (call !== 'batch' && bytes.length > limits.eventBytes) throw tooLarge(limits.eventBytes, 'the event');

    const prepared = prepareEvents(json, call, { receivedAt, source }, call === 'batch' ? undefined : bytes);
    const messages: OutgoingMessage[] = [];
    const rejected: Rejection[] = [...prepared.rejected];
    const types: EventType[] = [];
    for (const { index, event } of prepared.accepted) {
      const encoded = toRecord.runNow(event);
      if (encoded.kind === 'ok') {
        messages.push(encoded.value);
        types.push(event.type);
      } else if (encoded.kind === 'dlq') {
        const path = call === 'batch' ? `batch[${index}]` : '';
        rejected.push(
          rejection(encoded, { value: Buffer.from(JSON.stringify(event)), key: eventKey(event), path, index }),
        );
      }
    }
    const room =
      messages.reduce((sum, m) => sum + (m.value as Buffer).length, 0) +
      rejected.reduce((sum, r) => sum + r.origin.value.length, 0);
    if (!deps.batcher.hasRoomFor(room))
      throw new ApiError('KUMIKI_OVERLOADED', 'the collector is at its memory bound', undefined, {
        retryAfterSeconds: 1,
      });

    await Promise.all([deps.batcher.send(deps.eventsTopic, messages), deps.results.rejected(rejected)]);
    for (const type of types) deps.metrics.events.inc({ type });
    for (const r of rejected) deps.metrics.rejects.inc({ code: r.code, level: 'event' });

    if (call !== 'batch') {
      const [first] = rejected;
      if (first) return sendError(reply, new ApiError(first.code, first.reason, fieldOf(first)));
      return reply.code(200).send({ success: true });
    }
    return reply.code(200).send({
      success: true,
      accepted: messages.length,
      rejected: rejected
        .sort((a, b) => a.origin.index! - b.origin.index!)
        .map((r) => ({
          index: r.origin.index,
          ...(r.origin.messageId ? { messageId: r.origin.messageId } : {}),
          ...errorBody(r.code, r.reason, fieldOf(r)),
        })),
    });
  }
}

function setCors(request: FastifyRequest, reply: FastifyReply): void {
  const origin = request.headers.origin;
  if (!origin) return;
  reply.header('access-control-allow-origin', origin);
  reply.header('vary', 'Origin');
  reply.header('access-control-allow-credentials', 'true');
  if (request.method === 'OPTIONS') {
    reply.header('access-control-allow-methods', 'POST, OPTIONS');
    reply.header(
      'access-control-allow-headers',
      request.headers['access-control-request-headers'] ?? 'Content-Type, Authorization, Content-Encoding',
    );
    reply.header('access-control-max-age', '86400');
  }
}

function toApiError(error: unknown): ApiError {
  if (error instanceof ApiError) return error;
  const code = (error as { code?: string }).code;
  const status = (error as { statusCode?: number }).statusCode;
  if (code === 'FST_ERR_CTP_BODY_TOO_LARGE')
    return new ApiError(
      'KUMIKI_PAYLOAD_TOO_LARGE',
      'the body is over the size limit (32 KB per event, 500 KB per batch)',
    );
  if (code === 'FST_ERR_CTP_EMPTY_JSON_BODY' || code === 'FST_ERR_CTP_INVALID_CONTENT_LENGTH')
    return new ApiError('KUMIKI_MALFORMED_JSON', errorMessage(error));
  if (status !== undefined && status >= 400 && status < 500)
    return new ApiError('KUMIKI_INVALID_EVENT', errorMessage(error));
  return new ApiError('KUMIKI_INTERNAL', 'internal error; nothing was accepted', undefined, {
    cause: error,
    retryAfterSeconds: 1,
  });
}

function sendError(reply: FastifyReply, error: ApiError): FastifyReply {
  if (error.retryAfterSeconds !== undefined) reply.header('retry-after', String(error.retryAfterSeconds));
  return reply.code(error.status).send(error.body());
}
