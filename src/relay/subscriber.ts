/**
 * A viewer's leg: one werift RTCPeerConnection that sends the publisher's tracks to one viewer.
 * Two ways in: the relay offers (a watch page over /ws) or the viewer offers (WHEP). Either way
 * the viewer gets exactly the publisher's codec, a keyframe as soon as its DTLS is up, and
 * retransmissions from werift's packet cache (RTX where negotiated) when it reports a loss.
 */
import { RTCPeerConnection, type RTCRtpCodecParameters, type RTCRtpSender } from 'werift';
import { subscriberCodecs, type MediaKind } from './codecs.js';
import { egressFor } from './egress.js';
import { useNativeSrtcp } from './rtcp-crypto.js';
import { readRtcp } from './rtcp-intake.js';
import type { Forwarder } from './forwarder.js';
import { ViewerQuality, type Playing, type QualityChoice } from './layer-selector.js';
import { LinkEstimate } from './link.js';
import { ViewerSink as Sink } from './sink.js';
import { iceConfig, onlyListenAddress, type RelayIceOptions } from './ice.js';
import { watchLiveness } from './liveness.js';
import { bundledTransport, gatherComplete, inactiveNotRejected } from './sdp.js';

/** What a viewer's leg is fed from: the publisher itself, or its stand-in in a worker thread. */
export interface SubscriberSource {
  readonly codecs: Partial<Record<MediaKind, RTCRtpCodecParameters>>;
  readonly forwarder: Forwarder;
  /** Ask for a keyframe of a simulcast layer (without simulcast, of the one stream). */
  requestKeyframe(layer?: number): void;
}

/** A viewer that sends no RTCP for this long is gone (browsers report every second or so). */
const SILENCE_MS = 8_000;
/**
 * A leg that has not connected this long after it was made never will (its viewer left, or never
 * answered). Until it connects, silence means nothing: a crowd joining at once can keep DTLS
 * handshakes queued for seconds.
 */
const CONNECT_MS = 30_000;
/** How long after werift's DTLS completes the browser's SRTP is surely ready for media. */
const SRTP_READY_MS = 10;

export class Subscriber {
  readonly id: string;
  #pc: RTCPeerConnection | undefined;
  readonly #publisher: SubscriberSource;
  readonly #senders: { kind: MediaKind; sender: RTCRtpSender }[] = [];
  readonly #sinks: Sink[] = [];
  #closed = false;
  #lastHeard = Date.now();
  readonly #createdAt = Date.now();
  #connected = false;
  readonly #stopLiveness: () => void;
  readonly #onClose: (s: Subscriber) => void;
  readonly #ice: RelayIceOptions;
  /** Called once media can flow (DTLS connected). */
  onConnected: (() => void) | undefined;
  /** The viewer's wish among simulcast layers, and which one it gets. */
  readonly quality = new ViewerQuality();
  /** How to stop reading the viewer's RTCP natively (rtcp-intake.ts), or why it is not. */
  #rtcpReading: (() => void) | string = 'not connected';

  constructor(id: string, publisher: SubscriberSource, ice: RelayIceOptions, onClose: (s: Subscriber) => void) {
    this.id = id;
    this.#publisher = publisher;
    this.#onClose = onClose;
    this.#ice = ice;
    // ICE consent would notice a vanished viewer only after 30 s; its silence tells sooner.
    this.#stopLiveness = watchLiveness(() => {
      const now = Date.now();
      if (this.#connected && now - this.#lastHeard > SILENCE_MS) this.close(`the viewer was silent for ${SILENCE_MS / 1000} s`);
      else if (!this.#connected && now - this.#createdAt > CONNECT_MS) this.close(`it did not connect in ${CONNECT_MS / 1000} s (ICE ${this.#pc?.iceConnectionState ?? 'not started'})`);
    });
  }

