/**
 * A node's HTTP part in a cluster: the pull endpoints other nodes use (pull.ts has the wire),
 * redirects that spread viewers (a node past --max-viewers sends a new viewer to the least-loaded
 * node; a p2p room's viewers go to its origin), and `GET /api/cluster`.
 */
import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import { acceptSdpBodies, bearer, fail, refuse } from '../server/http-media.js';
import { MediaRequestError } from '../signaling/hub.js';
import { ROOM_NAME } from '../signaling/protocol.js';
import type { ClusterNode } from './node.js';
import { leastLoaded, withRoomFor } from './records.js';

/** An offer not answered in this long is dropped. */
const ANSWER_WAIT_MS = 15_000;
/** How long a WHEP request on an edge waits for the room's stream to arrive from its origin. */
const WHEP_PULL_WAIT_MS = 8_000;

/** The node to send one more viewer of `room` to, when this node cannot take it; else undefined. */
export function elsewhere(node: ClusterNode, room: string): string | undefined {
  const cluster = node.rooms.get(room);
  // A p2p room's broadcaster sends to each viewer itself: only its own node can connect them.
  if (cluster?.origin && cluster.origin.id !== node.id && cluster.originRoom?.configuredMode === 'p2p') return cluster.origin.url;
  const here = node.hub.rooms.get(room);
  if (!here || here.viewers.size + here.players.size < node.options.maxViewers) return undefined;
  return leastLoaded(withRoomFor(node.nodes.filter((n) => n.id !== node.id), room))?.url;
}

export function clusterRoutes(node: ClusterNode) {
  const pending = new Map<string, { room: string; accept: (sdp: string) => Promise<void>; timer: NodeJS.Timeout }>();
  const authorized = (req: FastifyRequest, reply: FastifyReply): boolean => {
    // Compared in constant time; wrong attempts from one address are slowed down like keys.
    const verdict = node.hub.checkSecret(req.ip, bearer(req), [node.options.config.secret]);
    if (verdict.ok) return true;
    refuse(reply, verdict, 'wrong or missing cluster secret: send Authorization: Bearer <cluster secret>');
    return false;
  };

  const plugin = async (app: FastifyInstance) => {
    // Spreading: before the page or the WHEP handler runs.
    app.addHook('onRequest', async (req, reply) => {
      const m = /^\/(watch|whep)\/([^/?]+)(\?.*)?$/.exec(req.url);
      if (!m) return;
      const [, kind, encoded, query = ''] = m;
      let room: string;
      try {
        room = decodeURIComponent(encoded);
      } catch {
        return;
      }
      if (!ROOM_NAME.test(room) || (kind === 'watch' ? req.method !== 'GET' : req.method !== 'POST')) return;
      const target = elsewhere(node, room);
      if (target) return reply.redirect(`${target}/${kind}/${encoded}${query}`, kind === 'watch' ? 302 : 307);
      // The stream will be needed here: start pulling it while the page loads.
      if (kind === 'watch') void node.edges.ensure(room, 0);
      else await node.edges.ensure(room, WHEP_PULL_WAIT_MS);
    });

    app.get('/api/cluster', () => ({
      node: node.id,
      // `holds`: the rooms whose stream a node has (origin or edge): a page moving there plays at once.
      nodes: node.nodes.map((n) => ({ id: n.id, url: n.url, viewers: n.viewers, cpu: Math.round(n.cpu * 1000) / 1000, holds: n.rooms.filter((r) => r.role !== 'none').map((r) => r.name) })),
    }));

    await app.register(async (scope) => {
      acceptSdpBodies(scope);
      scope.post<{ Params: { room: string } }>('/cluster/pull/:room', async (req, reply) => {
        if (!authorized(req, reply)) return reply;
        const { room } = req.params;
        if (!ROOM_NAME.test(room)) return fail(reply, 400, 'bad room name');
        const here = node.hub.rooms.get(room);
        if (!here?.live) return fail(reply, 404, `room "${room}" is not live here`);
        // Full here: another node that holds the stream serves the pull (a chain origin -> edge -> edge).
        if (here.viewers.size + here.players.size >= node.options.maxViewers) {
          const asker = req.headers['x-lancast-node'];
          const holders = node.rooms.get(room)?.holders.filter((n) => n.id !== node.id && n.id !== asker) ?? [];
          const target = leastLoaded(withRoomFor(holders, room));
          if (!target) return fail(reply, 503, `room "${room}" is full on every node that holds it`);
          return reply.code(307).header('location', `${target.url}/cluster/pull/${encodeURIComponent(room)}`).send();
        }
        try {
          const pull = await node.hub.pull(room);
          node.servedPulls.set(pull.id, room);
          const timer = setTimeout(() => {
            pending.delete(pull.id);
            node.hub.stopPlayer(room, pull.id);
          }, ANSWER_WAIT_MS);
          pending.set(pull.id, { room, accept: pull.accept, timer });
          return reply.code(201).header('location', `/cluster/pull/${encodeURIComponent(room)}/${pull.id}`).type('application/sdp').send(pull.offer);
        } catch (err) {
          if (!(err instanceof MediaRequestError)) throw err;
          if (err.code === 'not-live') return fail(reply, 404, err.message);
          if (err.code === 'p2p-only') return fail(reply, 409, err.message);
          return fail(reply, 400, err.message);
        }
      });

      scope.post<{ Params: { room: string; id: string } }>('/cluster/pull/:room/:id', async (req, reply) => {
        if (!authorized(req, reply)) return reply;
        const waiting = pending.get(req.params.id);
        if (!waiting || waiting.room !== req.params.room) return fail(reply, 404, 'no such pull waiting for an answer');
        pending.delete(req.params.id);
        clearTimeout(waiting.timer);
        try {
          await waiting.accept(typeof req.body === 'string' ? req.body : '');
        } catch (err) {
          node.hub.stopPlayer(req.params.room, req.params.id);
          return fail(reply, 400, `cannot use this answer: ${(err as Error).message}`);
        }
        return reply.code(204).send();
      });

      scope.delete<{ Params: { room: string; id: string } }>('/cluster/pull/:room/:id', async (req, reply) => {
        if (!authorized(req, reply)) return reply;
        if (!node.hub.stopPlayer(req.params.room, req.params.id)) return fail(reply, 404, 'no such pull');
        return reply.code(200).send();
      });
    });

    // Forget pulls that ended (their players left the room).
    const sweep = setInterval(() => {
      for (const [id, room] of node.servedPulls) if (!node.hub.rooms.get(room)?.players.has(id)) node.servedPulls.delete(id);
    }, 5_000);
    sweep.unref();
    app.addHook('onClose', async () => {
      clearInterval(sweep);
      for (const p of pending.values()) clearTimeout(p.timer);
    });
  };
  // Not encapsulated: the hooks must see the page and WHEP routes of the whole app.
  return Object.assign(plugin, { [Symbol.for('skip-override')]: true });
}
