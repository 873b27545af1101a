/**
 * WHIP ingest (RFC 9725): `POST /whip/<room>` with `Authorization: Bearer <publish key>` and an SDP
 * offer -> `201 Created`, `Location`, the answer. `DELETE` on the location ends the broadcast.
 * OBS 30+ and GStreamer publish this way; the room is relayed to its viewers.
 */
import type { FastifyInstance } from 'fastify';
import type { Relay } from '../relay/relay.js';
import type { Hub } from '../signaling/hub.js';
import type { PeerLink } from '../signaling/peer.js';
import { acceptSdpBodies, answer, bearer, corsEverywhere, fail, readOffer, resource, refuse } from './http-media.js';

/** A WHIP publisher has no socket: nothing to send to; closing it ends its relay leg. */
class WhipLink implements PeerLink {
  readonly address: string;
  onClose: (() => void) | undefined;
  constructor(address: string) {
    this.address = address;
  }
  send(): void {}
  close(): void {
    this.onClose?.();
  }
}

export function whipRoutes(hub: Hub, relay: Relay, publishKey: string) {
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
      if (hub.rooms.get(room)?.broadcaster) return fail(reply, 409, `room "${room}" already has a broadcaster`);

      const link = new WhipLink(req.ip);
      const peer = hub.connect(link);
      link.onClose = () => hub.disconnect(peer);
      hub.receive(peer, { type: 'join', role: 'broadcaster', room }, { trusted: true, whip: true });
      try {
        const sdpAnswer = await relay.publish(room, peer.id, sdp, () => hub.disconnect(peer));
        return answer(reply, `/whip/${encodeURIComponent(room)}/${peer.id}`, sdpAnswer);
      } catch (err) {
        hub.disconnect(peer);
        return fail(reply, 400, `cannot use this offer: ${(err as Error).message}`);
      }
    });

    scope.delete<{ Params: { room: string; id: string } }>('/whip/:room/:id', async (req, reply) => {
      const peer = hub.peer(req.params.id);
      if (!peer || !(peer.link instanceof WhipLink) || peer.room?.name !== req.params.room) {
        return fail(reply, 404, 'no such WHIP session');
      }
      hub.disconnect(peer);
      return reply.code(200).send();
    });
  };
}
