import Fastify from 'fastify';
import { IdentityGraph } from '../../../services/identity-stitcher/identity/identity-graph';
import { resolveIdentityRules } from '../../../services/identity-stitcher/identity/identity-rules';
import { identityRoutes } from '../../../services/identity-stitcher/identity.routes';

describe('GET /v1/identities/{type}/{value}', () => {
  it("answers the profile with each identifier's provenance, 404 for unknown, 503 while restoring", async () => {
    const graph = new IdentityGraph(resolveIdentityRules());
    graph.resolve({
      messageId: 'm1',
      eventTime: 1000,
      receivedAt: 1000,
      rule: 'same-event',
      identifiers: [{ type: 'anonymous_id', value: 'a1' }],
    });
    graph.resolve({
      messageId: 'm2',
      eventTime: 2000,
      receivedAt: 2000,
      rule: 'same-event',
      identifiers: [
        { type: 'anonymous_id', value: 'a1' },
        { type: 'email', value: 'x@y.io' },
      ],
    });
    let current: IdentityGraph | undefined;
    const app = Fastify();
    identityRoutes(() => current)(app);
    // A real socket: app.inject pulls in an ESM-only dependency jest cannot load on Node 20.
    const base = await app.listen({ host: '127.0.0.1', port: 0 });
    const get = async (url: string) => {
      const response = await fetch(`${base}${url}`);
      return { statusCode: response.status, json: async () => (await response.json()) as unknown };
    };

    expect((await get('/v1/identities/email/x@y.io')).statusCode).toBe(503);
    current = graph;
    const found = await get('/v1/identities/email/x@y.io');
    expect(found.statusCode).toBe(200);
    expect(await found.json()).toEqual({
      profileId: graph.profileIdOf('anonymous_id', 'a1'),
      createdAt: 1000,
      identifiers: [
        { type: 'anonymous_id', value: 'a1', linkedBy: 'm1', linkedAt: 1000, rule: 'same-event' },
        { type: 'email', value: 'x@y.io', linkedBy: 'm2', linkedAt: 2000, rule: 'same-event' },
      ],
    });
    const missing = await get('/v1/identities/email/nobody@y.io');
    expect(missing.statusCode).toBe(404);
    expect(await missing.json()).toMatchObject({ code: 'KUMIKI_PROFILE_NOT_FOUND' });
    await app.close();
  });
});
