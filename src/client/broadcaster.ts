/**
 * The broadcaster's side of p2p: one RTCPeerConnection per viewer, kept in a map by the viewer's
 * server-assigned id. Every answer and candidate names its viewer and connection (`from`, `cid`)
 * and is applied to that connection only; the seed's single global `pushRtcCon` cannot happen.
 */
import { Connection, newConnectionId } from './connection.js';
import { Emitter } from './emitter.js';
import { SignalingClient } from './signaling-client.js';
import { clusterAlternates } from './cluster-nodes.js';
import type { VideoSendParameters } from './presets.js';
import { limitVideo, preferCodec, senderFor } from './senders.js';
import { simulcastEncodings, simulcastSuits } from './simulcast.js';
import type { ErrorMessage, IceServer, Mode, RoomMessage, ServerMessage } from '../signaling/protocol.js';
import { RELAY_PEER_ID as RELAY } from '../signaling/relay-peer.js';

export type BroadcasterState = 'connecting' | 'live' | 'reconnecting' | 'stopped' | 'error';

export type BroadcasterEvents = {
  state: [BroadcasterState];
  /** The relay asked to stop sending (nobody watches) or to send again. */
  paused: [boolean];
  room: [RoomMessage];
  error: [ErrorMessage];
};

export interface BroadcasterOptions {
  room: string;
  key: string;
  /** What to send at first; `setTracks` changes it while live. */
  stream: MediaStream;
  url?: string;
  /** Media path for the room (`mode=` on the page); default: the server's. */
  mode?: Mode;
  /** Preferred video codec (`codec=` on the page), e.g. 'h264' or 'vp8'; default: the browser's. */
  codec?: string;
  /** Simulcast to the relay (simulcast.ts); `simulcast=0` on the page turns it off. Default: on. */
  simulcast?: boolean;
  /** A password this room's viewers must give. */
  viewPassword?: string;
}

/** After the server comes back, connections of the old session get this long to be replaced. */
const STALE_GRACE_MS = 15_000;

export class Broadcaster extends Emitter<BroadcasterEvents> {
  readonly signaling: SignalingClient;
  /** The stream the tracks are announced in (one msid for both kinds). */
  readonly #stream = new MediaStream();
  /** The tracks sent on every connection. */
  #tracks: Record<'audio' | 'video', MediaStreamTrack | null>;
  #iceServers: IceServer[] = [];
  /** Live connections by viewer id. */
  readonly connections = new Map<string, Connection>();
  /** The connection that publishes to the relay, when the room is relayed. */
  publishing: Connection | undefined;
  #mode: string = 'p2p';
  readonly #codec: string | undefined;
  readonly #simulcast: boolean;
  #republishTimer: ReturnType<typeof setTimeout> | undefined;
  /** Connections from before a reconnect, still carrying media until their viewers move over. */
  readonly #stale = new Set<Connection>();
  #state: BroadcasterState = 'connecting';
  #paused = false;
  /** What the relay asked of the publishing connection: stop everything (nobody watches), and the simulcast layers (rids) nobody wants. */
  #relayWants: { paused: boolean; layers: ReadonlySet<string> } = { paused: false, layers: new Set() };
  /** setParameters calls on one connection, one after another (each reads what the last wrote). */
  readonly #sending = new WeakMap<Connection, Promise<void>>();
  /** What every video sender may send (the page's quality preset). */
  #videoParameters: VideoSendParameters | undefined;

