/**
 * The viewer's side: answers the broadcaster's offers and hands the page a MediaStream to play.
 *
 * Make-before-break: a new connection (the broadcaster came back, the server restarted, a relay
 * took over) plays only once it is up; the old one keeps playing until then.
 */
import { Connection } from './connection.js';
import { Emitter } from './emitter.js';
import { SignalingClient } from './signaling-client.js';
import { clusterAlternates } from './cluster-nodes.js';
import type { ErrorMessage, IceServer, RoomMessage, ServerMessage } from '../signaling/protocol.js';

/** From the relay: the broadcast's simulcast layers (heights, lowest first), the one sent, and why. */
export interface QualityStatus {
  layers: number[];
  height: number;
  reason: Extract<ServerMessage, { type: 'quality' }>['reason'];
}
import { RELAY_PEER_ID } from '../signaling/relay-peer.js';

/** `live` here means media is connected; the page says "live" once a frame is on screen. */
export type ViewerState = 'connecting' | 'waiting' | 'live' | 'offline' | 'error';

export type ViewerEvents = {
  state: [ViewerState];
  /** Play this stream (replaces the previous one). */
  stream: [MediaStream];
  room: [RoomMessage];
  error: [ErrorMessage];
  /** Signaling connection lost (true) or back (false). */
  reconnecting: [boolean];
  /** The relay's layers and which one plays (relayed simulcast broadcasts only). */
  quality: [QualityStatus];
};

export interface ViewerOptions {
  room: string;
  password?: string;
  url?: string;
}

/** A connection stuck in `disconnected` this long asks the broadcaster for a new one. */
const DISCONNECTED_RESTART_MS = 4_000;
/** After a server restart the broadcaster may take this long to come back before we give up. */
const REJOIN_GRACE_MS = 15_000;
/** A new connection waits at most this long to play before it replaces the playing one. */
const FIRST_FRAME_WAIT_MS = 3_000;
/** How long an answer to the relay may wait for this browser's ICE gathering. */
const RELAY_GATHER_MS = 150;

export class Viewer extends Emitter<ViewerEvents> {
  readonly signaling: SignalingClient;
  #iceServers: IceServer[] = [];
  #current: { conn: Connection; stream: MediaStream } | undefined;
  #pending: { conn: Connection; stream: MediaStream } | undefined;
  #state: ViewerState = 'connecting';
  readonly #roomName: string;
  /** Whether the room has a broadcaster, as last heard. */
  #roomLive = false;
  #everLive = false;
  #graceUntil = 0;
  #restartTimer: ReturnType<typeof setTimeout> | undefined;
  /** Called when the playing connection stops playing: a new one waiting for its first frame goes now. */
  readonly #onCurrentDown = new Set<() => void>();
  /** When each step of the first connection happened (performance.now()), for benchmarks. */
  readonly timeline: Record<string, number> = {};

