/**
 * WHEP playback: `POST /whep/<room>` with an SDP offer -> `201`, `Location`, the answer; `DELETE`
 * ends it; `404` when the room is not live. The player gets the same relayed stream as the watch
 * page; a p2p room moves to the relay for it (unless its broadcaster chose p2p).
 */
import type { FastifyInstance } from 'fastify';
import { RelayError, type Relay } from '../relay/relay.js';
import type { Hub } from '../signaling/hub.js';
import { acceptSdpBodies, answer, bearer, corsEverywhere, fail, readOffer, resource, refuse } from './http-media.js';

export function whepRoutes(hub: Hub, relay: Relay) {
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
      const room = hub.rooms.get(name);
      if (!room?.live) return fail(reply, 404, `room "${name}" is not live`);
      if (room.configuredMode === 'p2p') return fail(reply, 409, `room "${name}" streams peer to peer only; WHEP needs the relay`);

      room.players++;
      hub.refreshMode(room);
      let counted = true;
      const release = () => {
        if (!counted) return;
        counted = false;
        room.players--;
        hub.refreshMode(room);
      };
      try {
        const { id, answer: sdpAnswer } = await relay.play(name, sdp, release);
        return answer(reply, `/whep/${encodeURIComponent(name)}/${id}`, sdpAnswer);
      } catch (err) {
        release();
        if (err instanceof RelayError && err.code === 'not-live') return fail(reply, 404, `room "${name}" is not live`);
        return fail(reply, 400, `cannot use this offer: ${(err as Error).message}`);
      }
    });

    scope.delete<{ Params: { room: string; id: string } }>('/whep/:room/:id', async (req, reply) => {
      if (!relay.stopPlayer(req.params.room, req.params.id)) return fail(reply, 404, 'no such WHEP session');
      return reply.code(200).send();
    });
  };
}