  constructor(options: BroadcasterOptions) {
    super();
    this.#tracks = { audio: options.stream.getAudioTracks()[0] ?? null, video: options.stream.getVideoTracks()[0] ?? null };
    this.#codec = options.codec?.toLowerCase();
    this.#simulcast = options.simulcast ?? true;
    this.signaling = new SignalingClient({
      url: options.url,
      // In a cluster, the page carries on through another node when its own goes away.
      alternates: clusterAlternates(options.room),
      join: {
        type: 'join',
        role: 'broadcaster',
        room: options.room,
        key: options.key,
        ...(options.mode ? { mode: options.mode } : {}),
        ...(options.viewPassword ? { viewPassword: options.viewPassword } : {}),
      },
    });
    this.signaling.on('welcome', (welcome, { rejoined }) => {
      this.#iceServers = welcome.iceServers;
      if (rejoined) this.#retireAll();
      this.#setState('live');
      this.#setMode(welcome.mode);
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
      if (this.#state !== 'stopped' && this.#state !== 'error') this.#setState('reconnecting');
    });
  }

  get state(): BroadcasterState {
    return this.#state;
  }

  /** True while the relay has asked this broadcaster to stop sending (nobody is watching). */
  get paused(): boolean {
    return this.#paused;
  }

  start(): void {
    this.#setState('connecting');
    this.signaling.start();
  }

  stop(): void {
    this.signaling.stop();
    this.#closeAll();
    this.#setState('stopped');
  }

  /** The tracks being sent. */
  get tracks(): Readonly<Record<'audio' | 'video', MediaStreamTrack | null>> {
    return this.#tracks;
  }

  /** Switch camera or microphone: every connection's senders get the stream's tracks. */
  replaceStream(stream: MediaStream): Promise<void> {
    return this.setTracks({ audio: stream.getAudioTracks()[0] ?? null, video: stream.getVideoTracks()[0] ?? null });
  }

  /**
   * Send other tracks (another source, camera or microphone) without viewers reconnecting: one
   * replaceTrack per sender, on every viewer's connection (p2p) or on the one upload (relay).
   * `null` stops sending that kind. A kind the connections were made without (no microphone at
   * first) needs a new offer: in place for p2p viewers, a new upload for the relay.
   */
  async setTracks(tracks: Partial<Record<'audio' | 'video', MediaStreamTrack | null>>): Promise<void> {
    this.#tracks = { ...this.#tracks, ...tracks };
    const jobs: Promise<unknown>[] = [];
    let republish = false;
    for (const conn of this.#allConnections()) {
      const paused = conn === this.publishing && this.#paused;
      let renegotiate = false;
      for (const kind of ['audio', 'video'] as const) {
        if (!(kind in tracks)) continue;
        const track = this.#tracks[kind];
        const sender = senderFor(conn.pc, kind);
        if (sender) {
          // A paused upload sends no audio; resuming attaches the current track.
          const next = paused && kind === 'audio' ? null : track;
          if (sender.track !== next) jobs.push(sender.replaceTrack(next).catch((err: unknown) => console.warn('lancast: could not switch a track', err)));
        } else if (track) {
          renegotiate = true;
        }
      }
      if (!renegotiate || this.#stale.has(conn)) continue;
      if (conn === this.publishing) republish = true;
      else jobs.push(this.#reoffer(conn));
    }
    if (republish) void this.#publish();
    await Promise.all(jobs);
  }

  /**
   * Limits for every video sender, now and on connections made later: maxBitrate and
   * maxFramerate per encoding, and whether resolution or frame rate gives way first.
   */
  setVideoParameters(parameters: VideoSendParameters): Promise<void> {
    this.#videoParameters = parameters;
    return Promise.all(this.#allConnections().map((conn) => this.#applyVideoParameters(conn))).then(() => undefined);
  }

  #applyVideoParameters(conn: Connection): Promise<void> {
    const wanted = this.#videoParameters;
    if (!wanted) return Promise.resolve();
    return this.#serialFor(conn, async () => {
      const sender = senderFor(conn.pc, 'video');
      if (sender && !conn.closed) await limitVideo(sender, wanted);
    });
  }

  #serialFor(conn: Connection, job: () => Promise<void>): Promise<void> {
    const next = (this.#sending.get(conn) ?? Promise.resolve()).then(job, job);
    this.#sending.set(conn, next.catch(() => undefined));
    return next;
  }

  #allConnections(): Connection[] {
    return [...this.connections.values(), ...this.#stale, ...(this.publishing ? [this.publishing] : [])];
  }

  /** Add the kinds a connection lacks and offer again on it; the viewer answers in place. */
  async #reoffer(conn: Connection): Promise<void> {
    this.#addTracks(conn);
    await this.#sendOffer(conn);
  }

