import Fastify from 'fastify';
import { logInternalError, toApiError } from '../../../services/common/http-errors';

describe('logInternalError', () => {
  it("logs a bug's route pattern and method, never the URL that may carry personal data", async () => {
    const logged: object[] = [];
    const logger = { error: (details: object) => void logged.push(details) };
    const app = Fastify();
    app.get('/v1/profiles/:type/:value', async () => {
      throw new Error('boom');
    });
    app.get('/v1/missing/:id', async () => {
      throw Object.assign(new Error('gone'), { statusCode: 400 });
    });
    app.setErrorHandler(async (error, request, reply) => {
      const apiError = toApiError(error);
      logInternalError(logger, request, error, apiError);
      return reply.code(apiError.status).send(apiError.body());
    });
    const base = await app.listen({ host: '127.0.0.1', port: 0 });
    try {
      expect((await fetch(`${base}/v1/profiles/email/ann%40example.com?x=ann@example.com`)).status).toBe(500);
      expect((await fetch(`${base}/v1/missing/ann@example.com`)).status).toBe(400);
    } finally {
      await app.close();
    }
    // Only the 500 is logged; a client's mistake is not a bug.
    expect(logged).toEqual([{ err: expect.any(Error), method: 'GET', route: '/v1/profiles/:type/:value' }]);
    expect(JSON.stringify(logged)).not.toContain('example.com');
  });
});
