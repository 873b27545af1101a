/**
 * The publisher leg: one werift RTCPeerConnection that receives the broadcaster's audio and video
 * (from a browser over /ws, or WHIP). It answers the broadcaster's offer, hands every RTP packet to
 * the forwarder, asks for keyframes when viewers need them, and tells the encoder how much it may
 * send (REMB).
 */
import {
  MediaStreamTrack,
  ReceiverEstimatedMaxBitrate,
  RtcpPayloadSpecificFeedback,
  RTCPeerConnection,
  type RTCRtpCodecParameters,
  type RTCRtpTransceiver,
  type RtpPacket,
  useRepairedRtpStreamId,
  useSdesMid,
  useSdesRTPStreamId,
} from 'werift';
import { publisherCodecs, type MediaKind } from './codecs.js';
import { every, type Job } from './batched-timers.js';
import { Forwarder } from './forwarder.js';
import { iceConfig, onlyListenAddress, type RelayIceOptions } from './ice.js';
import { IngressGate } from './ingress-gate.js';
import { useNativeIngress } from './ingress.js';
import { useNativeSrtcp } from './rtcp-crypto.js';
import { RateMeter } from './rate.js';
import { enlargeReceiveBuffers, type ReceiveBuffer } from './receive-buffer.js';
import { bundledTransport, gatherComplete, stripRecvonlySsrcs, withoutTransportCc } from './sdp.js';
import { connectedReceivingSrtp, receiveSimulcast, sendRtcpNatively } from './werift/index.js';

/** The bitrate the relay grants the publisher's encoder, in bits per second. */
export const PUBLISHER_MAX_BITRATE = 10_000_000;
/** Keyframe requests to the publisher are spaced at least this far apart. */
const KEYFRAME_INTERVAL_MS = 300;
/**
 * A video packet still missing this long after its gap appeared will not come back (the
 * publisher's retransmissions have had several round trips). Viewers cannot decode past it and
 * would wait seconds before asking for a keyframe themselves: ask now, on their behalf.
 */
const UNRECOVERED_MS = 400;

/** A REMB message; werift serialises the exponent and 18-bit mantissa, so compute them here. */
export function rembPacket(senderSsrc: number, mediaSsrc: number | number[], bitsPerSecond: number): ReceiverEstimatedMaxBitrate {
  const ssrcs = Array.isArray(mediaSsrc) ? mediaSsrc : [mediaSsrc];
  let brExp = 0;
  while (bitsPerSecond >>> brExp >= 1 << 18) brExp++;
  return new ReceiverEstimatedMaxBitrate({
    senderSsrc,
    mediaSsrc: 0,
    ssrcNum: ssrcs.length,
    brExp,
    brMantissa: bitsPerSecond >>> brExp,
    bitrate: BigInt(bitsPerSecond),
    ssrcFeedbacks: ssrcs,
  });
}

let nextSource = 1;

export class Publisher {
  /** This publisher's number, unique in the process (worker threads know it by this). */
  readonly source = nextSource++;
  /** Called with every packet after the local forwarder (the relay sends it to its workers). */
  onPacket: ((kind: MediaKind, seq: number, ts: number, marker: boolean, payload: Uint8Array, layer: number) => void) | undefined;
  readonly pc: RTCPeerConnection;
  readonly forwarder = new Forwarder();
  readonly received = new RateMeter();
  /** The codec the publisher actually sends, per kind, known from its first packet. */
  readonly codecs: Partial<Record<MediaKind, RTCRtpCodecParameters>> = {};
  /** Kinds the publisher offered to send. */
  readonly kinds = new Set<MediaKind>();
  readonly #transceivers = new Map<MediaKind, RTCRtpTransceiver>();
  readonly #ssrc = new Map<MediaKind, number>();
  /** Each simulcast layer's SSRC (layer 0 alone without simulcast), for its keyframe requests. */
  readonly #layerSsrc: number[] = [];
  /** The rids of the publisher's simulcast layers, in its offer's order (none: no simulcast). */
  rids: string[] = [];
  readonly #lastKeyframeRequest: number[] = [];
  readonly #keyframeTimer: (NodeJS.Timeout | undefined)[] = [];
  #rembTimer: Job | undefined;
  readonly #ice: RelayIceOptions;
  #closed = false;
  #readyWaiters: (() => void)[] = [];
  /** Called once, when the publisher becomes ready. */
  onReady: (() => void) | undefined;
  /** Per layer, video sequence numbers the publisher skipped, with when the gap was seen. */
  readonly #missing: Map<number, number>[] = [];
  readonly #highestVideoSeq: (number | undefined)[] = [];
  #lossTimer: NodeJS.Timeout | undefined;
  readonly #onClose: () => void;
  /** Drops the publisher's media before werift while nobody consumes it (ingress-gate.ts). */
  readonly #gate: IngressGate;
  /** Why the leg's sockets are read by Node rather than natively, once connected (undefined: natively). */
  readProblem: string | undefined;
  /** The receive buffer the leg's sockets got, once connected (receive-buffer.ts; undefined: none read by UDP). */
  receiveBuffer: ReceiveBuffer | undefined;
  /**
   * Whether something must get every packet as it comes besides this thread's viewers (worker
   * threads with viewers of this publisher): then no stream is routed natively (refreshRoutes).
   */
  everyPacketNow: (() => boolean) | undefined;

