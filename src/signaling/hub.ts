/**
 * The signaling hub: rooms, who is in them, and which messages may pass between whom.
 *
 * Reads top to bottom like the protocol: a peer joins (key and password checked here), then
 * offers, answers and candidates are routed only along broadcaster <-> viewer edges of one room.
 * Nothing a client sends can reach another room, another viewer, or a peer it names wrongly.
 */
import type { Logger } from 'pino';
import { RelayError, type MediaRelay } from '../relay/api.js';
import { AttemptLimiter, type Verdict } from './attempts.js';
import { wantedMode } from './mode-policy.js';
import { Peer, type PeerLink } from './peer.js';
import { CloseCode, type ClientMessage, type ErrorCode, type IceServer, type Mode } from './protocol.js';
import { RelayBridge } from './relay-bridge.js';
import { RELAY_PEER_ID } from './relay-peer.js';
import { Room } from './room.js';
import { candidateProblem, sdpProblem } from './sdp-check.js';

export interface HubOptions {
  /** The publish key every room's broadcaster must present. */
  publishKey: string;
  /** When set, viewers must present it. */
  viewPassword?: string | undefined;
  /** The configured mode (`auto` runs p2p until the relay takes rooms over). */
  mode: Mode;
  iceServers: IceServer[];
  logger: Logger;
  /** The media relay; without it every room is p2p. */
  relay?: MediaRelay;
  /** `auto` rooms move to the relay when their viewers exceed this. */
  relayThreshold?: number;
  /** Viewers per room and rooms per server. */
  maxViewers?: number;
  maxRooms?: number;
  /** Counters for /metrics. */
  observer?: HubObserver;
  /** Rooms being recorded: the relay must receive their media. */
  recorded?: (room: string) => boolean;
  /** A room's view password known elsewhere (the cluster: the room's origin node set it). */
  viewPasswordOf?: (room: string) => string | undefined;
}

export interface HubObserver {
  message(type: string): void;
  error(code: ErrorCode): void;
}

export interface JoinOptions {
  /** The legacy adapter's pusher: the seed's pages know no key, and stream peer to peer only. */
  trusted?: boolean;
}

/** Why a WHIP or WHEP request was refused: the HTTP handlers turn the code into a status. */
export class MediaRequestError extends Error {
  readonly code: 'not-live' | 'p2p-only' | 'busy' | 'unavailable' | 'bad-sdp';
  constructor(code: MediaRequestError['code'], message: string) {
    super(message);
    this.code = code;
  }
}

type JoinMessage = Extract<ClientMessage, { type: 'join' }>;

export type { Verdict } from './attempts.js';

export class Hub {
  readonly #options: HubOptions;
  readonly #rooms = new Map<string, Room>();
  readonly #peers = new Map<string, Peer>();
  readonly #attempts = new AttemptLimiter();
  /** Speaks for the relay, when there is one. */
  readonly #bridge: RelayBridge | undefined;
  #closing = false;

  constructor(options: HubOptions) {
    this.#options = options;
    this.#bridge = options.relay && new RelayBridge(options.relay, options.logger);
  }

  get rooms(): ReadonlyMap<string, Room> {
    return this.#rooms;
  }

  get peerCount(): number {
    return this.#peers.size;
  }