  constructor(options: ViewerOptions) {
    super();
    this.#roomName = options.room;
    this.signaling = new SignalingClient({
      url: options.url,
      // In a cluster, the page carries on through another node when its own goes away.
      alternates: clusterAlternates(options.room),
      join: { type: 'join', role: 'viewer', room: options.room, ...(options.password ? { password: options.password } : {}) },
    });
    this.signaling.on('welcome', (welcome, { rejoined }) => {
      this.#iceServers = welcome.iceServers;
      this.#mark('welcome');
      this.emit('reconnecting', false);
      if (rejoined && this.#mediaUp()) this.#graceUntil = Date.now() + REJOIN_GRACE_MS;
      this.#onLive(welcome.live);
    });
    this.signaling.on('message', (msg) => void this.#handle(msg));
    this.signaling.on('error', (err, { fatal }) => {
      if (fatal) {
        this.#closeAll();
        this.#setState('error');
      }
      this.emit('error', err);
    });
    this.signaling.on('disconnected', () => {
      this.emit('reconnecting', true);
      if (!this.#mediaUp()) this.#setState('connecting');
    });
  }

  get state(): ViewerState {
    return this.#state;
  }

  /** The connection whose media is playing, for stats. */
  get peerConnection(): RTCPeerConnection | undefined {
    return this.#current?.conn.pc;
  }

  /** The viewer's wish among the relay's layers: a height, or 'auto'; kept for later connections. */
  #quality: 'auto' | number = 'auto';
  /** How tall the page's player shows the picture, in device pixels (0: not known); kept for later connections. */
  #shown = 0;

  setQuality(choice: 'auto' | number): void {
    this.#quality = choice;
    this.#tellQuality();
  }

  /** The player now shows the picture `height` device pixels tall: auto sends no larger layer than that needs. */
  setShownHeight(height: number): void {
    const h = Math.max(0, Math.round(height));
    if (h === this.#shown) return;
    this.#shown = h;
    this.#tellQuality();
  }

  #tellQuality(): void {
    for (const entry of [this.#current, this.#pending]) {
      if (entry?.conn.peer === RELAY_PEER_ID) this.#sendQuality(entry.conn.cid);
    }
  }

  #sendQuality(cid: string): void {
    this.signaling.send({ type: 'quality', to: RELAY_PEER_ID, cid, choice: this.#quality, ...(this.#shown > 0 ? { shown: this.#shown } : {}) });
  }

  start(): void {
    this.signaling.start();
  }

  stop(): void {
    this.signaling.stop();
    this.#closeAll();
  }

  /** Retry with another password after a refusal. */
  retry(password: string): void {
    this.signaling.setJoin({ type: 'join', role: 'viewer', room: this.#roomName, password });
    this.#setState('connecting');
    this.signaling.start();
  }

  #mediaUp(): boolean {
    const s = this.#current?.conn.pc.connectionState;
    return s === 'connected' || s === 'connecting' || s === 'new';
  }

  #onLive(live: boolean): void {
    this.#roomLive = live;
    if (live) {
      this.#everLive = true;
      if (!this.#mediaUp()) this.#setState('connecting');
      return;
    }
    if (Date.now() < this.#graceUntil && this.#mediaUp()) {
      // The server restarted and the broadcaster may not have rejoined yet: keep playing a while.
      setTimeout(() => {
        if (!this.#roomLive) this.#onLive(false);
      }, this.#graceUntil - Date.now() + 50);
      return;
    }
    this.#closeAll();
    this.#setState(this.#everLive ? 'offline' : 'waiting');
  }

  async #handle(msg: ServerMessage): Promise<void> {
    switch (msg.type) {
      case 'room':
        this.emit('room', msg);
        if (msg.live !== this.#roomLive) this.#onLive(msg.live);
        return;
      case 'offer':
        return this.#answer(msg.from, msg.cid, msg.sdp);
      case 'quality':
        if (msg.from === RELAY_PEER_ID && [this.#current, this.#pending].some((c) => c?.conn.cid === msg.cid)) {
          this.emit('quality', { layers: msg.layers, height: msg.height, reason: msg.reason });
        }
        return;
      case 'candidate': {
        const target = [this.#pending, this.#current].find((c) => c?.conn.cid === msg.cid && c.conn.peer === msg.from);
        return target?.conn.addRemoteCandidate(msg.candidate);
      }
      default:
        return;
    }
  }

  async #answer(from: string, cid: string, sdp: string): Promise<void> {
    const missing = undecodableVideo(sdp);
    if (missing) {
      this.#closeAll();
      this.#setState('error');
      this.emit('error', { type: 'error', code: 'unsupported-codec', message: missing });
      return;
    }
    // A re-offer on a connection we have (ICE restart, renegotiation) is applied in place.
    const existing = [this.#current, this.#pending].find((c) => c?.conn.cid === cid && c.conn.peer === from);
    const entry = existing ?? { conn: this.#newConnection(from, cid), stream: new MediaStream() };
    if (!existing) {
      this.#pending?.conn.close();
      this.#pending = entry;
    }
    const { conn } = entry;
    this.#mark('offer');
    try {
      await conn.applyRemote({ type: 'offer', sdp });
      const answer = await conn.pc.createAnswer();
      // A browser may list a codec it cannot take in this form (Firefox and H.264 Baseline
      // without OpenH264): its answer then turns the video down. Say so rather than connect to
      // a stream without a picture.
      const refused = refusedVideo(sdp, answer.sdp ?? '');
      if (refused) {
        conn.close();
        if (this.#pending === entry) this.#pending = undefined;
        this.#closeAll();
        this.#setState('error');
        this.emit('error', { type: 'error', code: 'unsupported-codec', message: refused });
        return;
      }
      await conn.pc.setLocalDescription(answer);
      // To the relay, the answer goes with this browser's candidates in it (host candidates gather
      // in a few ms on a LAN): the relay can check them at once instead of waiting for trickle.
      if (from === RELAY_PEER_ID) await conn.gathered(RELAY_GATHER_MS);
      if (conn.closed) return;
      this.signaling.send({ type: 'answer', to: from, cid, sdp: conn.pc.localDescription!.sdp });
      if (from === RELAY_PEER_ID && (this.#quality !== 'auto' || this.#shown > 0)) this.#sendQuality(cid);
      this.#mark('answer');
      conn.localDescriptionSent();
    } catch (err) {
      console.error('lancast: could not answer the offer', err);
      this.signaling.send({ type: 'restart', to: from });
    }
  }

  #newConnection(from: string, cid: string): Connection {
    const conn = new Connection({
      cid,
      peer: from,
      config: { iceServers: this.#iceServers },
      sendCandidate: (candidate) => this.signaling.send({ type: 'candidate', to: from, cid, candidate }),
    });
    conn.pc.ontrack = (event) => {
      const entry = this.#pending?.conn === conn ? this.#pending : this.#current?.conn === conn ? this.#current : undefined;
      if (!entry) return;
      entry.stream.addTrack(event.track);
      // Nothing is playing: show the new stream at once rather than waiting for `connected`.
      if (entry === this.#pending && !this.#mediaUp()) this.#promote();
      else if (entry === this.#current) this.emit('stream', entry.stream);
    };
    conn.pc.onconnectionstatechange = () => this.#onConnectionState(conn);
    return conn;
  }

  #onConnectionState(conn: Connection): void {
    const state = conn.pc.connectionState;
    if (state === 'connected') this.#mark('connected');
    if (this.#pending?.conn === conn && state === 'connected') void this.#promoteOnFirstFrame(conn);
    if (this.#current?.conn !== conn) return;
    clearTimeout(this.#restartTimer);
    if (state === 'connected') {
      this.#graceUntil = 0;
      return this.#setState('live');
    }
    if (!this.#mediaUp()) for (const wake of [...this.#onCurrentDown]) wake();
    if (state === 'failed') return this.#requestRestart(conn.peer);
    if (state === 'disconnected') {
      this.#restartTimer = setTimeout(() => {
        if (this.#current?.conn === conn && conn.pc.connectionState !== 'connected') this.#requestRestart(conn.peer);
      }, DISCONNECTED_RESTART_MS);
    }
  }

  /**
   * Something is playing already: switch only once the new connection plays, so the picture
   * never goes blank (at most FIRST_FRAME_WAIT_MS; at once if the old one stops).
   */
  async #promoteOnFirstFrame(conn: Connection): Promise<void> {
    const video = conn.pc.getReceivers().find((r) => r.track.kind === 'video')?.track;
    if (video && this.#pending?.conn === conn && this.#mediaUp()) {
      let done!: () => void;
      const stop = new Promise<void>((resolve) => (done = resolve));
      const timer = setTimeout(done, FIRST_FRAME_WAIT_MS);
      this.#onCurrentDown.add(done);
      await playing(video, stop);
      clearTimeout(timer);
      this.#onCurrentDown.delete(done);
    }
    if (this.#pending?.conn === conn) this.#promote();
  }

  #promote(): void {
    const next = this.#pending;
    if (!next) return;
    this.#pending = undefined;
    const previous = this.#current;
    this.#current = next;
    this.emit('stream', next.stream);
    if (previous) {
      // Tell the other end (broadcaster or relay) it can stop sending on the old connection.
      this.signaling.send({ type: 'hangup', to: previous.conn.peer, cid: previous.conn.cid });
      previous.conn.close();
    }
    if (next.conn.pc.connectionState === 'connected') this.#setState('live');
    else this.#setState('connecting');
  }

  #requestRestart(broadcaster: string): void {
    if (this.#pending) return; // a new connection is already on its way
    this.signaling.send({ type: 'restart', to: broadcaster });
  }

  #closeAll(): void {
    clearTimeout(this.#restartTimer);
    this.#current?.conn.close();
    this.#pending?.conn.close();
    this.#current = undefined;
    this.#pending = undefined;
  }

  #mark(step: string): void {
    this.timeline[step] ??= Math.round(performance.now());
  }

  #setState(state: ViewerState): void {
    if (state === this.#state) return;
    this.#state = state;
    this.emit('state', state);
  }
}

/**
 * Resolves once `track` plays: a detached, muted <video> has shown two of its frames (switching
 * at the first left longer gaps: ~250 ms against ~110 in the relay's auto-switch test), or once
 * `stop` resolves.
 */
async function playing(track: MediaStreamTrack, stop: Promise<void>): Promise<void> {
  const video = document.createElement('video');
  video.muted = true;
  video.playsInline = true;
  const shown = new Promise<void>((resolve) => {
    // Without requestVideoFrameCallback (Firefox before 132): the first frame.
    if (typeof video.requestVideoFrameCallback !== 'function') return video.addEventListener('loadeddata', () => resolve(), { once: true });
    let frames = 0;
    const onFrame = () => (++frames >= 2 ? resolve() : video.requestVideoFrameCallback(onFrame));
    video.requestVideoFrameCallback(onFrame);
  });
  video.srcObject = new MediaStream([track]);
  video.play().catch(() => undefined);
  try {
    await Promise.race([shown, stop]);
  } finally {
    video.pause();
    video.srcObject = null;
  }
}

/** The offered video codec when the offer sends video and this browser's answer refuses it (port 0). */
export function refusedVideo(offer: string, answer: string): string | undefined {
  const section = (sdp: string) => sdp.split(/\r?\nm=/).find((s) => s.startsWith('video'));
  const offered = section(offer);
  const answered = section(answer);
  if (!offered || !answered || /^video 0 /.test(offered) || !/^video 0 /.test(answered)) return undefined;
  const codec = [...offered.matchAll(/^a=rtpmap:\d+ ([\w-]+)\//gm)].map((m) => m[1]).find((n) => !['rtx', 'red', 'ulpfec', 'flexfec-03'].includes(n.toLowerCase()));
  return codec ? codec.toUpperCase() : 'VIDEO';
}

/**
 * The video codec of an offer when this browser can decode none of the offered ones (e.g. H.264
 * in a Firefox without OpenH264), so the page can say so instead of connecting forever.
 */
function undecodableVideo(sdp: string): string | undefined {
  const video = sdp.split(/\r?\nm=/).find((section) => section.startsWith('video'));
  if (!video) return undefined;
  const offered = [...video.matchAll(/^a=rtpmap:\d+ ([\w-]+)\//gm)]
    .map((m) => m[1].toLowerCase())
    .filter((name) => !['rtx', 'red', 'ulpfec', 'flexfec-03'].includes(name));
  const caps = globalThis.RTCRtpReceiver?.getCapabilities?.('video')?.codecs;
  if (!caps || offered.length === 0) return undefined;
  const decodable = new Set(caps.map((c) => c.mimeType.split('/')[1].toLowerCase()));
  return offered.some((name) => decodable.has(name)) ? undefined : offered[0].toUpperCase();
}
