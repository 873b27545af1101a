/**
 * Wires one lancast process: data dir, TLS, the hub, the HTTP app, the WebSocket endpoint, and
 * the one port that speaks http and https.
 */
import { randomBytes } from 'node:crypto';
import { mkdir, readFile, writeFile } from 'node:fs/promises';
import http from 'node:http';
import https from 'node:https';
import type { AddressInfo } from 'node:net';
import { networkInterfaces } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { Logger } from 'pino';
import { WebSocketServer } from 'ws';
import type { Config } from '../config.js';
import { Recordings } from '../relay/recorder/recordings.js';
import { Relay } from '../relay/relay.js';
import { Hub } from '../signaling/hub.js';
import { MAX_FRAME_BYTES } from '../signaling/protocol.js';
import { handleSocket } from '../signaling/socket.js';
import { openCluster, registerClusterMetrics, type ClusterNode } from '../cluster/index.js';
import { buildApp } from './app.js';
import { createDualListener, registerConnectionMetrics } from './listener.js';
import { Metrics } from './metrics.js';
import { loadTls, type TlsMaterial } from './tls.js';

export interface RunningServer {
  port: number;
  publishKey: string;
  publishKeyGenerated: boolean;
  tls: TlsMaterial;
  /** Addresses a LAN user can reach, IPv4 first. */
  addresses: string[];
  hub: Hub;
  close(): Promise<void>;
}

/** This machine's LAN addresses (or just the one `--host` names). */
export function lanAddresses(host: string): string[] {
  if (host !== '0.0.0.0' && host !== '::') return [host];
  const found: string[] = [];
  for (const list of Object.values(networkInterfaces())) {
    for (const info of list ?? []) {
      if (!info.internal && info.family === 'IPv4') found.push(info.address);
    }
  }
  return found.length ? found : ['127.0.0.1'];
}

/** The configured key, or the one generated on a first run and kept in the data dir. */
async function resolvePublishKey(config: Config): Promise<{ key: string; generated: boolean }> {
  if (config.publishKey !== undefined) return { key: config.publishKey, generated: false };
  const file = join(config.dataDir, 'publish-key');
  try {
    const key = (await readFile(file, 'utf8')).trim();
    if (key) return { key, generated: true };
  } catch {
    // first run
  }
  const key = randomBytes(9).toString('base64url');
  await mkdir(config.dataDir, { recursive: true, mode: 0o700 });
  await writeFile(file, `${key}\n`, { mode: 0o600 });
  return { key, generated: true };
}

