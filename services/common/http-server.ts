import fs from 'node:fs';
import Fastify, { LogController, type FastifyBaseLogger, type FastifyInstance, type FastifyRequest } from 'fastify';
import type { Registry } from 'prom-client';
import { ApiError } from './error-codes';
import { logInternalError } from './http-errors';
import type { Component } from './lifecycle';
import type { Logger } from './logger';
import { ConfigError } from './errors';

export interface HttpServerOptions {
  readonly host: string;
  readonly port: number;
  readonly logger: Logger;
  readonly metrics: Registry;
  /** The owning service's health, for /health and /ready. */
  readonly probe: { isHealthy(): boolean; isReady(): boolean; readiness(): Record<string, boolean> };
  /** Adds the service's own routes (collector API, read API). */
  readonly routes?: (app: FastifyInstance) => void | Promise<void>;
  readonly bodyLimit?: number;
  /** HTTPS with this certificate and key (PEM); plain HTTP without. */
  readonly tls?: { readonly cert: string; readonly key: string };
}

/** The listener's TLS from HTTP_TLS_CERT_FILE / HTTP_TLS_KEY_FILE (both or neither). */
export function httpTls(config: {
  readonly HTTP_TLS_CERT_FILE?: string | undefined;
  readonly HTTP_TLS_KEY_FILE?: string | undefined;
}): { tls?: { cert: string; key: string } } {
  if (!config.HTTP_TLS_CERT_FILE && !config.HTTP_TLS_KEY_FILE) return {};
  if (!config.HTTP_TLS_CERT_FILE || !config.HTTP_TLS_KEY_FILE)
    throw new ConfigError(['HTTP_TLS_CERT_FILE and HTTP_TLS_KEY_FILE must be set together']);
  return {
    tls: {
      cert: fs.readFileSync(config.HTTP_TLS_CERT_FILE, 'utf8'),
      key: fs.readFileSync(config.HTTP_TLS_KEY_FILE, 'utf8'),
    },
  };
}

/**
 * A service's `edge` from its parsed config: HTTP_HOST, HTTP_PORT and the TLS files, with its
 * logger, metrics and routes.
 */
export function httpEdge(
  config: { readonly HTTP_HOST: string; readonly HTTP_PORT: number } & Parameters<typeof httpTls>[0],
  parts: Pick<HttpServerOptions, 'logger' | 'metrics' | 'routes'>,
): (probe: HttpServerOptions['probe']) => ReturnType<typeof createHttpServer> {
  return (probe) =>
    createHttpServer({ host: config.HTTP_HOST, port: config.HTTP_PORT, probe, ...parts, ...httpTls(config) });
}

/**
 * Every service's HTTP face: `/health` (alive), `/ready` (able to work now), Prometheus
 * `/metrics`, plus whatever routes the service adds. Closing stops accepting connections
 * first and waits for in-flight requests, which is how intake stops on shutdown.
 */
export function createHttpServer(
  options: HttpServerOptions,
): Component & { readonly app: FastifyInstance; address(): string } {
  const scheme = options.tls ? 'https' : 'http';
  const app = Fastify({
    ...(options.tls ? { https: { cert: options.tls.cert, key: options.tls.key } } : {}),
    loggerInstance: options.logger.child({ component: 'http' }) as FastifyBaseLogger,
    // Per-request log lines would cost more than the requests on the collector's hot path.
    logController: new LogController({ disableRequestLogging: true }),
    bodyLimit: options.bodyLimit ?? 1_048_576,
    return503OnClosing: true,
  });
  let listening = false;

  app.get('/health', async (_request, reply) => {
    const healthy = options.probe.isHealthy();
    return reply.code(healthy ? 200 : 503).send({ status: healthy ? 'ok' : 'unhealthy' });
  });
  app.get('/ready', async (_request, reply) => {
    const ready = options.probe.isReady();
    return reply
      .code(ready ? 200 : 503)
      .send({ status: ready ? 'ready' : 'not ready', components: options.probe.readiness() });
  });
  app.get('/metrics', async (_request, reply) => {
    return reply.header('content-type', options.metrics.contentType).send(await options.metrics.metrics());
  });
  // Every error answer is `{ code, message }`, an unknown path's too (a scope may answer its own).
  const notFound = (request: FastifyRequest) =>
    new ApiError('KUMIKI_NOT_FOUND', `no endpoint ${request.method} ${request.url}`);
  app.setNotFoundHandler(async (request, reply) => reply.code(404).send(notFound(request).body()));
  // Outside a scope with its own handler: a body fastify cannot parse, which it parses before it
  // knows the path is unknown (found by fuzzing: an empty JSON body to an unknown path).
  app.setErrorHandler(async (error, request, reply) => {
    const apiError = rootError(error, request, notFound);
    logInternalError(request.log, request, error, apiError);
    return reply.code(apiError.status).send(apiError.body());
  });

  return {
    name: 'http-server',
    app,
    address: () => `${scheme}://${options.host}:${options.port}`,
    async start() {
      if (options.routes) await app.register(async (scope) => options.routes!(scope));
      await app.listen({ host: options.host, port: options.port });
      listening = true;
      options.logger.info({ url: `${scheme}://${options.host}:${options.port}` }, 'listening');
    },
    async stop() {
      listening = false;
      await app.close();
    },
    isHealthy: () => listening,
    isReady: () => listening,
  };
}

function rootError(error: unknown, request: FastifyRequest, notFound: (request: FastifyRequest) => ApiError): ApiError {
  if (error instanceof ApiError) return error;
  const status = (error as { statusCode?: number }).statusCode;
  if (status === undefined || status < 400 || status >= 500) return new ApiError('KUMIKI_INTERNAL', 'internal error');
  if (request.is404) return notFound(request);
  if (status === 413) return new ApiError('KUMIKI_PAYLOAD_TOO_LARGE', (error as Error).message);
  return new ApiError('KUMIKI_MALFORMED_JSON', (error as Error).message);
}
