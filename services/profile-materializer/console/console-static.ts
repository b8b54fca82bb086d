import { existsSync, readdirSync, readFileSync } from 'node:fs';
import path from 'node:path';
import type { FastifyInstance, FastifyReply } from 'fastify';
import { errorBody } from '../../common/error-codes';

/** Where the console is served on the read API's listener. */
export const consolePath = '/console/';

const contentTypes: Readonly<Record<string, string>> = {
  '.html': 'text/html; charset=utf-8',
  '.js': 'text/javascript; charset=utf-8',
  '.css': 'text/css; charset=utf-8',
  '.svg': 'image/svg+xml',
  '.png': 'image/png',
  '.ico': 'image/x-icon',
  '.json': 'application/json; charset=utf-8',
  '.map': 'application/json; charset=utf-8',
  '.woff2': 'font/woff2',
};

/** Only this origin's scripts and API: nothing on the page can load or send anything elsewhere. */
const contentSecurityPolicy =
  "default-src 'self'; script-src 'self'; style-src 'self' 'unsafe-inline'; img-src 'self' data: blob:; connect-src 'self'; frame-ancestors 'none'; base-uri 'none'; form-action 'self'";

/**
 * Serves the built web console (dist/console, made by `npm run build`) under /console/: static
 * files only, no authentication (the page holds no data; it signs in with an API key and asks the
 * /v1 API). Paths without a file are the single-page app's own routes and get index.html.
 *
 * The build is a handful of files (about 850 KB), read into memory once at start: a request is a
 * lookup in a map of the files that exist, so no path from a URL ever reaches the file system.
 * Hashed assets are cached for good, index.html never, so a new build is picked up on restart.
 */
export function consoleStaticRoutes(dir: string): (app: FastifyInstance) => Promise<void> {
  return async (app) => {
    app.get('/', async (_request, reply) => reply.redirect(consolePath));
    app.get('/console', async (_request, reply) => reply.redirect(consolePath));
    const index = path.join(dir, 'index.html');
    if (!existsSync(index)) {
      const notBuilt = async (_request: unknown, reply: FastifyReply) =>
        reply
          .code(503)
          .send(errorBody('KUMIKI_NOT_FOUND', `the web console is not built (no ${index}): run \`npm run build\``));
      app.get(consolePath, notBuilt);
      app.get(`${consolePath}*`, notBuilt);
      return;
    }
    const files = readBuild(dir);
    const page = files.get('index.html')!;
    const sendPage = async (_request: unknown, reply: FastifyReply) =>
      reply
        .header('content-type', page.type)
        .header('cache-control', 'no-cache')
        .header('x-content-type-options', 'nosniff')
        .header('referrer-policy', 'no-referrer')
        .header('content-security-policy', contentSecurityPolicy)
        .send(page.body);
    app.get(consolePath, sendPage);
    app.get(`${consolePath}*`, async (request, reply) => {
      const wanted = (request.params as { '*': string })['*'];
      const file = files.get(wanted);
      if (file)
        return reply
          .header('content-type', file.type)
          .header('cache-control', wanted.startsWith('assets/') ? 'public, max-age=31536000, immutable' : 'no-cache')
          .header('x-content-type-options', 'nosniff')
          .send(file.body);
      // A missing asset is a 404; any other path is a route of the app.
      if (wanted.startsWith('assets/'))
        return reply.code(404).send(errorBody('KUMIKI_NOT_FOUND', `no such file: ${request.url}`));
      return sendPage(request, reply);
    });
  };
}

/** Every file of the build by its path relative to `dir` (forward slashes). */
function readBuild(dir: string): Map<string, { type: string; body: Buffer }> {
  const files = new Map<string, { type: string; body: Buffer }>();
  const walk = (folder: string): void => {
    for (const entry of readdirSync(folder, { withFileTypes: true })) {
      const full = path.join(folder, entry.name);
      if (entry.isDirectory()) walk(full);
      else if (entry.isFile())
        files.set(path.relative(dir, full).split(path.sep).join('/'), {
          type: contentTypes[path.extname(entry.name)] ?? 'application/octet-stream',
          body: readFileSync(full),
        });
    }
  };
  walk(dir);
  return files;
}