  #addTracks(conn: Connection): void {
    for (const kind of ['audio', 'video'] as const) {
      const track = this.#tracks[kind];
      if (!track || senderFor(conn.pc, kind)) continue;
      // The relay forwards each viewer the layer its link carries (simulcast.ts); a viewer's own
      // p2p connection is adapted by the browser.
      if (conn.peer === RELAY && this.#simulcast && simulcastSuits(track)) conn.pc.addTransceiver(track, { direction: 'sendonly', streams: [this.#stream], sendEncodings: simulcastEncodings() });
      else conn.pc.addTrack(track, this.#stream);
    }
    if (this.#codec) preferCodec(conn.pc, this.#codec);
  }

  async #handle(msg: ServerMessage): Promise<void> {
    switch (msg.type) {
      case 'room':
        this.#setMode(msg.mode);
        return this.emit('room', msg);
      case 'hangup':
        if (msg.from === RELAY) {
          if (this.publishing?.cid === msg.cid) this.#schedulePublish();
          return;
        }
        if (this.connections.get(msg.from)?.cid === msg.cid) {
          this.connections.get(msg.from)!.close();
          this.connections.delete(msg.from);
        }
        return;
      case 'pause':
        if (msg.from === RELAY && this.publishing?.cid === msg.cid) this.#pause(this.publishing, { ...this.#relayWants, paused: msg.paused === true });
        return;
      case 'layers':
        if (msg.from === RELAY && this.publishing?.cid === msg.cid && Array.isArray(msg.paused)) this.#pause(this.publishing, { ...this.#relayWants, layers: new Set(msg.paused) });
        return;
      case 'viewer-joined':
        return this.#offer(msg.id);
      case 'restart':
        return this.#offer(msg.from);
      case 'viewer-left':
        this.connections.get(msg.id)?.close();
        this.connections.delete(msg.id);
        return;
      case 'answer': {
        const conn = this.#connectionFor(msg.from, msg.cid);
        if (!conn) return;
        try {
          await conn.applyRemote({ type: 'answer', sdp: msg.sdp });
        } catch (err) {
          console.warn('lancast: answer rejected; offering again', err);
          return this.#offer(msg.from);
        }
        return;
      }
      case 'candidate':
        return this.#connectionFor(msg.from, msg.cid)?.addRemoteCandidate(msg.candidate);
      default:
        return;
    }
  }

  #connectionFor(viewer: string, cid: string): Connection | undefined {
    const conn = viewer === RELAY ? this.publishing : this.connections.get(viewer);
    return conn && conn.cid === cid ? conn : undefined;
  }

  /** A fresh connection to one viewer (replacing any it had). */
  async #offer(viewer: string): Promise<void> {
    this.connections.get(viewer)?.close();
    const conn = this.#connect(viewer);
    this.connections.set(viewer, conn);
    conn.pc.onconnectionstatechange = () => {
      if (conn.pc.connectionState === 'failed' && this.connections.get(viewer) === conn) {
        // The viewer notices too and asks for a restart; drop ours so it is not kept twice.
        conn.close();
        this.connections.delete(viewer);
      }
    };
    if (!(await this.#sendOffer(conn)) && this.connections.get(viewer) === conn) this.connections.delete(viewer);
  }

  #connect(peer: string): Connection {
    const conn = new Connection({
      cid: newConnectionId(),
      peer,
      config: { iceServers: this.#iceServers },
      sendCandidate: (candidate) => this.signaling.send({ type: 'candidate', to: peer, cid: conn.cid, candidate }),
    });
    this.#addTracks(conn);
    return conn;
  }

  async #sendOffer(conn: Connection): Promise<boolean> {
    try {
      const offer = await conn.pc.createOffer();
      await conn.pc.setLocalDescription(offer);
      if (conn.closed) return false;
      // The encodings exist once the offer is set: the preset's limits apply from the first frame.
      void this.#applyVideoParameters(conn);
      this.signaling.send({ type: 'offer', to: conn.peer, cid: conn.cid, sdp: conn.pc.localDescription!.sdp });
      conn.localDescriptionSent();
      return true;
    } catch (err) {
      console.error('lancast: could not make an offer', err);
      conn.close();
      return false;
    }
  }