  constructor(ice: RelayIceOptions, onClose: () => void) {
    this.#onClose = onClose;
    this.#ice = ice;
    // The stream-id extensions name each simulcast layer's packets (RFC 8852): with them a
    // publisher may send simulcast; without simulcast they cost nothing.
    this.pc = new RTCPeerConnection({
      ...iceConfig(ice),
      codecs: publisherCodecs(),
      headerExtensions: { audio: [], video: [useSdesMid(), useSdesRTPStreamId(), useRepairedRtpStreamId()] },
    });
    this.forwarder.requestKeyframe = (layer) => this.requestKeyframe(layer);
    this.forwarder.sync = () => this.#gate.sync();
    this.forwarder.onSinksChanged = () => this.refreshRoutes();
    this.#gate = new IngressGate(this.pc, (ssrc, marker, bytes) => {
      this.received.add(bytes + 12);
      const layer = this.#layerSsrc.indexOf(ssrc);
      this.forwarder.gated(marker, bytes, layer >= 0 ? layer : undefined);
    });
    this.pc.connectionStateChange.subscribe((state) => {
      if (state === 'connected') {
        // Room for a keyframe's burst while the relay is busy (receive-buffer.ts).
        const sockets = connectedReceivingSrtp(this.pc).flatMap((session) => {
          const found = session.sockets();
          return typeof found === 'string' ? [] : found.map((s) => s.socket);
        });
        this.receiveBuffer = enlargeReceiveBuffers(sockets);
        useNativeIngress(this.pc);
        useNativeSrtcp(this.pc);
        // Read natively from here on (ingress-gate.ts); where it cannot, Node reads as before.
        if (!this.#gate.closed) this.readProblem = this.#gate.read();
        this.refreshRoutes();
      }
      if (state === 'failed' || state === 'closed') this.close();
    });
    this.pc.onTransceiverAdded.subscribe((transceiver) => this.#watch(transceiver));
  }

  get closed(): boolean {
    return this.#closed;
  }

  /** True once every kind the publisher offered has delivered a packet. */
  get ready(): boolean {
    return this.kinds.size > 0 && [...this.kinds].every((k) => this.codecs[k] !== undefined);
  }

  /** Resolves when ready (or after `timeoutMs` with whatever kinds have arrived). */
  whenReady(timeoutMs = 10_000): Promise<boolean> {
    if (this.ready) return Promise.resolve(true);
    return new Promise((resolve) => {
      const timer = setTimeout(() => resolve(this.ready), timeoutMs);
      this.#readyWaiters.push(() => {
        clearTimeout(timer);
        resolve(true);
      });
    });
  }

  /** Answer the broadcaster's offer; the answer carries all of the relay's candidates. */
  async answer(offerSdp: string): Promise<string> {
    await this.pc.setRemoteDescription({ type: 'offer', sdp: bundledTransport(offerSdp) });
    for (const t of this.pc.getTransceivers()) {
      if (t.kind === 'audio' || t.kind === 'video') {
        this.kinds.add(t.kind);
        t.setDirection('recvonly');
      }
    }
    if (this.kinds.size === 0) throw new Error('the offer has no audio or video to publish');
    const video = this.pc.getTransceivers().find((t) => t.kind === 'video');
    this.rids = (video?.receiver.tracks ?? []).map((t) => t.rid).filter((rid): rid is string => typeof rid === 'string');
    for (const rid of this.rids) this.forwarder.layers.indexOf(rid);
    this.forwarder.simulcastLayers = this.rids.length;
    if (this.rids.length > 0) receiveSimulcast(this.pc);
    await this.pc.setLocalDescription(await this.pc.createAnswer());
    await gatherComplete(this.pc);
    this.#rembTimer = every(1_000, () => {
      void this.#sendRemb();
      // Worker threads that had viewers of this publisher may have none any more.
      this.refreshRoutes();
    }, 1_000);
    return onlyListenAddress(withoutTransportCc(stripRecvonlySsrcs(this.pc.localDescription!.sdp)), this.#ice);
  }

  async addCandidate(candidate: { candidate: string; sdpMid?: string | null; sdpMLineIndex?: number | null } | null): Promise<void> {
    if (!candidate || !candidate.candidate) return;
    await this.pc.addIceCandidate({ candidate: candidate.candidate, sdpMid: candidate.sdpMid ?? undefined, sdpMLineIndex: candidate.sdpMLineIndex ?? undefined });
  }

  #watch(transceiver: RTCRtpTransceiver): void {
    transceiver.onTrack.subscribe((track: MediaStreamTrack) => {
      const kind = track.kind as MediaKind;
      this.#transceivers.set(kind, transceiver);
      const layer = track.rid === undefined ? 0 : this.forwarder.layers.indexOf(track.rid);
      track.onReceiveRtp.subscribe((rtp: RtpPacket) => this.#onRtp(kind, transceiver, rtp, layer));
    });
  }

  #onRtp(kind: MediaKind, transceiver: RTCRtpTransceiver, rtp: RtpPacket, layer: number): void {
    this.received.add(rtp.payload.length + 12);
    if (this.codecs[kind] === undefined) {
      const codec = transceiver.codecs.find((c) => c.payloadType === rtp.header.payloadType);
      if (!codec) return;
      this.codecs[kind] = codec;
      if (kind === 'video') this.forwarder.videoCodec = codec.mimeType;
      this.#ssrc.set(kind, rtp.header.ssrc);
      this.refreshRoutes();
      if (this.ready) {
        for (const wake of this.#readyWaiters.splice(0)) wake();
        this.onReady?.();
      }
    }
    if (kind === 'video') {
      this.#layerSsrc[layer] ??= rtp.header.ssrc;
      this.#trackLoss(layer, rtp.header.sequenceNumber);
    }
    const h = rtp.header;
    // A packet of a routed stream was sent to this thread's viewers as it arrived (ingress-gate.ts).
    const sent = this.#gate.delivering;
    this.forwarder.forward(kind, h.sequenceNumber, h.timestamp, h.marker, rtp.payload, layer, sent?.sent ?? -1, sent?.ageMs ?? 0);
    this.onPacket?.(kind, h.sequenceNumber, h.timestamp, h.marker, rtp.payload, layer);
  }

  /**
   * Nobody consumes the media (true): drop it before werift from now on, and forget what the
   * forwarder holds from before the gap. Somebody does again (false): let it through, and ask for
   * a keyframe on every layer, which the first consumer's decoder will start from. Returns why the
   * media cannot be dropped, if it cannot.
   */
  gate(gated: boolean): string | undefined {
    if (this.#closed) return undefined;
    if (gated) {
      const problem = this.#gate.close();
      if (!problem) this.forwarder.forget();
      return problem;
    }
    if (!this.#gate.closed) return undefined;
    this.#gate.open();
    this.readProblem = this.#gate.read();
    this.refreshRoutes();
    // The sequence numbers jump by what was dropped: that is not loss.
    this.#highestVideoSeq.length = 0;
    this.#missing.length = 0;
    this.#layerSsrc.forEach((_, layer) => this.requestKeyframe(layer));
    return undefined;
  }

  /**
   * Route each stream natively to this thread's viewers (ingress-gate.ts `route`) while the leg is
   * read natively, the stream's viewers all have native egresses (not simulcast video) and
   * nothing else needs every packet as it comes (everyPacketNow); otherwise stop routing it.
   */
  refreshRoutes(): void {
    const on = !this.#closed && this.#gate.reading && !(this.everyPacketNow?.() ?? false);
    for (const [kind, ssrc] of this.#ssrc) {
      const egresses = on ? this.forwarder.nativeRoute(kind) : undefined;
      // The group's array is replaced whenever its viewers change: the same one is the same route.
      const current = this.#gate.routed(ssrc);
      if (egresses === current) continue;
      if (!(egresses && this.#gate.route(ssrc, egresses)) && current) this.#gate.route(ssrc, null);
    }
  }

  /** Note gaps in a layer's video sequence and fill them as retransmissions arrive. */
  #trackLoss(layer: number, seq: number): void {
    const highest = this.#highestVideoSeq[layer];
    const missing = (this.#missing[layer] ??= new Map());
    if (highest === undefined) {
      this.#highestVideoSeq[layer] = seq;
      return;
    }
    const ahead = (seq - highest) & 0xffff;
    if (ahead === 0) return;
    if (ahead < 0x8000) {
      // Newer: everything skipped in between is missing (a jump of hundreds is a restart, not loss).
      if (ahead > 1 && ahead < 200) {
        const now = Date.now();
        for (let s = (highest + 1) & 0xffff; s !== seq; s = (s + 1) & 0xffff) missing.set(s, now);
        this.#lossTimer ??= setInterval(() => this.#checkLoss(), 100);
      }
      this.#highestVideoSeq[layer] = seq;
    } else {
      missing.delete(seq); // a retransmission filled its gap
    }
  }

  #checkLoss(): void {
    const now = Date.now();
    let left = 0;
    this.#missing.forEach((missing, layer) => {
      let unrecovered = false;
      for (const [seq, since] of missing) {
        if (now - since < UNRECOVERED_MS) break; // oldest first: the rest are younger
        missing.delete(seq);
        unrecovered = true;
      }
      if (unrecovered) this.requestKeyframe(layer);
      left += missing.size;
    });
    if (left === 0) {
      clearInterval(this.#lossTimer);
      this.#lossTimer = undefined;
    }
  }

  /**
   * A viewer needs a keyframe of a layer (the only one, without simulcast): ask the publisher
   * (PLI on that layer's SSRC), at most once per interval per layer; a request inside the
   * interval is deferred to its end rather than dropped.
   */
  requestKeyframe(layer = 0): void {
    if (this.#closed || this.#keyframeTimer[layer]) return;
    const wait = (this.#lastKeyframeRequest[layer] ?? 0) + KEYFRAME_INTERVAL_MS - Date.now();
    if (wait > 0) {
      this.#keyframeTimer[layer] = setTimeout(() => {
        this.#keyframeTimer[layer] = undefined;
        this.requestKeyframe(layer);
      }, wait);
      return;
    }
    this.#lastKeyframeRequest[layer] = Date.now();
    const ssrc = this.#layerSsrc[layer];
    const transceiver = this.#transceivers.get('video');
    if (ssrc !== undefined && transceiver) void transceiver.receiver.sendRtcpPLI(ssrc).catch(() => undefined);
  }

  async #sendRemb(): Promise<void> {
    const ssrc = this.#ssrc.get('video');
    const transceiver = this.#transceivers.get('video');
    if (ssrc === undefined || !transceiver || this.#closed) return;
    const ssrcs = this.#layerSsrc.filter((s) => s !== undefined);
    const remb = new RtcpPayloadSpecificFeedback({ feedback: rembPacket(transceiver.receiver.rtcpSsrc, ssrcs.length > 0 ? ssrcs : ssrc, PUBLISHER_MAX_BITRATE) });
    if (!sendRtcpNatively(transceiver.receiver.dtlsTransport, [remb])) await transceiver.receiver.dtlsTransport.sendRtcp([remb]).catch(() => undefined);
  }

  close(): void {
    if (this.#closed) return;
    this.#closed = true;
    this.#rembTimer?.stop();
    clearInterval(this.#lossTimer);
    this.#gate.open();
    for (const timer of this.#keyframeTimer) clearTimeout(timer);
    this.forwarder.clear();
    void this.pc.close().catch(() => undefined);
    this.#onClose();
  }
}
