/**
 * http and https on one port: the first byte of a connection tells them apart (a TLS handshake
 * starts with 0x16), so `http://host:1990` and `https://host:1990` both work and users never
 * juggle two ports. The same trick as httpolyglot, in a few lines.
 *
 * Because the HTTP servers never listen themselves, this is also where connections are bounded:
 * at most `maxPerAddress` open per remote address (the excess is reset at accept), a first byte
 * within `idleMs`, and the first request's headers (TLS handshake included) within `headersMs`
 * of the accept. Later requests on a keep-alive connection are Node's: its headersTimeout,
 * requestTimeout and keepAliveTimeout, which only run once they are switched on below.
 */
import type { Server as HttpServer, IncomingMessage } from 'node:http';
import type { Server as HttpsServer } from 'node:https';
import net from 'node:net';
import type { Logger } from 'pino';
import { Counter, Gauge, type Registry } from 'prom-client';

const TLS_HANDSHAKE = 0x16;
/** At most one "refused" log line per address per this many ms: a flood must not flood the log. */
const REFUSAL_LOG_MS = 10_000;

export interface ConnectionLimits {
  /** TCP connections one remote address may hold open. */
  maxPerAddress: number;
  /** ms a new connection may take to send its first byte. */
  idleMs: number;
  /** ms from accept to the end of the first request's headers; later requests' headers from their first byte. */
  headersMs: number;
}

export interface ListenerStats {
  open: number;
  refused: number;
  timedOut: { idle: number; headers: number };
}

interface AddressRecord {
  open: number;
  /** Refusals since the last log line. */
  refused: number;
  loggedAt: number;
}

export type DualListener = net.Server & { stats: ListenerStats };

export function createDualListener(http: HttpServer, https: HttpsServer, limits: ConnectionLimits, logger: Logger): DualListener {
  const sockets = new Set<net.Socket>();
  const byAddress = new Map<string, AddressRecord>();
  // Connections whose first request has not finished its headers, by TCP 4-tuple: an https
  // request's socket is the TLS socket wrapped around ours, with the same addresses and ports.
  const pending = new Map<string, { socket: net.Socket; timer: NodeJS.Timeout }>();
  const stats: ListenerStats = { open: 0, refused: 0, timedOut: { idle: 0, headers: 0 } };
  const tupleOf = (s: net.Socket) => `${s.remoteAddress}|${s.remotePort}|${s.localAddress}|${s.localPort}`;

  const refuse = (socket: net.Socket, address: string, record: AddressRecord) => {
    stats.refused++;
    record.refused++;
    const now = Date.now();
    if (now - record.loggedAt >= REFUSAL_LOG_MS) {
      logger.info({ address, open: record.open, refused: record.refused }, 'connections refused: address holds --max-connections-per-address');
      record.loggedAt = now;
      record.refused = 0;
    }
    // A reset costs nothing more and leaves no TIME_WAIT behind on this side.
    socket.resetAndDestroy();
  };

  const server = net.createServer((socket) => {
    socket.on('error', () => socket.destroy());
    const address = socket.remoteAddress ?? '?';
    const record = byAddress.get(address) ?? { open: 0, refused: 0, loggedAt: 0 };
    if (record.open >= limits.maxPerAddress) return refuse(socket, address, record);
    record.open++;
    byAddress.set(address, record);
    stats.open++;
    sockets.add(socket);

    const tuple = tupleOf(socket);
    const acceptedAt = Date.now();
    const expire = (why: 'idle' | 'headers', ms: number) => {
      clearTimeout(pending.get(tuple)?.timer);
      const timer = setTimeout(() => {
        pending.delete(tuple);
        stats.timedOut[why]++;
        logger.debug({ address, why }, why === 'idle' ? 'connection closed: nothing sent' : 'connection closed: request headers too slow');
        socket.destroy();
      }, ms);
      pending.set(tuple, { socket, timer });
    };
    expire('idle', Math.min(limits.idleMs, limits.headersMs));
    socket.once('close', () => {
      sockets.delete(socket);
      stats.open--;
      const entry = pending.get(tuple);
      if (entry?.socket === socket) {
        clearTimeout(entry.timer);
        pending.delete(tuple);
      }
      if (--record.open === 0) byAddress.delete(address);
    });
    socket.once('data', (head: Buffer) => {
      expire('headers', Math.max(0, acceptedAt + limits.headersMs - Date.now()));
      // Put the bytes back and let the right server read them from the start.
      socket.pause();
      socket.unshift(head);
      (head[0] === TLS_HANDSHAKE ? https : http).emit('connection', socket);
      process.nextTick(() => socket.resume());
    });
  });

  // Headers complete: the connection has shown it is a client; WebSockets and keep-alive live on.
  const headersDone = (req: IncomingMessage) => {
    const tuple = tupleOf(req.socket);
    const entry = pending.get(tuple);
    if (!entry) return;
    clearTimeout(entry.timer);
    pending.delete(tuple);
  };
  for (const s of [http, https]) {
    s.prependListener('request', headersDone);
    s.prependListener('upgrade', headersDone);
    s.headersTimeout = limits.headersMs;
    s.requestTimeout = Math.max(s.requestTimeout, limits.headersMs);
    // A createServer option, read when the checker starts (the typings lack the property). Each
    // check is a turn of the main thread's loop, for both servers: at most every 5 s (half the
    // timeout when shorter), a later request's headers are cut within 5 s of their timeout.
    (s as { connectionsCheckingInterval?: number }).connectionsCheckingInterval = Math.min(5_000, limits.headersMs / 2);
    // Node starts the checker behind headersTimeout and requestTimeout when an http.Server
    // starts listening; these never listen (we hand them connections), so start it the same way.
    s.emit('listening');
  }

  // Closing the listener also drops idle keep-alive connections, so shutdown is prompt.
  const close = server.close.bind(server);
  server.close = (cb) => {
    close(cb);
    for (const s of sockets) s.destroy();
    return server;
  };
  return Object.assign(server, { stats });
}

/** `/metrics`: open connections, refusals at the per-address cap, and connections timed out. */
export function registerConnectionMetrics(registry: Registry, stats: ListenerStats): void {
  new Gauge({
    name: 'lancast_connections',
    help: 'Open TCP connections (http, https and WebSocket)',
    registers: [registry],
    collect() {
      this.set(stats.open);
    },
  });
  new Counter({
    name: 'lancast_connections_refused_total',
    help: 'Connections reset at accept because their address held --max-connections-per-address',
    registers: [registry],
    collect() {
      this.reset();
      this.inc(stats.refused);
    },
  });
  new Counter({
    name: 'lancast_connections_timed_out_total',
    help: 'Connections closed for sending nothing (idle) or not finishing their first request headers in time (headers)',
    labelNames: ['reason'],
    registers: [registry],
    collect() {
      this.reset();
      this.inc({ reason: 'idle' }, stats.timedOut.idle);
      this.inc({ reason: 'headers' }, stats.timedOut.headers);
    },
  });
}