  /**
   * The leg's peer connection, made once we know who offers. When the relay offers it bundles
   * everything on one transport from the start (max-bundle): with werift's default each section
   * gets its own transport, and the one the viewer's BUNDLE answer drops is never closed, leaving a
   * UDP socket open per viewer. An offer we answer keeps werift's default, so an offer without
   * BUNDLE still gets one transport per section.
   */
  #open(bundlePolicy: 'max-bundle' | 'max-compat'): RTCPeerConnection {
    if (this.#pc) throw new Error('this leg already has its peer connection');
    const pc = new RTCPeerConnection({ ...iceConfig(this.#ice), codecs: subscriberCodecs(this.#publisher.codecs), bundlePolicy });
    this.#pc = pc;
    pc.connectionStateChange.subscribe((state) => {
      if (state === 'connected') {
        this.#connected = true;
        if (useNativeSrtcp(pc) && typeof this.#rtcpReading === 'string') this.#rtcpReading = readRtcp(pc);
        this.#lastHeard = Date.now();
        // werift is connected once it has sent its last DTLS flight; the browser installs its SRTP
        // keys a moment after receiving it, and drops media that comes sooner. Give it that
        // moment, then start with the keyframe from the forwarder's history (or ask for one).
        setTimeout(() => {
          if (!this.#startSending()) this.#requestKeyframe();
        }, SRTP_READY_MS);
        this.onConnected?.();
      }
      if (state === 'failed' || state === 'closed') this.close(`its peer connection ${state} (ICE ${pc.iceConnectionState})`);
    });
    return pc;
  }

  get closed(): boolean {
    return this.#closed;
  }

  /** The relay offers: one sendonly transceiver per kind the publisher sends. */
  async offer(): Promise<string> {
    const pc = this.#open('max-bundle');
    for (const kind of this.#kinds()) {
      const transceiver = pc.addTransceiver(kind, { direction: 'sendonly' });
      this.#attach(kind, transceiver.sender);
    }
    await pc.setLocalDescription(await pc.createOffer());
    await gatherComplete(pc);
    return onlyListenAddress(pc.localDescription!.sdp, this.#ice);
  }

  async acceptAnswer(sdp: string): Promise<void> {
    // ICE and DTLS take tens of ms from here: have the publisher's next keyframe on its way so it
    // is in the forwarder's history when the leg connects.
    this.#requestKeyframe();
    if (!this.#pc) throw new Error('the relay has made no offer to answer');
    await this.#pc.setRemoteDescription({ type: 'answer', sdp: bundledTransport(sdp) });
  }

  /** The viewer offers (WHEP): answer with sendonly on each of its media sections we can fill. */
  async answer(offerSdp: string): Promise<string> {
    this.#requestKeyframe(); // in history by the time the leg connects (see acceptAnswer)
    const pc = this.#open('max-compat');
    await pc.setRemoteDescription({ type: 'offer', sdp: bundledTransport(offerSdp) });
    const kinds = this.#kinds();
    let attached = 0;
    for (const transceiver of pc.getTransceivers()) {
      const kind = transceiver.kind as MediaKind;
      if (kinds.includes(kind) && transceiver.codecs.length > 0 && !this.#senders.some((s) => s.kind === kind)) {
        transceiver.setDirection('sendonly');
        this.#attach(kind, transceiver.sender);
        attached++;
      } else {
        transceiver.setDirection('inactive');
      }
    }
    if (attached === 0) throw new Error(`the offer accepts none of the stream's codecs (${this.#codecNames()})`);
    await pc.setLocalDescription(await pc.createAnswer());
    await gatherComplete(pc);
    return inactiveNotRejected(onlyListenAddress(pc.localDescription!.sdp, this.#ice), offerSdp);
  }

  async addCandidate(candidate: { candidate: string; sdpMid?: string | null; sdpMLineIndex?: number | null } | null): Promise<void> {
    if (!candidate || !candidate.candidate || !this.#pc) return;
    await this.#pc.addIceCandidate({ candidate: candidate.candidate, sdpMid: candidate.sdpMid ?? undefined, sdpMLineIndex: candidate.sdpMLineIndex ?? undefined });
  }

  #kinds(): MediaKind[] {
    return (['audio', 'video'] as const).filter((k) => this.#publisher.codecs[k] !== undefined);
  }

  #codecNames(): string {
    return this.#kinds().map((k) => this.#publisher.codecs[k]!.mimeType).join(', ');
  }

  #attach(kind: MediaKind, sender: RTCRtpSender): void {
    // One stream for both tracks: players keep audio and video in sync, and libwebrtc needs the
    // msid to tie the RTX SSRC to its track.
    sender.streamId = 'lancast';
    this.#senders.push({ kind, sender });
    if (kind === 'video') {
      // The viewer's own feedback (link.ts) chooses its simulcast layer, and with or without
      // simulcast paces what is resent to it (resend-pacer.ts).
      const link = new LinkEstimate(() => sender.ssrc);
      this.quality.link = link;
      sender.onRtcp.subscribe((packet) => {
        this.#lastHeard = Date.now();
        link.note(packet, this.#lastHeard);
      });
    } else sender.onRtcp.subscribe(() => (this.#lastHeard = Date.now()));
    if (kind === 'video') sender.onPictureLossIndication.subscribe(() => this.#requestKeyframe());
  }

  /** A keyframe of the layer this viewer is sent (the highest before it is sent any). */
  #requestKeyframe(): void {
    const forwarder = this.#publisher.forwarder;
    this.#publisher.requestKeyframe(forwarder.simulcast ? forwarder.keyframeLayer(this.#sinks.find((s) => s.kind === 'video')) : 0);
  }

  /** The viewer picked a quality (a layer's height) or Auto; `shown`: how tall its player shows the picture (unchanged when not given). */
  setQuality(choice: QualityChoice, shown?: number): void {
    this.quality.choice = choice;
    if (shown !== undefined) this.quality.shown = shown;
    const sink = this.#sinks.find((s) => s.kind === 'video');
    if (sink) this.#publisher.forwarder.reselect(sink);
  }

  /** Told which simulcast layer plays, and why, when that changes. */
  set onPlaying(listener: ((playing: Playing) => void) | undefined) {
    this.quality.onPlaying = listener;
  }

  /** The leg is up: hand each sender's keys and socket to the forwarding path. True when a
   * keyframe was sent from history. */
  #startSending(): boolean {
    if (this.#closed || this.#sinks.length > 0) return false;
    let keyframe = false;
    for (const { kind, sender } of this.#senders) {
      const payloadType = sender.codec?.payloadType;
      if (payloadType === undefined) continue;
      const egress = egressFor(sender, {
        ssrc: sender.ssrc,
        payloadType,
        seqOffset: Math.floor(Math.random() * 0x10000),
        tsOffset: Math.floor(Math.random() * 0x100000000) >>> 0,
      });
      if (!egress) continue;
      const sink = new Sink(kind, egress, sender, kind === 'video' ? this.quality : undefined);
      this.#sinks.push(sink);
      if (this.#publisher.forwarder.add(sink)) keyframe = true;
    }
    return keyframe;
  }

  /** Why the leg closed: 'closed' when lancast closed it, else what went wrong. */
  closeReason: string | undefined;

  close(reason = 'closed'): void {
    if (this.#closed) return;
    this.#closed = true;
    this.closeReason = reason;
    this.#stopLiveness();
    if (typeof this.#rtcpReading === 'function') this.#rtcpReading();
    this.#rtcpReading = 'closed';
    for (const sink of this.#sinks.splice(0)) this.#publisher.forwarder.remove(sink);
    void this.#pc?.close().catch(() => undefined);
    this.#onClose(this);
  }
}