export async function startServer(config: Config, logger: Logger, version: string): Promise<RunningServer> {
  const addresses = lanAddresses(config.host);
  // First: a node that cannot reach its cluster's Redis must not start.
  let cluster: ClusterNode | undefined;
  if (config.cluster) {
    const opened = await openCluster(config, logger);
    cluster = opened.node;
    config = { ...config, publishKey: opened.publishKey };
  }
  const [{ key: publishKey, generated }, tls] = await Promise.all([
    resolvePublishKey(config),
    loadTls({ cert: config.cert, key: config.key, dataDir: config.dataDir, addresses }),
  ]);

  let hub: Hub | undefined;
  const metrics = new Metrics(() => hub, () => relay);
  const relay: Relay = new Relay({ host: config.host, iceServers: config.iceServers }, logger.child({ component: 'relay' }), config.relayWorkers, config.pauseAfter * 1000, config.layerPauseAfter * 1000);
  const recordings = new Recordings({
    dir: config.recordingsDir,
    auto: config.record,
    logger: logger.child({ component: 'recorder' }),
    publisherOf: (room) => relay.publisher(room),
    // A recorded room needs its media at the server; a paused publisher starts sending again.
    onChange: (room) => {
      const r = hub?.rooms.get(room);
      if (r) hub!.refreshMode(r);
      relay.wake(room);
    },
  });
  await recordings.init();
  relay.on('live', (room) => {
    const publisher = relay.publisher(room);
    if (publisher) recordings.publisherLive(room, publisher);
  });
  relay.keepSending = (room) => recordings.isRecorded(room);
  hub = new Hub({
    recorded: (room) => recordings.isRecorded(room),
    relay,
    relayThreshold: config.relayThreshold,
    maxViewers: config.limits.maxViewers,
    maxRooms: config.limits.maxRooms,
    publishKey,
    viewPassword: config.viewPassword,
    mode: config.mode,
    iceServers: config.iceServers,
    logger: logger.child({ component: 'signaling' }),
    observer: metrics,
    viewPasswordOf: cluster && ((room) => cluster.viewPasswordOf(room)),
  });
  if (cluster) {
    cluster.attach(hub);
    registerClusterMetrics(metrics.registry, cluster);
  }

  let port = config.port;
  let httpServer!: http.Server;
  let httpsServer!: https.Server;
  const app = await buildApp({
    hub,
    relay,
    recordings,
    publishKey,
    metrics,
    logger,
    version,
    info: () => ({ addresses, port }),
    cluster,
    assetsDir: fileURLToPath(new URL('./web/', import.meta.url)),
    serverFactory: (handler) => {
      httpServer = http.createServer(handler);
      httpsServer = https.createServer({ cert: tls.cert, key: tls.key }, handler);
      return httpServer;
    },
  });
  await app.ready();

  const wss = new WebSocketServer({ noServer: true, maxPayload: MAX_FRAME_BYTES });
  const socketsByAddress = new Map<string, number>();
  const onUpgrade = (req: http.IncomingMessage, socket: import('node:stream').Duplex, head: Buffer) => {
    const path = (req.url ?? '/').split('?')[0];
    if (path !== '/ws' && !config.legacy) {
      socket.end('HTTP/1.1 404 Not Found\r\nConnection: close\r\nContent-Length: 0\r\n\r\n');
      return;
    }
    const address = req.socket.remoteAddress ?? '?';
    const open = socketsByAddress.get(address) ?? 0;
    if (open >= config.limits.maxSocketsPerAddress) {
      const body = `too many connections from ${address} (${open}); close some and retry\n`;
      socket.end(`HTTP/1.1 429 Too Many Requests\r\nConnection: close\r\nRetry-After: 5\r\nContent-Type: text/plain\r\nContent-Length: ${Buffer.byteLength(body)}\r\n\r\n${body}`);
      return;
    }
    socketsByAddress.set(address, open + 1);
    // Count down when the connection itself closes: a handshake ws refuses never becomes a socket.
    socket.once('close', () => {
      const left = (socketsByAddress.get(address) ?? 1) - 1;
      if (left > 0) socketsByAddress.set(address, left);
      else socketsByAddress.delete(address);
    });
    wss.handleUpgrade(req, socket, head, (ws) => {
      handleSocket(ws, { hub: hub, logger, legacy: config.legacy, address, messagesPerSecond: config.limits.messagesPerSecond });
    });
  };
  httpServer.on('upgrade', onUpgrade);
  httpsServer.on('upgrade', onUpgrade);

  const listener = createDualListener(
    httpServer,
    httpsServer,
    { maxPerAddress: config.limits.maxConnectionsPerAddress, idleMs: config.limits.idleTimeout * 1000, headersMs: config.limits.headersTimeout * 1000 },
    logger.child({ component: 'listener' }),
  );
  registerConnectionMetrics(metrics.registry, listener.stats);
  await new Promise<void>((resolve, reject) => {
    listener.once('error', reject);
    listener.listen(config.port, config.host, () => {
      listener.off('error', reject);
      resolve();
    });
  });
  port = (listener.address() as AddressInfo).port;
  logger.info({ port, host: config.host, mode: config.mode, legacy: config.legacy }, 'lancast listening');
  await cluster?.start(config.cluster?.advertise ?? `http://${addresses[0].includes(':') ? `[${addresses[0]}]` : addresses[0]}:${port}`);

  let closing: Promise<void> | undefined;
  return {
    port,
    publishKey,
    publishKeyGenerated: generated,
    tls,
    addresses,
    hub,
    close() {
      closing ??= (async () => {
        // Every recording file finished first (start.ts gives shutdown 2.5 s), while the rest closes.
        const finishing = recordings.close();
        const leaving = cluster?.close();
        hub.shutdown();
        // Give the close frames a moment (a second at most) to reach the clients, then drop what is left.
        let timer: NodeJS.Timeout | undefined;
        await Promise.race([
          Promise.all([...wss.clients].map((ws) => new Promise((resolve) => ws.once('close', resolve)))),
          new Promise((resolve) => (timer = setTimeout(resolve, 1_000))),
        ]);
        clearTimeout(timer);
        await new Promise<void>((resolve) => listener.close(() => resolve()));
        for (const ws of wss.clients) ws.terminate();
        wss.close();
        await finishing;
        await leaving;
        relay.close();
      })();
      return closing;
    },
  };
}
