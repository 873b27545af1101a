/**
 * The HTTP application: pages, assets, the JSON API, health, metrics and QR codes. Thin handlers;
 * the signaling hub holds the state.
 */
import { createHash } from 'node:crypto';
import { readdir, readFile } from 'node:fs/promises';
import { extname, join } from 'node:path';
import Fastify, { type FastifyReply, type FastifyRequest } from 'fastify';
import type { Logger } from 'pino';
import QRCode from 'qrcode';
import type { Relay } from '../relay/relay.js';
import type { Hub } from '../signaling/hub.js';
import { ROOM_NAME } from '../signaling/protocol.js';
import { healthSchema, infoSchema, roomsSchema } from './schemas.js';
import { broadcastPage, errorPage, lobbyPage, useAssetVersions, watchPage } from '../web/pages.js';
import { parseAcceptLanguage, pickLang, t, type Lang } from '../web/strings.js';
import type { Metrics } from './metrics.js';
import { whepRoutes } from './whep.js';
import { whipRoutes } from './whip.js';
import { recordingRoutes, registerRecordingMetrics } from './recordings.js';
import type { Recordings } from '../relay/recorder/recordings.js';
import { clusterRoomViews, clusterRoutes, type ClusterNode, type RoomView } from '../cluster/index.js';

export interface AppOptions {
  hub: Hub;
  relay: Relay;
  recordings: Recordings;
  publishKey: string;
  metrics: Metrics;
  logger: Logger;
  /** Directory of the bundled browser scripts and styles. */
  assetsDir: string;
  version: string;
  /** Where this server can be reached, once it listens (for share links). */
  info: () => { addresses: string[]; port: number };
  /** Set when this node is one of a cluster (`--redis`). */
  cluster?: ClusterNode | undefined;
  serverFactory: (handler: Parameters<typeof import('node:http').createServer>[1]) => import('node:http').Server;
}

const TYPES: Record<string, string> = {
  '.js': 'text/javascript; charset=utf-8',
  '.css': 'text/css; charset=utf-8',
  '.map': 'application/json; charset=utf-8',
  '.svg': 'image/svg+xml',
};

function langOf(req: FastifyRequest): Lang {
  return pickLang(parseAcceptLanguage(req.headers['accept-language']));
}

function html(reply: FastifyReply, body: string, status = 200): FastifyReply {
  return reply.code(status).type('text/html; charset=utf-8').header('cache-control', 'no-store').send(body);
}

interface Asset {
  body: Buffer;
  /** Short content hash: the `v=` pages put in asset URLs, and the ETag. */
  version: string;
}

async function loadAssets(dir: string): Promise<Map<string, Asset>> {
  const assets = new Map<string, Asset>();
  for (const name of await readdir(dir)) {
    const body = await readFile(join(dir, name));
    assets.set(name, { body, version: createHash('sha256').update(body).digest('base64url').slice(0, 12) });
  }
  return assets;
}

