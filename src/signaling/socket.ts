/**
 * One WebSocket, from upgrade to close: frames in, validated, handed to the hub; hub messages
 * out as JSON. The first frame decides the dialect: the seed's `push_init`/`pull_init` switch the
 * socket to the legacy adapter (when `--legacy` is on); anything else is lancast's protocol.
 */
import type { Logger } from 'pino';
import type { WebSocket } from 'ws';
import type { Hub } from './hub.js';
import { isLegacyOpening, LegacySession } from './legacy.js';
import type { Peer, PeerLink } from './peer.js';
import { CloseCode, parseClientMessage, type ServerMessage } from './protocol.js';

export interface SocketOptions {
  hub: Hub;
  logger: Logger;
  /** Accept the seed's protocol. */
  legacy: boolean;
  /** Remote address, for logs and limits. */
  address: string;
  /** Sustained messages per second allowed (bursts of twice that). */
  messagesPerSecond?: number;
}

/**
 * A flooding socket is closed (1008) once this many of its messages were refused within about
 * FLOOD_WINDOW_S: each refusal is a strike, and strikes fade at FLOOD_CLOSE_AFTER per window.
 * Strikes are not forgiven by the odd message that gets through, so a flood the server reads
 * slowly (a busy machine refills the bucket as it goes) is closed too; a client a little over the
 * rate is only told to slow down.
 */
const FLOOD_CLOSE_AFTER = 200;
const FLOOD_WINDOW_S = 5;

/** Seconds between heartbeats; a socket that misses one is closed, so state never lingers. */
export const HEARTBEAT_MS = 5_000;

class WsLink implements PeerLink {
  readonly #ws: WebSocket;
  readonly address: string;
  /** Set once the first frame shows the seed's protocol: hub messages are translated for it. */
  legacy: LegacySession | undefined;
  constructor(ws: WebSocket, address: string) {
    this.#ws = ws;
    this.address = address;
  }
  send(msg: ServerMessage): void {
    if (this.legacy) return this.legacy.deliver(msg);
    if (this.#ws.readyState === this.#ws.OPEN) this.#ws.send(JSON.stringify(msg));
  }
  sendRaw(data: unknown): void {
    if (this.#ws.readyState === this.#ws.OPEN) this.#ws.send(JSON.stringify(data));
  }
  close(code: number, reason: string): void {
    if (this.#ws.readyState === this.#ws.OPEN || this.#ws.readyState === this.#ws.CONNECTING) {
      this.#ws.close(code, reason);
    }
  }
}

export function handleSocket(ws: WebSocket, options: SocketOptions): void {
  const { hub, logger, address } = options;
  const link = new WsLink(ws, address);
  const peer: Peer = hub.connect(link);
  let first = true;
  let alive = true;

  const heartbeat = setInterval(() => {
    if (!alive) {
      logger.debug({ peer: peer.id }, 'heartbeat missed; closing socket');
      ws.terminate();
      return;
    }
    alive = false;
    ws.ping();
  }, HEARTBEAT_MS);
  heartbeat.unref();
  ws.on('pong', () => (alive = true));

  // Token bucket: a burst of 2x the rate, refilled continuously.
  const rate = options.messagesPerSecond ?? 200;
  let tokens = rate * 2;
  let refilled = Date.now();
  let refusedInARow = 0;
  let strikes = 0;

  ws.on('message', (data, isBinary) => {
    // Once the server has closed this socket (replaced, refused, flooding) nothing it still sends
    // counts: a replaced broadcaster must not rejoin and knock out the one that replaced it.
    if (ws.readyState !== ws.OPEN) return;
    alive = true;
    const now = Date.now();
    const elapsed = (now - refilled) / 1000;
    tokens = Math.min(rate * 2, tokens + elapsed * rate);
    strikes = Math.max(0, strikes - (elapsed * FLOOD_CLOSE_AFTER) / FLOOD_WINDOW_S);
    refilled = now;
    if (tokens < 1) {
      refusedInARow++;
      if (++strikes >= FLOOD_CLOSE_AFTER) return link.close(1008, 'too many messages');
      if (refusedInARow === 1 || refusedInARow % 50 === 0) {
        hub.reject(peer, 'rate-limited', `more than ${rate} messages per second; slow down`);
      }
      return;
    }
    tokens--;
    refusedInARow = 0;
    if (isBinary) return hub.reject(peer, 'bad-message', 'binary frames are not accepted');
    const text = (data as Buffer).toString(); // text frames arrive as one Buffer ('nodebuffer')
    if (first) {
      first = false;
      const opening = isLegacyOpening(text);
      if (opening) {
        if (!options.legacy) {
          hub.reject(peer, 'legacy-disabled', 'the seed protocol needs lancast --legacy');
          link.close(CloseCode.refused, 'legacy protocol disabled');
          return;
        }
        link.legacy = new LegacySession(hub, peer, (m) => link.sendRaw(m), logger);
      }
    }
    if (link.legacy) return link.legacy.receive(text);
    const parsed = parseClientMessage(text);
    if (!parsed.ok) return hub.reject(peer, parsed.code, parsed.message, parsed.ref);
    hub.receive(peer, parsed.message);
  });

  ws.on('error', (err) => {
    // ws closes the socket itself (e.g. 1009 for an oversized frame); just record why.
    logger.debug({ peer: peer.id, err: err.message }, 'socket error');
  });

  ws.on('close', () => {
    clearInterval(heartbeat);
    link.legacy?.close();
    hub.disconnect(peer);
  });

}
