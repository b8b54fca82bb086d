import type { FastifyInstance } from 'fastify';
import type { IdentityGraph } from './identity/identity-graph';

/**
 * `GET /v1/identities/{type}/{value}`: the profile an identifier belongs to right now, with
 * every identifier and the event (messageId, time) and rule that linked it — the live half
 * of `kumiki explain` (the history of merges and refusals is on kumiki.identity.changes).
 */
export function identityRoutes(graph: () => IdentityGraph | undefined): (app: FastifyInstance) => void {
  return (app) => {
    app.get<{ Params: { type: string; value: string } }>('/v1/identities/:type/:value', async (request, reply) => {
      const current = graph();
      if (!current)
        return reply
          .code(503)
          .send({ code: 'KUMIKI_UNAVAILABLE', message: 'the identity graph is still being restored' });
      const profile = current.profileOf(request.params.type, request.params.value);
      if (!profile)
        return reply.code(404).send({ code: 'KUMIKI_PROFILE_NOT_FOUND', message: 'no profile has this identifier' });
      return reply.send(profile);
    });
  };
}