export async function buildApp(options: AppOptions) {
  const { hub, metrics } = options;
  const assets = await loadAssets(options.assetsDir);
  useAssetVersions(new Map([...assets].map(([name, asset]) => [name, asset.version])));
  const app = Fastify({
    logger: false,
    serverFactory: options.serverFactory,
    bodyLimit: 64 * 1024,
  });

  // First: its hooks (spreading viewers, pulling rooms) come before every page and WHEP route.
  if (options.cluster) await app.register(clusterRoutes(options.cluster));

  app.get('/', (req, reply) => html(reply, lobbyPage(langOf(req))));

  await app.register(whipRoutes(hub, options.publishKey));
  await app.register(whepRoutes(hub));
  await app.register(recordingRoutes(hub, options.recordings, options.publishKey));
  registerRecordingMetrics(metrics.registry, options.recordings);

  const roomPage = (render: (lang: Lang, room: string) => string, opening?: (room: string) => void) =>
    async (req: FastifyRequest<{ Params: { room: string } }>, reply: FastifyReply) => {
      const lang = langOf(req);
      const room = req.params.room;
      if (!ROOM_NAME.test(room)) {
        return html(reply, errorPage(lang, 400, t(lang, 'errBadRoomName')), 400);
      }
      opening?.(room);
      return html(reply, render(lang, room));
    };
  app.get('/broadcast/:room', roomPage(broadcastPage));
  // A paused broadcaster starts again while the page loads, before the viewer's join.
  app.get('/watch/:room', roomPage(watchPage, (room) => options.relay.wake(room)));
  app.get('/broadcast', (req, reply) => reply.redirect(`/broadcast/main${req.url.slice('/broadcast'.length)}`));
  app.get('/watch', (req, reply) => reply.redirect(`/watch/main${req.url.slice('/watch'.length)}`));

  app.get<{ Params: { file: string }; Querystring: { v?: string } }>('/assets/:file', (req, reply) => {
    const asset = assets.get(req.params.file);
    if (!asset) return reply.code(404).type('text/plain').send('no such asset');
    const etag = `"${asset.version}"`;
    // The URL a page links names this very content: keep it for good. Any other URL: ask again.
    reply.header('cache-control', req.query.v === asset.version ? 'public, max-age=31536000, immutable' : 'no-cache').header('etag', etag);
    if (req.headers['if-none-match'] === etag) return reply.code(304).send();
    return reply.type(TYPES[extname(req.params.file)] ?? 'application/octet-stream').send(asset.body);
  });

  const localRooms = (): RoomView[] =>
    [...hub.rooms.values()].map((room) => {
      // A room behind a password shows only that it exists.
      if (hub.viewPasswords(room.name).length > 0) return { name: room.name, live: room.live, protected: true, viewers: 0, mode: room.mode };
      const relayed = options.relay.stats(room.name);
      return {
        name: room.name,
        live: room.live,
        viewers: options.cluster ? options.cluster.countedViewers(room) : room.viewers.size + room.players.size,
        mode: room.mode,
        reason: room.reason,
        bitrate: { in: relayed?.inBitsPerSecond ?? 0, out: relayed?.outBitsPerSecond ?? 0 },
        paused: relayed?.paused ?? false,
        ...(relayed?.layers ? { layers: relayed.layers } : {}),
      };
    });
  app.get('/api/rooms', { schema: roomsSchema }, () => ({
    rooms: (options.cluster ? clusterRoomViews(options.cluster, localRooms()) : localRooms())
      .sort((a, b) => Number(b.live) - Number(a.live) || b.viewers - a.viewers || a.name.localeCompare(b.name)),
  }));

  app.get('/api/info', { schema: infoSchema }, () => ({ version: options.version, ...options.info() }));

  app.get('/healthz', { schema: healthSchema }, () => ({ ok: true, version: options.version, uptime: Math.round(process.uptime()) }));

  app.get('/metrics', async (_req, reply) =>
    reply.type(metrics.registry.contentType).send(await metrics.registry.metrics()));

  app.get<{ Querystring: { text?: string } }>(
    '/qr.svg',
    { schema: { querystring: { type: 'object', properties: { text: { type: 'string', minLength: 1, maxLength: 512 } }, required: ['text'] } } },
    async (req, reply) => {
      const svg = await QRCode.toString(req.query.text!, { type: 'svg', margin: 1, errorCorrectionLevel: 'M' });
      return reply.type('image/svg+xml').header('cache-control', 'public, max-age=3600').send(svg);
    },
  );

  app.setNotFoundHandler((req, reply) => {
    if (req.url.startsWith('/api/') || req.method !== 'GET') {
      return reply.code(404).send({ error: 'not-found', message: `no route ${req.method} ${req.url.split('?')[0]}` });
    }
    return html(reply, errorPage(langOf(req), 404, t(langOf(req), 'errNotFound')), 404);
  });

  return app;
}
