/**
 * WHEP playback: `POST /whep/<room>` with an SDP offer -> `201`, `Location`, the answer; `DELETE`
 * ends it; `404` when the room is not live. The player gets the same relayed stream as the watch
 * page; a p2p room moves to the relay for it (unless its broadcaster chose p2p).
 */
import type { FastifyInstance } from 'fastify';
import { MediaRequestError, type Hub } from '../signaling/hub.js';
import { acceptSdpBodies, answer, bearer, corsEverywhere, fail, readOffer, resource, refuse } from './http-media.js';

export function whepRoutes(hub: Hub) {
  return async (scope: FastifyInstance) => {
    acceptSdpBodies(scope);
    corsEverywhere(scope);
    resource(scope, '/whep/:room', ['POST']);
    resource(scope, '/whep/:room/:id', ['DELETE']); // PATCH (trickle ICE): 405

    scope.post<{ Params: { room: string } }>('/whep/:room', async (req, reply) => {
      const name = req.params.room;
      const passwords = hub.viewPasswords(name);
      if (passwords.length > 0) {
        const verdict = hub.checkSecret(req.ip, bearer(req), passwords);
        if (!verdict.ok) return refuse(reply, verdict, 'this room needs the view password: send Authorization: Bearer <password>');
      }
      const sdp = readOffer(req, reply);
      if (sdp === undefined) return reply;
      try {
        const session = await hub.play(name, sdp);
        return answer(reply, `/whep/${encodeURIComponent(name)}/${session.id}`, session.answer);
      } catch (err) {
        if (!(err instanceof MediaRequestError)) throw err;
        if (err.code === 'not-live') return fail(reply, 404, err.message);
        if (err.code === 'p2p-only') return fail(reply, 409, err.message);
        return fail(reply, 400, `cannot use this offer: ${err.message}`);
      }
    });

    scope.delete<{ Params: { room: string; id: string } }>('/whep/:room/:id', async (req, reply) => {
      if (!hub.stopPlayer(req.params.room, req.params.id)) return fail(reply, 404, 'no such WHEP session');
      return reply.code(200).send();
    });
  };
}
