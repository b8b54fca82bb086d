import { existsSync } from 'node:fs';
import path from 'node:path';
import fastifyStatic from '@fastify/static';
import type { FastifyInstance, FastifyReply } from 'fastify';
import { errorBody } from '../../common/error-codes';

/** Where the console is served on the read API's listener. */
export const consolePath = '/console/';

/**
 * Serves the built web console (dist/console, made by `npm run build`) under /console/: static
 * files only, no authentication (the page holds no data; it signs in with an API key and asks the
 * /v1 API). Paths without a file are the single-page app's own routes and get index.html.
 *
 * Hashed assets are cached for good; index.html never, so a new build is picked up at once. The
 * content security policy allows only this origin's scripts and API: nothing on the page can load
 * or send anything elsewhere.
 */
export function consoleStaticRoutes(dir: string): (app: FastifyInstance) => Promise<void> {
  return async (app) => {
    const index = path.join(dir, 'index.html');
    app.get('/', async (_request, reply) => reply.redirect(consolePath));
    app.get('/console', async (_request, reply) => reply.redirect(consolePath));
    if (!existsSync(index)) {
      const notBuilt = async (_request: unknown, reply: FastifyReply) =>
        reply
          .code(503)
          .send(errorBody('KUMIKI_NOT_FOUND', `the web console is not built (no ${index}): run \`npm run build\``));
      app.get(consolePath, notBuilt);
      app.get(`${consolePath}*`, notBuilt);
      return;
    }
    await app.register(fastifyStatic, {
      root: dir,
      prefix: consolePath,
      wildcard: false,
      index: false,
      setHeaders: (reply, file) => {
        reply.header(
          'cache-control',
          file.includes(`${path.sep}assets${path.sep}`) ? 'public, max-age=31536000, immutable' : 'no-cache',
        );
        reply.header('x-content-type-options', 'nosniff');
      },
    });
    const page = async (_request: unknown, reply: FastifyReply) =>
      reply
        .header('cache-control', 'no-cache')
        .header('x-content-type-options', 'nosniff')
        .header('referrer-policy', 'no-referrer')
        .header(
          'content-security-policy',
          "default-src 'self'; script-src 'self'; style-src 'self' 'unsafe-inline'; img-src 'self' data: blob:; connect-src 'self'; frame-ancestors 'none'; base-uri 'none'; form-action 'self'",
        )
        .sendFile('index.html', dir);
    app.get(consolePath, page);
    // Unknown asset paths are 404s; any other path is a route of the app.
    app.get(`${consolePath}*`, async (request, reply) =>
      request.url.startsWith(`${consolePath}assets/`)
        ? reply.code(404).send(errorBody('KUMIKI_NOT_FOUND', `no such file: ${request.url}`))
        : page(request, reply),
    );
  };
}