  /**
   * Stop or restart the encoders of the publishing connection: nobody watching means nothing to
   * encode or upload, and a simulcast layer no viewer wants (dynacast, src/relay/dynacast.ts) one
   * encoding less. Restarting an encoder begins with a keyframe, so the first viewer sees a
   * picture at once, and a viewer moved to a layer that was paused gets it as soon as it starts.
   */
  #pause(conn: Connection, wants: { paused: boolean; layers: ReadonlySet<string> }): void {
    this.#relayWants = wants;
    const paused = wants.paused;
    const sends = (encoding: RTCRtpEncodingParameters) => !paused && !(encoding.rid !== undefined && wants.layers.has(encoding.rid));
    void this.#serialFor(conn, async () => {
      let applied = true;
      for (const transceiver of conn.pc.getTransceivers()) {
        const sender = transceiver.sender;
        if (conn.closed) break;
        if (transceiver.receiver.track.kind === 'audio') {
          // Firefox ignores `active` on audio encodings; a sender without a track sends nothing
          // in every browser (and an audio encoder has no keyframes to wait for).
          const track = paused ? null : this.#tracks.audio;
          if (sender.track === track) continue;
          await sender.replaceTrack(track).catch((err: unknown) => {
            applied = false;
            console.warn('lancast: could not pause or resume the audio', err);
          });
          continue;
        }
        if (!sender.track) continue;
        const params = sender.getParameters();
        if (!params.encodings?.length) {
          applied = false;
          continue;
        }
        // Never every layer off for want of viewers: the relay pauses only layers nobody is on.
        if (!paused && params.encodings.every((e) => !sends(e))) continue;
        if (params.encodings.every((e) => e.active === sends(e))) continue;
        for (const encoding of params.encodings) encoding.active = sends(encoding);
        await sender.setParameters(params).catch((err: unknown) => {
          applied = false;
          console.warn('lancast: could not pause or resume sending', err);
        });
      }
      // A browser that cannot pause keeps sending, and the page does not claim otherwise.
      if (this.publishing === conn) this.#setPaused(paused && applied);
    });
  }

  #setPaused(paused: boolean): void {
    if (paused === this.#paused) return;
    this.#paused = paused;
    this.emit('paused', paused);
  }

  /** Follow the room's media path: publish to the relay while it is relayed. */
  #setMode(mode: string): void {
    if (mode === this.#mode) return;
    this.#mode = mode;
    if (mode === 'relay') void this.#publish();
    else this.#unpublish();
  }

  /** One upload to the relay, however many viewers. */
  async #publish(): Promise<void> {
    clearTimeout(this.#republishTimer);
    this.publishing?.close();
    const conn = this.#connect(RELAY);
    this.publishing = conn;
    this.#setPaused(false);
    this.#relayWants = { paused: false, layers: new Set() };
    conn.pc.onconnectionstatechange = () => {
      if (conn.pc.connectionState === 'failed' && this.publishing === conn) this.#schedulePublish();
    };
    if (!(await this.#sendOffer(conn)) && this.publishing === conn) this.#schedulePublish();
  }

  #schedulePublish(): void {
    clearTimeout(this.#republishTimer);
    this.#republishTimer = setTimeout(() => {
      if (this.#mode === 'relay' && this.signaling.connected) void this.#publish();
    }, 1_000);
  }

  #unpublish(): void {
    clearTimeout(this.#republishTimer);
    const conn = this.publishing;
    if (!conn) return;
    this.publishing = undefined;
    this.#setPaused(false);
    this.#relayWants = { paused: false, layers: new Set() };
    this.signaling.send({ type: 'hangup', to: RELAY, cid: conn.cid });
    conn.close();
  }

  /** The server restarted: viewers come back with new ids; old connections play on a while. */
  #retireAll(): void {
    // The new server knows nothing of our relay connection: publish afresh when it says so.
    this.#forgetPublishing();
    for (const conn of this.connections.values()) {
      this.#stale.add(conn);
      setTimeout(() => {
        conn.close();
        this.#stale.delete(conn);
      }, STALE_GRACE_MS);
    }
    this.connections.clear();
  }

  /** Close the relay connection and forget the room was relayed: it publishes afresh when told. */
  #forgetPublishing(): void {
    this.publishing?.close();
    this.publishing = undefined;
    this.#setPaused(false);
    this.#relayWants = { paused: false, layers: new Set() };
    this.#mode = 'p2p';
  }

  #closeAll(): void {
    clearTimeout(this.#republishTimer);
    this.#forgetPublishing();
    for (const conn of [...this.connections.values(), ...this.#stale]) conn.close();
    this.connections.clear();
    this.#stale.clear();
  }

  #setState(state: BroadcasterState): void {
    if (state === this.#state) return;
    this.#state = state;
    this.emit('state', state);
  }
}
