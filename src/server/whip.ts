/**
 * WHIP ingest (RFC 9725): `POST /whip/<room>` with `Authorization: Bearer <publish key>` and an SDP
 * offer -> `201 Created`, `Location`, the answer. `DELETE` on the location ends the broadcast.
 * OBS 30+ and GStreamer publish this way; the room is relayed to its viewers.
 */
import type { FastifyInstance } from 'fastify';
import { MediaRequestError, type Hub } from '../signaling/hub.js';
import { acceptSdpBodies, answer, bearer, corsEverywhere, fail, readOffer, resource, refuse } from './http-media.js';

export function whipRoutes(hub: Hub, publishKey: string) {
  return async (scope: FastifyInstance) => {
    acceptSdpBodies(scope);
    corsEverywhere(scope);
    resource(scope, '/whip/:room', ['POST']);
    resource(scope, '/whip/:room/:id', ['DELETE']); // PATCH (trickle ICE): 405

    scope.post<{ Params: { room: string } }>('/whip/:room', async (req, reply) => {
      const { room } = req.params;
      const verdict = hub.checkSecret(req.ip, bearer(req), [publishKey]);
      if (!verdict.ok) return refuse(reply, verdict, 'wrong or missing publish key: send Authorization: Bearer <publish key>');
      const sdp = readOffer(req, reply);
      if (sdp === undefined) return reply;
      try {
        const session = await hub.publishWhip(room, sdp, req.ip);
        return answer(reply, `/whip/${encodeURIComponent(room)}/${session.id}`, session.answer);
      } catch (err) {
        if (!(err instanceof MediaRequestError)) throw err;
        if (err.code === 'busy') return fail(reply, 409, err.message);
        if (err.code === 'unavailable') return fail(reply, 503, err.message);
        return fail(reply, 400, `cannot use this offer: ${err.message}`);
      }
    });

    scope.delete<{ Params: { room: string; id: string } }>('/whip/:room/:id', async (req, reply) => {
      if (!hub.stopWhip(req.params.room, req.params.id)) return fail(reply, 404, 'no such WHIP session');
      return reply.code(200).send();
    });
  };
}
