import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import Fastify from 'fastify';
import { consoleStaticRoutes } from '../../../services/profile-materializer/console/console-static';

describe('console static files', () => {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'kumiki-console-build-'));
  fs.mkdirSync(path.join(dir, 'assets'));
  fs.writeFileSync(path.join(dir, 'index.html'), '<!doctype html><div id="root"></div>');
  fs.writeFileSync(path.join(dir, 'assets', 'index-abc.js'), 'console.log(1)');

  /** The routes on a real listener (fastify's inject pulls an ES module jest cannot load). */
  const servers: { close(): Promise<unknown> }[] = [];
  afterAll(async () => {
    for (const server of servers) await server.close();
    fs.rmSync(dir, { recursive: true, force: true });
  });
  const app = async (root: string) => {
    const server = Fastify();
    await server.register(consoleStaticRoutes(root));
    const base = await server.listen({ host: '127.0.0.1', port: 0 });
    servers.push(server);
    return {
      async inject(url: string) {
        const response = await fetch(`${base}${url}`, { redirect: 'manual' });
        const body = await response.text();
        return {
          statusCode: response.status,
          body,
          headers: Object.fromEntries(response.headers),
          json: () => JSON.parse(body) as unknown,
        };
      },
    };
  };

  it('serves the page with its security policy, hashed assets for good, app routes as the page', async () => {
    const server = await app(dir);
    expect((await server.inject('/')).headers.location).toBe('/console/');
    const page = await server.inject('/console/');
    expect(page.statusCode).toBe(200);
    expect(page.body).toContain('<div id="root">');
    expect(page.headers['cache-control']).toBe('no-cache');
    expect(page.headers['content-security-policy']).toContain("script-src 'self'");
    const asset = await server.inject('/console/assets/index-abc.js');
    expect(asset.body).toBe('console.log(1)');
    expect(asset.headers['content-type']).toBe('text/javascript; charset=utf-8');
    expect(asset.headers['cache-control']).toBe('public, max-age=31536000, immutable');
    const route = await server.inject('/console/profiles/p_1?merged=p_2');
    expect(route.body).toBe(page.body);
    expect((await server.inject('/console/assets/gone.js')).statusCode).toBe(404);
    // Only files of the build: a path out of it is an app route, never a file read.
    const outside = await server.inject('/console/..%2F..%2Fpackage.json');
    expect(outside.body).toBe(page.body);
  });

  it('says how to build the console when it is not built', async () => {
    const server = await app(path.join(dir, 'missing'));
    const answer = await server.inject('/console/');
    expect(answer.statusCode).toBe(503);
    expect(answer.json()).toMatchObject({
      code: 'KUMIKI_NOT_FOUND',
      message: expect.stringContaining('npm run build'),
    });
  });
});
