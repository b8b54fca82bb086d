import pino from 'pino';
import { createHttpServer } from '../../../services/common/http-server';
import { createMetricsRegistry } from '../../../services/common/metrics';
import { freePort } from '../../support/ports';

describe('the HTTP server every service has', () => {
  it("answers an unknown path with 404 KUMIKI_NOT_FOUND, leaving a scope's own answer alone", async () => {
    const port = await freePort();
    const server = createHttpServer({
      host: '127.0.0.1',
      port,
      logger: pino({ level: 'silent' }),
      metrics: createMetricsRegistry('test'),
      probe: { isHealthy: () => true, isReady: () => true, readiness: () => ({}) },
      routes: async (app) => {
        app.get('/v1/known', async () => ({ ok: true }));
        await app.register(
          async (scope) => {
            scope.setNotFoundHandler(async (_request, reply) => reply.code(404).send({ own: true }));
          },
          { prefix: '/own' },
        );
      },
    });
    await server.start();
    try {
      const get = async (path: string) => {
        const response = await fetch(`http://127.0.0.1:${port}${path}`);
        return { status: response.status, body: await response.json() };
      };
      // The read API's unknown paths answered fastify's own body, without a code (found by fuzzing).
      expect(await get('/v1/profiles/')).toEqual({
        status: 404,
        body: { code: 'KUMIKI_NOT_FOUND', message: 'no endpoint GET /v1/profiles/' },
      });
      expect(await get('/v1/known')).toEqual({ status: 200, body: { ok: true } });
      expect(await get('/own/nope')).toEqual({ status: 404, body: { own: true } });
      // fastify parses a body before it knows the path is unknown (found by fuzzing /v1/keys/./rotate).
      const post = async (path: string, body: string) => {
        const response = await fetch(`http://127.0.0.1:${port}${path}`, {
          method: 'POST',
          headers: { 'content-type': 'application/json' },
          body,
        });
        return { status: response.status, body: await response.json() };
      };
      expect(await post('/v1/keys/rotate', '')).toEqual({
        status: 404,
        body: { code: 'KUMIKI_NOT_FOUND', message: 'no endpoint POST /v1/keys/rotate' },
      });
      expect(await post('/v1/nothing', '{"a":')).toMatchObject({ status: 404, body: { code: 'KUMIKI_NOT_FOUND' } });
    } finally {
      await server.stop();
    }
  });
});