  /** Re-evaluate a room's media path (e.g. its recording started or stopped). */
  refreshMode(room: Room): void {
    if (this.#rooms.get(room.name) === room) this.#updateMode(room, true);
  }

  connect(link: PeerLink): Peer {
    const peer = new Peer(link);
    this.#peers.set(peer.id, peer);
    return peer;
  }

  /** Report a message that could not be parsed. */
  reject(peer: Peer, code: ErrorCode, message: string, ref?: string): void {
    this.#options.observer?.error(code);
    peer.error(code, message, ref);
  }

  receive(peer: Peer, msg: ClientMessage, options: JoinOptions = {}): void {
    this.#options.observer?.message(msg.type);
    if (this.#closing) return this.reject(peer, 'shutting-down', 'the server is shutting down');
    switch (msg.type) {
      case 'join':
        return this.#join(peer, msg, options);
      case 'leave':
        return this.#leave(peer);
      case 'ping':
        return peer.send({ type: 'pong' });
      case 'offer':
      case 'answer':
      case 'candidate':
      case 'restart':
      case 'hangup':
        if (msg.to === RELAY_PEER_ID) return this.#toRelay(peer, msg);
        return this.#route(peer, msg);
      case 'quality':
        if (msg.to === RELAY_PEER_ID) return this.#toRelay(peer, msg);
        return this.reject(peer, 'not-allowed', 'only the relay has layers to choose from', msg.type);
    }
  }

  disconnect(peer: Peer): void {
    if (!this.#peers.delete(peer.id)) return;
    this.#leave(peer);
  }

  /** Tell every peer the server is going away. */
  shutdown(): void {
    this.#closing = true;
    for (const room of this.#rooms.values()) {
      room.broadcast({ type: 'room', live: false, viewers: 0, mode: room.mode, reason: 'server shutting down' });
      room.close();
    }
    for (const peer of this.#peers.values()) peer.link.close(1001, 'server shutting down');
  }

  /**
   * May this address present a secret now, and is it right? Wrong answers from one address are
   * counted, and past a few it must wait before trying again (see AttemptLimiter).
   */
  checkSecret(address: string, given: string | undefined, accepted: string[]): Verdict {
    return this.#attempts.check(address, given, accepted);
  }

  /** The passwords that let a viewer into a room: the server's and the room's own. */
  viewPasswords(roomName: string): string[] {
    return [this.#options.viewPassword, this.#rooms.get(roomName)?.viewPassword, this.#options.viewPasswordOf?.(roomName)].filter((p): p is string => p !== undefined);
  }

  #refuse(peer: Peer, verdict: Extract<Verdict, { ok: false }>, wrong: ErrorCode, message: string): void {
    if (verdict.code === 'too-many-attempts') {
      this.#options.observer?.error('too-many-attempts');
      const seconds = Math.ceil(verdict.retryAfterMs / 1000);
      peer.send({ type: 'error', code: 'too-many-attempts', message: `too many wrong attempts; try again in ${seconds} s`, ref: 'join', retryAfterMs: verdict.retryAfterMs });
      return;
    }
    this.reject(peer, wrong, message, 'join');
  }

  #join(peer: Peer, msg: JoinMessage, options: JoinOptions): void {
    if (peer.room) return this.reject(peer, 'already-joined', `already in room "${peer.room.name}"`, 'join');
    const { logger, publishKey } = this.#options;
    const address = peer.link.address;
    const existing = this.#rooms.get(msg.room);
    if (msg.role === 'broadcaster' && !options.trusted) {
      const verdict = this.checkSecret(address, msg.key, [publishKey]);
      if (!verdict.ok) {
        logger.warn({ room: msg.room, address }, 'publish refused: wrong key');
        return this.#refuse(peer, verdict, 'bad-key', 'wrong publish key');
      }
    }
    if (msg.role === 'viewer') {
      const passwords = this.viewPasswords(msg.room);
      if (passwords.length > 0) {
        const verdict = this.checkSecret(address, msg.password, passwords);
        if (!verdict.ok) return this.#refuse(peer, verdict, 'bad-password', 'wrong view password');
      }
      if (existing && existing.viewers.size >= (this.#options.maxViewers ?? Infinity)) {
        return this.reject(peer, 'room-full', `room "${msg.room}" is full (${existing.viewers.size} viewers)`, 'join');
      }
    }
    const room = this.#roomFor(msg.room);
    if (!room) return this.reject(peer, 'too-many-rooms', `this server holds ${this.#rooms.size} rooms already`, 'join');
    if (msg.role === 'broadcaster') {
      // The seed's push page can only stream peer to peer.
      this.#seat(peer, room, { mode: options.trusted ? 'p2p' : (msg.mode ?? this.#options.mode), whip: false, viewPassword: msg.viewPassword });
      return;
    }
    peer.role = 'viewer';
    peer.room = room;
    room.viewers.set(peer.id, peer);
    logger.debug({ room: room.name, peer: peer.id }, 'viewer joined');
    this.#welcome(peer, room);
    if (!this.#updateMode(room, true)) this.#serve(room, peer);
    room.announce(false);
  }

  /** The room of that name, made when the server may hold another; undefined when it may not. */
  #roomFor(name: string): Room | undefined {
    let room = this.#rooms.get(name);
    if (!room) {
      if (this.#rooms.size >= (this.#options.maxRooms ?? Infinity)) return undefined;
      room = new Room(name, this.#options.mode);
      this.#rooms.set(room.name, room);
    }
    return room;
  }

  /** `peer` becomes the room's broadcaster, taking over from any previous one. */
  #seat(peer: Peer, room: Room, how: { mode: Mode; whip: boolean; viewPassword: string | undefined }): void {
    peer.role = 'broadcaster';
    peer.room = room;
    const previous = room.broadcaster;
    if (previous) {
      // The key holder wins: a reloaded page replaces its own stale socket.
      previous.room = undefined;
      previous.role = undefined;
      previous.error('replaced', 'another broadcaster with the publish key took over this room');
      previous.link.close(CloseCode.replaced, 'replaced by another broadcaster');
      // Its relay leg goes too; the newcomer publishes afresh and viewers are served again.
      this.#bridge?.unpublish(room);
    }
    room.broadcaster = peer;
    room.viewPassword = how.viewPassword;
    room.configuredMode = how.mode;
    room.whip = how.whip;
    this.#options.logger.info({ room: room.name, peer: peer.id, address: peer.link.address, mode: room.configuredMode }, 'broadcaster joined');
    this.#welcome(peer, room);
    if (!this.#updateMode(room, false)) for (const viewer of room.viewers.values()) this.#serve(room, viewer);
    room.announce(true);
  }

  /**
   * WHIP: a broadcaster without a socket publishes to the relay; the answer is returned. It leaves
   * the room when its media ends, when `stopWhip` is called, or when another broadcaster takes over.
   */
  async publishWhip(roomName: string, offerSdp: string, address: string): Promise<{ id: string; answer: string }> {
    const bridge = this.#bridge;
    if (!bridge || this.#closing) throw new MediaRequestError('unavailable', this.#closing ? 'the server is shutting down' : 'this server has no relay');
    if (this.#rooms.get(roomName)?.broadcaster) throw new MediaRequestError('busy', `room "${roomName}" already has a broadcaster`);
    const room = this.#roomFor(roomName);
    if (!room) throw new MediaRequestError('unavailable', `this server holds ${this.#rooms.size} rooms already`);
    // Nothing reaches a WHIP publisher; being closed (taken over) ends its session.
    const peer: Peer = this.connect({ address, send: () => undefined, close: () => this.disconnect(peer) });
    this.#seat(peer, room, { mode: this.#options.mode, whip: true, viewPassword: undefined });
    const publication = bridge.publish(room, peer, peer.id, offerSdp, false);
    publication.once('closed', () => this.disconnect(peer));
    try {
      return { id: peer.id, answer: await publication.answer };
    } catch (err) {
      this.disconnect(peer);
      throw new MediaRequestError('bad-sdp', (err as Error).message);
    }
  }

  /** End a WHIP session; false when the room has no WHIP broadcaster of that id. */
  stopWhip(roomName: string, id: string): boolean {
    const broadcaster = this.#rooms.get(roomName)?.broadcaster;
    if (!broadcaster || broadcaster.id !== id || !broadcaster.room?.whip) return false;
    this.disconnect(broadcaster);
    return true;
  }

  /**
   * WHEP: a player's offer for a live room, answered once the room is relayed (an `auto` room moves
   * to the relay for it). Resolves with the answer and the player's session id.
   */
  async play(roomName: string, offerSdp: string): Promise<{ id: string; answer: string }> {
    const room = this.#rooms.get(roomName);
    if (!room?.live || !this.#bridge) throw new MediaRequestError('not-live', `room "${roomName}" is not live`);
    if (room.configuredMode === 'p2p') throw new MediaRequestError('p2p-only', `room "${roomName}" streams peer to peer only; WHEP needs the relay`);
    try {
      return await this.#bridge.play(room, offerSdp, () => this.refreshMode(room));
    } catch (err) {
      if (err instanceof RelayError && err.code === 'not-live') throw new MediaRequestError('not-live', `room "${roomName}" is not live`);
      throw new MediaRequestError('bad-sdp', (err as Error).message);
    }
  }

  /**
   * Another lancast node pulls a live room: the relay offers, `accept` takes the node's answer. The
   * pull counts as a WHEP player (it moves an `auto` room to the relay and keeps it from pausing).
   */
  async pull(roomName: string): Promise<{ id: string; offer: string; accept: (answerSdp: string) => Promise<void> }> {
    const room = this.#rooms.get(roomName);
    if (!room?.live || !this.#bridge) throw new MediaRequestError('not-live', `room "${roomName}" is not live`);
    if (room.configuredMode === 'p2p') throw new MediaRequestError('p2p-only', `room "${roomName}" streams peer to peer only`);
    try {
      return await this.#bridge.pull(room, () => this.refreshMode(room));
    } catch (err) {
      if (err instanceof RelayError && err.code === 'not-live') throw new MediaRequestError('not-live', `room "${roomName}" is not live`);
      throw new MediaRequestError('bad-sdp', (err as Error).message);
    }
  }

  /** End a WHEP session; false when there is none of that id in the room. */
  stopPlayer(roomName: string, id: string): boolean {
    const player = this.#rooms.get(roomName)?.players.get(id);
    player?.close();
    return player !== undefined;
  }

  /** Get a viewer its media: an offer from the broadcaster (p2p) or from the relay. */
  #serve(room: Room, viewer: Peer): void {
    if (!room.broadcaster) return;
    if (room.mode === 'relay') this.#bridge?.serve(room, viewer);
    else room.broadcaster.send({ type: 'viewer-joined', id: viewer.id });
  }

  /**
   * Move a room between p2p and relay (see mode-policy.ts). Viewers switch make-before-break: the
   * relay offers them a new connection while the broadcaster's keeps playing; each viewer hangs up
   * the old one once the new one shows a frame. Returns true when the mode changed (and viewers
   * were served).
   */
  #updateMode(room: Room, announce: boolean): boolean {
    const { mode, reason } = wantedMode({
      relay: this.#bridge !== undefined,
      whip: room.whip,
      recorded: this.#options.recorded?.(room.name) ?? false,
      players: room.players.size,
      configured: room.configuredMode,
      viewers: room.viewers.size,
      current: room.mode,
      threshold: this.#options.relayThreshold ?? 4,
    });
    room.reason = reason;
    if (mode === room.mode) return false;
    room.mode = mode;
    this.#options.logger.info({ room: room.name, mode, reason }, 'room mode');
    if (mode === 'p2p') this.#bridge?.unpublish(room);
    for (const viewer of room.viewers.values()) this.#serve(room, viewer);
    if (announce) room.announce(true);
    return true;
  }

  /** Signaling addressed to the relay. */
  #toRelay(peer: Peer, msg: Extract<ClientMessage, { to: string }>): void {
    const room = peer.room;
    const bridge = this.#bridge;
    if (!room) return this.reject(peer, 'not-joined', 'send "join" first', msg.type);
    if (!bridge || room.mode !== 'relay') return this.reject(peer, 'no-such-peer', 'this room is not relayed', msg.type);
    const problem = this.#sanity(msg);
    if (problem) return this.reject(peer, 'bad-message', problem, msg.type);
    if (peer === room.broadcaster) {
      switch (msg.type) {
        case 'offer': {
          const { cid } = msg;
          bridge.publish(room, peer, cid, msg.sdp, true).answer.then(
            (sdp) => peer.room === room && peer.send({ type: 'answer', from: RELAY_PEER_ID, cid, sdp }),
            (err: Error) => this.reject(peer, 'bad-message', `the relay could not use that offer: ${err.message}`, 'offer'),
          );
          return;
        }
        case 'candidate':
          return bridge.publisherCandidate(room, msg.cid, msg.candidate);
        case 'hangup':
          return bridge.unpublish(room, msg.cid);
        default:
          return this.reject(peer, 'not-allowed', `a broadcaster cannot send "${msg.type}" to the relay`, msg.type);
      }
    }
    if (msg.type === 'offer') return this.reject(peer, 'not-allowed', 'a viewer cannot send "offer" to the relay', msg.type);
    bridge.fromViewer(room, peer, msg);
  }

  /** SDP and candidates a browser or the relay would choke on never leave the hub. */
  #sanity(msg: Extract<ClientMessage, { to: string }>): string | undefined {
    if (msg.type === 'offer' || msg.type === 'answer') return sdpProblem(msg.sdp);
    if (msg.type === 'candidate' && msg.candidate) return candidateProblem(msg.candidate.candidate);
    return undefined;
  }

  #welcome(peer: Peer, room: Room): void {
    peer.send({
      type: 'welcome',
      id: peer.id,
      role: peer.role!,
      room: room.name,
      mode: room.mode,
      live: room.live,
      viewers: room.viewers.size,
      iceServers: this.#options.iceServers,
    });
  }

  #leave(peer: Peer): void {
    const room = peer.room;
    if (!room) return;
    peer.room = undefined;
    if (room.broadcaster === peer) {
      room.broadcaster = undefined;
      room.whip = false;
      this.#bridge?.unpublish(room);
      this.#options.logger.info({ room: room.name, peer: peer.id }, 'broadcaster left');
      room.announce(true);
    } else if (room.viewers.delete(peer.id)) {
      this.#bridge?.drop(room, peer.id);
      room.broadcaster?.send({ type: 'viewer-left', id: peer.id });
      this.#updateMode(room, true);
      room.announce(false);
    }
    peer.role = undefined;
    if (room.empty) {
      room.close();
      this.#rooms.delete(room.name);
    }
  }

  /** Offers, answers, candidates and restarts: only broadcaster <-> viewer, only in one room. */
  #route(peer: Peer, msg: Extract<ClientMessage, { type: 'offer' | 'answer' | 'candidate' | 'restart' | 'hangup' }>): void {
    const room = peer.room;
    if (!room) return this.reject(peer, 'not-joined', 'send "join" first', msg.type);
    const problem = this.#sanity(msg);
    if (problem) return this.reject(peer, 'bad-message', problem, msg.type);
    const target = room.member(msg.to);
    if (!target || target === peer) {
      return this.reject(peer, 'no-such-peer', `no peer "${msg.to.slice(0, 64)}" in this room`, msg.type);
    }
    const fromBroadcaster = peer === room.broadcaster;
    // Exactly one end of every edge is the broadcaster; offers flow down, answers and restarts up.
    const allowed =
      fromBroadcaster !== (target === room.broadcaster) &&
      (msg.type === 'candidate' ||
        msg.type === 'hangup' ||
        (msg.type === 'offer' && fromBroadcaster) ||
        ((msg.type === 'answer' || msg.type === 'restart') && !fromBroadcaster));
    if (!allowed) return this.reject(peer, 'not-allowed', `a ${peer.role} cannot send "${msg.type}" to that peer`, msg.type);

    switch (msg.type) {
      case 'offer':
      case 'answer':
        return target.send({ type: msg.type, from: peer.id, cid: msg.cid, sdp: msg.sdp });
      case 'candidate':
        return target.send({ type: 'candidate', from: peer.id, cid: msg.cid, candidate: msg.candidate });
      case 'restart':
        return target.send({ type: 'restart', from: peer.id });
      case 'hangup':
        return target.send({ type: 'hangup', from: peer.id, cid: msg.cid });
    }
  }
}
