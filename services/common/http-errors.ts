import type { FastifyRequest } from 'fastify';
import { ApiError } from './error-codes';
import { DependencyUnavailableError } from './errors';

/**
 * What every kumiki HTTP API answers for an error that is not already an ApiError: an outage
 * of a dependency is 503 with Retry-After, a body Fastify could not parse is 400 (413 when too
 * large), anything else is a bug (500, logged by the caller).
 */
export function toApiError(error: unknown): ApiError {
  if (error instanceof ApiError) return error;
  if (error instanceof DependencyUnavailableError)
    return new ApiError('KUMIKI_UNAVAILABLE', error.message, undefined, { retryAfterSeconds: 5 });
  const status = (error as { statusCode?: number }).statusCode;
  if (status === 400 || status === 415) return new ApiError('KUMIKI_MALFORMED_JSON', (error as Error).message);
  if (status === 413) return new ApiError('KUMIKI_PAYLOAD_TOO_LARGE', (error as Error).message);
  return new ApiError('KUMIKI_INTERNAL', 'internal error');
}

/**
 * Logs an error answered 500, a bug, with the route's pattern rather than its URL: a URL can carry
 * personal data (`/v1/profiles/email/…`, a pixel's query string), which logs must not keep.
 */
export function logInternalError(
  logger: { error: (details: object, message: string) => void },
  request: FastifyRequest,
  error: unknown,
  apiError: ApiError,
): void {
  if (apiError.code === 'KUMIKI_INTERNAL')
    logger.error({ err: error, method: request.method, route: request.routeOptions.url }, 'request failed');
}
