/**
 * The forwarding path's one entry point: every RTP packet from the publisher goes through
 * `Forwarder.forward` to every sink of its kind (sink.ts), without decoding and without copying the
 * payload in JavaScript. Per sink, an Egress writes the viewer's own header (SSRC, payload type,
 * sequence/timestamp offsets; the publisher's header extensions are dropped, their ids belong to
 * the publisher's leg), encrypts and sends: natively when the addon is built (native.ts).
 *
 * Around it, each concern in its own part: the publisher's recent packets (packet-history.ts),
 * where the newest keyframe began, replayed to a viewer who just connected (keyframe.ts), the
 * viewers' NACKs (nack-responder.ts) and their sender reports (sender-reports.ts).
 */
import type { MediaKind } from './codecs.js';
import { EgressGroup } from './egress.js';
import { KeyframeTracker } from './keyframe.js';
import type { ViewerQuality } from './layer-selector.js';
import { SimulcastLayers } from './layers.js';
import type { LinkSample } from './link.js';
import { NackResponder } from './nack-responder.js';
import { PacketHistory } from './packet-history.js';
import { RateMeter } from './rate.js';
import { SenderReports, systemClock, type Clock } from './sender-reports.js';
import { LayerSwitcher, type LayerTip } from './rewriter.js';
import { readPid, vp8Ids } from './vp8-ids.js';
import type { Sink } from './sink.js';

/** Process-wide relay counters, for /metrics and the benchmarks. */
export const relayCounters = {
  packetsIn: 0,
  bytesIn: 0,
  packetsOut: 0,
  bytesOut: 0,
  retransmitted: 0,
  resendsSkipped: 0,
  probePackets: 0,
  /** Simulcast viewers' moves down and up by auto, and its probes that held and failed. */
  layerDowns: 0,
  layerUps: 0,
  probesHeld: 0,
  probesFailed: 0,
  /** SRTCP datagrams from viewers read and parsed natively (rtcp-intake.ts). */
  rtcpReadNatively: 0,
  /** Viewers' consent checks answered natively (rtcp-intake.ts). */
  consentAnsweredNatively: 0,
  /** The relay's consent checks to viewers sent natively, and their answers taken (consent-checks.ts). */
  consentChecksSentNatively: 0,
  consentChecksAnswered: 0,
};

/** The counters viewers' legs add to: what a worker thread reports to the main thread (publishers' packets are counted there, once). */
export const LEG_COUNTERS = ['packetsOut', 'bytesOut', 'retransmitted', 'resendsSkipped', 'probePackets', 'layerDowns', 'layerUps', 'probesHeld', 'probesFailed', 'rtcpReadNatively', 'consentAnsweredNatively', 'consentChecksSentNatively', 'consentChecksAnswered'] as const;
export type LegCounts = Record<(typeof LEG_COUNTERS)[number], number>;

/** Runs `work` on a viewer's quality, adding the moves and probes it made to relayCounters. */
function tallied<T>(quality: ViewerQuality, work: () => T): T {
  const { downs, ups, probesHeld, probesFailed } = quality;
  const out = work();
  relayCounters.layerDowns += quality.downs - downs;
  relayCounters.layerUps += quality.ups - ups;
  relayCounters.probesHeld += quality.probesHeld - probesHeld;
  relayCounters.probesFailed += quality.probesFailed - probesFailed;
  return out;
}

/** Runs the answer to a viewer's NACK, adding what went and what was skipped to relayCounters; true when resends were refused in a storm. */
function answered(responder: { readonly resendsSkipped: number }, resend: () => { sent: number; storm: boolean }): boolean {
  const skipped = responder.resendsSkipped;
  const { sent, storm } = resend();
  relayCounters.retransmitted += sent;
  relayCounters.resendsSkipped += responder.resendsSkipped - skipped;
  return storm;
}

/** A new viewer gets the last keyframe from history (then the frames since) if it is this recent. */
const KEYFRAME_REPLAY_MS = 1_000;
/** A viewer whose layer stopped starts the one below from its last keyframe if it is this recent. */
const STOPPED_REPLAY_MS = 500;
/** How often each simulcast viewer's layer is chosen again. */
const SELECT_MS = 250;

export class Forwarder {
  readonly #groups: Record<MediaKind, EgressGroup> = { audio: new EgressGroup(), video: new EgressGroup() };
  /** Each sink, and how to stop answering its NACKs. */
  readonly #sinks = new Map<Sink, (() => void) | undefined>();
  readonly #history: Record<MediaKind, PacketHistory> = { audio: new PacketHistory(), video: new PacketHistory() };
  readonly #keyframes = new KeyframeTracker();
  readonly #reports: SenderReports;
  readonly #clock: Clock;
  readonly sent = new RateMeter();
  /** The video stream's rate without simulcast: what each of its viewers is sent. */
  readonly #videoRate = new RateMeter();
  /** The publisher's simulcast layers (one, layer 0, without simulcast). */
  readonly layers = new SimulcastLayers();
  /** Video history and keyframes per simulcast layer; layer 0's are the kind's own. */
  readonly #layerHistory: PacketHistory[] = [this.#history.video];
  readonly #layerKeyframes: KeyframeTracker[] = [this.#keyframes];
  /** Per simulcast layer: the viewers on it (one native fan-out per packet, and their switchers), and its newest packet. */
  readonly #layerGroups: EgressGroup[] = [];
  readonly #onLayer: Set<LayerSwitcher>[] = [];
  readonly #layerTips: (LayerTip | undefined)[] = [];
  /** Simulcast video sinks, each forwarded one layer. */
  readonly #switchers = new Map<Sink, LayerSwitcher>();
  /** Switchers whose viewer's link is being probed (layer-selector.ts): the only ones a packet may owe padding. */
  readonly #probing = new Set<LayerSwitcher>();
  #simulcast = false;
  #videoCodec: string | undefined;
  #vp8 = false;
  #selectTicker: { stop(): void } | undefined;
  /** Asks the publisher for a keyframe on a layer (set by whoever owns the forwarder). */
  requestKeyframe: ((layer: number) => void) | undefined;
  /**
   * Told, when it changes, which simulcast layers this forwarder's viewers are on or switching to
   * (bit i: layer i): the relay pauses the layers nobody wants (dynacast.ts).
   */
  onDemand: ((layers: number) => void) | undefined;
  #demand = 0;
  /**
   * Hands on now packets that were sent natively and not yet forwarded here (the publisher's
   * ingress-gate.ts `sync`): called before the viewers change or their NACKs read history.
   */
  sync: (() => void) | undefined;
  /** Told after a sink was added or removed (the publisher routes its streams natively again). */
  onSinksChanged: (() => void) | undefined;

  constructor(clock: Clock = systemClock) {
    this.#clock = clock;
    this.#reports = new SenderReports(this.#history, clock);
  }

  /** The publisher's video codec (its MIME type), so keyframes can be found in the stream. */
  set videoCodec(mimeType: string | undefined) {
    this.#videoCodec = mimeType;
    this.#vp8 = mimeType?.toLowerCase() === 'video/vp8';
    for (const k of this.#layerKeyframes) k.codec = mimeType;
    this.layers.codec = mimeType;
  }

  /**
   * The publisher sends `count` simulcast layers (set before any sink is added): each video sink
   * then gets one layer, chosen per viewer, rewritten into one stream (rewriter.ts).
   */
  set simulcastLayers(count: number) {
    this.#simulcast = count > 1;
    this.layers.ensure(count);
    while (this.#layerGroups.length < count) {
      this.#layerGroups.push(new EgressGroup());
      this.#onLayer.push(new Set());
    }
    while (this.#layerHistory.length < count) {
      this.#layerHistory.push(new PacketHistory());
      const k = new KeyframeTracker();
      k.codec = this.#videoCodec;
      this.#layerKeyframes.push(k);
    }
  }

  get simulcast(): boolean {
    return this.#simulcast;
  }

  /**
   * Start sending to a sink. A video sink first gets the newest keyframe and the frames since
   * from history when that keyframe is recent; returns whether it did (if not, the caller asks the
   * publisher for a keyframe).
   */
  add(sink: Sink): boolean {
    this.sync?.();
    const replayed = sink.kind === 'video' && this.#simulcast ? this.#addLayered(sink) : this.#add(sink);
    this.onSinksChanged?.();
    return replayed;
  }

  #add(sink: Sink): boolean {
    const nacks = new NackResponder(this.#history[sink.kind], sink);
    const stopNacks = sink.rtcp?.onNack((lost) => {
      this.sync?.();
      const now = this.#clock.now();
      const sending = this.#videoRate.bitsPerSecond;
      // Never more than the stream itself: a viewer whose resends arrive reports little loss (and
      // a browser without abs-send-time sends no estimate), so its link's budget alone can leave a
      // congested viewer unlimited; and the one stream cannot move down a layer as a simulcast
      // viewer's does.
      const budget = Math.min(sink.quality?.link?.budget(sending, now) ?? Infinity, sink.kind === 'video' && sending > 0 ? sending : Infinity);
      // Resends the link cannot take: the next keyframe ends the viewer's wait sooner.
      if (answered(nacks, () => nacks.resend(lost, now, budget)) && sink.kind === 'video') this.requestKeyframe?.(0);
    });
    this.#sinks.set(sink, stopNacks);
    const replayed = sink.kind === 'video' && this.#replayKeyframe(sink);
    this.#groups[sink.kind].add(sink.egress);
    this.#reports.add(sink);
    return replayed;
  }

  #replayKeyframe(sink: Sink): boolean {
    const from = this.#keyframes.startSince(this.#clock.now(), KEYFRAME_REPLAY_MS);
    if (from === undefined) return false;
    const sent = this.#history.video.replayFrom(from, (payload, marker, seq, ts) => sink.egress.send(payload, marker, seq, ts));
    relayCounters.packetsOut += sent;
    return sent > 0;
  }

  /** A simulcast viewer's video: one layer, switched at keyframes; started at once when the chosen layer has a recent keyframe. */
  #addLayered(sink: Sink): boolean {
    const switcher = new LayerSwitcher(
      sink,
      this.#videoCodec,
      (layer) => this.#layerTips[layer],
      (egress, from, to) => {
        this.#layerGroups[from]?.delete(egress);
        this.#layerGroups[to]?.add(egress);
        this.#onLayer[from]?.delete(switcher);
        this.#onLayer[to]?.add(switcher);
      },
    );
    if (sink.quality) sink.quality.canProbe = sink.rtcp?.rtx !== undefined;
    const stopNacks = sink.rtcp?.onNack((lost) => {
      this.sync?.();
      const now = this.#clock.now();
      const quality = sink.quality;
      if (quality) tallied(quality, () => quality.lost(lost.length, now));
      const sending = this.layers.ordered().find((l) => l.index === switcher.current)?.bitsPerSecond ?? 0;
      const budget = sink.quality?.link?.budget(sending, now) ?? Infinity;
      // Resends the link cannot take: a keyframe of its layer ends the wait sooner (and the
      // selector is moving it to a lower layer meanwhile).
      if (answered(switcher, () => switcher.resend(lost, this.#layerHistory, now, budget)) && switcher.current >= 0) this.requestKeyframe?.(switcher.current);
    });
    this.#sinks.set(sink, stopNacks);
    this.#switchers.set(sink, switcher);
    this.#reports.add(sink, () => switcher.clock);
    this.#selectTicker ??= this.#clock.every(SELECT_MS, () => this.#select());
    this.#choose(switcher);
    return switcher.target >= 0 && this.#replayLayer(switcher, switcher.target, KEYFRAME_REPLAY_MS) > 0;
  }

  /** Start a viewer on `layer` from that layer's keyframe in history, if one began within `withinMs`; returns the packets sent (0: none that recent). */
  #replayLayer(switcher: LayerSwitcher, layer: number, withinMs: number): number {
    const from = this.#layerKeyframes[layer].startSince(this.#clock.now(), withinMs);
    if (from === undefined) return 0;
    const atMs = this.#clock.now();
    let first = true;
    const sent = this.#layerHistory[layer].replayFrom(from, (payload, marker, seq, ts) => {
      const ok = switcher.offer(layer, seq, ts, marker, payload, first, atMs);
      first = false;
      return ok;
    });
    relayCounters.packetsOut += sent;
    return sent;
  }

  /** Set a switcher's target layer from its viewer's wish and link; ask for a keyframe on a new target. */
  #choose(switcher: LayerSwitcher): void {
    const quality = switcher.sink.quality;
    const layers = this.layers.ordered();
    const pick = quality ? tallied(quality, () => quality.decide(layers, switcher.current, this.#clock.now())) : layers.length > 0 ? { layer: layers[layers.length - 1], reason: 'auto' as const } : undefined;
    if (!pick) return;
    const wanted = pick.layer.index;
    if (wanted !== switcher.target || switcher.current !== wanted) {
      const moved = wanted !== switcher.target;
      switcher.target = wanted;
      // A paused target is resumed at once: the relay hears of it before the keyframe request.
      if (moved) this.#noteDemand();
      if (switcher.current !== wanted) this.requestKeyframe?.(wanted);
    }
    if ((quality?.probeBps ?? 0) > 0) this.#probing.add(switcher);
    const playing = layers.find((l) => l.index === switcher.current);
    quality?.report({ layers, height: playing ? playing.height : -1, reason: pick.reason });
  }

  /**
   * A frame of `layer` ended: viewers on a layer that has stopped while this one goes on (the
   * publisher's picture shrank) move now, from the recent keyframe of the layer chosen for them
   * when there is one, instead of waiting for the layer to time out and a keyframe to be asked for.
   */
  #leaveStopped(layer: number): void {
    for (let from = 0; from < this.#onLayer.length; from++) {
      const on = this.#onLayer[from];
      if (from === layer || on.size === 0 || !this.layers.stopped(from)) continue;
      // A copy: a switch moves its viewer out of this set.
      for (const switcher of [...on]) {
        if (switcher.target !== from) continue;
        this.#choose(switcher);
        // Without a recent keyframe of the new layer, the one asked for makes the switch when it comes.
        if (switcher.target !== from) this.#replayLayer(switcher, switcher.target, STOPPED_REPLAY_MS);
      }
    }
  }

  #select(): void {
    for (const switcher of this.#switchers.values()) this.#choose(switcher);
    // Switches made since (a viewer left its old layer at a keyframe of its new one).
    this.#noteDemand();
  }

  /** The layers the viewers are on or switching to, told to onDemand when they change. */
  #noteDemand(): void {
    let demand = 0;
    for (const { current, target } of this.#switchers.values()) {
      if (current >= 0) demand |= 1 << current;
      if (target >= 0) demand |= 1 << target;
    }
    if (demand === this.#demand) return;
    this.#demand = demand;
    this.onDemand?.(demand);
  }

  /** The layers this forwarder's viewers are on or switching to (bit i: layer i). */
  get demand(): number {
    return this.#demand;
  }

  /** The links of this forwarder's video viewers (simulcast or not) that have a recent estimate (link.ts). */
  links(): LinkSample[] {
    const now = this.#clock.now();
    const out: LinkSample[] = [];
    for (const sink of this.#sinks.keys()) {
      const sample = sink.quality?.link?.sample(now);
      if (sample) out.push(sample);
    }
    return out;
  }

  /** The layer a viewer's keyframe request is for: the one it is sent, else the highest being sent (where it will start). */
  keyframeLayer(sink: Sink | undefined): number {
    const switcher = sink && this.#switchers.get(sink);
    return switcher && switcher.current >= 0 ? switcher.current : this.layers.topSent();
  }

  /** Choose a sink's layer again now (its viewer changed its wish). */
  reselect(sink: Sink): void {
    const switcher = this.#switchers.get(sink);
    if (switcher) this.#choose(switcher);
  }

  /** Stop sending to a sink, and close its egress. */
  remove(sink: Sink): void {
    if (!this.#sinks.has(sink)) return;
    this.sync?.();
    this.#sinks.get(sink)?.();
    this.#sinks.delete(sink);
    this.#groups[sink.kind].delete(sink.egress);
    for (const group of this.#layerGroups) group.delete(sink.egress);
    const switcher = this.#switchers.get(sink);
    if (switcher) {
      this.#onLayer[switcher.current]?.delete(switcher);
      this.#probing.delete(switcher);
    }
    this.#reports.delete(sink);
    if (this.#switchers.delete(sink) && this.#switchers.size === 0) {
      this.#selectTicker?.stop();
      this.#selectTicker = undefined;
    }
    this.#noteDemand();
    sink.egress.close();
    this.onSinksChanged?.();
  }

  /**
   * One packet from the publisher (its payload is kept, not copied, for retransmissions).
   * `sentNatively` >= 0: the native module already sent it to this kind's viewers, that many of
   * them, `ageMs` ago (the publisher's routed streams: ingress-gate.ts); it is not sent again.
   */
  forward(kind: MediaKind, seq: number, ts: number, marker: boolean, payload: Uint8Array, layer = 0, sentNatively = -1, ageMs = 0): void {
    relayCounters.packetsIn++;
    relayCounters.bytesIn += payload.length;
    // Padding-only packets are the publisher's bandwidth probes for its own leg: not for viewers.
    if (payload.length === 0) return;
    if (kind === 'video' && this.#simulcast) return this.#forwardLayer(layer, seq, ts, marker, payload);
    // Only the newest packets move the sender reports' clock and can start a keyframe.
    const atMs = this.#clock.now() - ageMs;
    if (this.#history[kind].put(seq, ts, marker, payload, atMs) && kind === 'video') this.#keyframes.note(seq, ts, payload, atMs);
    if (kind === 'video') this.#videoRate.add(payload.length + 12);
    const group = this.#groups[kind];
    if (group.size === 0 && sentNatively < 0) return;
    const sent = sentNatively >= 0 ? sentNatively : group.send(payload, marker, seq, ts);
    relayCounters.packetsOut += sent;
    relayCounters.bytesOut += sent * payload.length;
    this.sent.add(sent * (payload.length + 12));
  }

  /** A packet of one simulcast layer: kept in that layer's history, sent to the viewers on it. */
  #forwardLayer(layer: number, seq: number, ts: number, marker: boolean, payload: Uint8Array): void {
    const history = this.#layerHistory[layer];
    if (!history) return;
    this.layers.note(layer, payload, marker);
    const atMs = this.#clock.now();
    const newest = history.put(seq, ts, marker, payload, atMs);
    const keyStart = newest && this.#layerKeyframes[layer].note(seq, ts, payload, atMs);
    if (newest) this.#noteTip(layer, seq, ts, payload, atMs);
    if (marker) this.#leaveStopped(layer);
    // Viewers waiting for this layer's keyframe move onto it first; then one fan-out to all on it.
    if (keyStart) for (const switcher of this.#switchers.values()) switcher.switchAt(layer, seq, ts, payload, keyStart, atMs);
    const sent = this.#layerGroups[layer].send(payload, marker, seq, ts);
    if (sent > 0) {
      for (const switcher of this.#probing) {
        const probeBps = switcher.sink.quality?.probeBps ?? 0;
        if (probeBps <= 0) this.#probing.delete(switcher); // the probe is over
        else if (switcher.current === layer) relayCounters.probePackets += switcher.pad(this.#layerHistory, probeBps, atMs);
      }
    }
    relayCounters.packetsOut += sent;
    relayCounters.bytesOut += sent * payload.length;
    this.sent.add(sent * (payload.length + 12));
  }

  /**
   * A packet dropped before it reached the forwarder (ingress-gate.ts: nobody is watching): it
   * counts as received, and a simulcast layer's packet keeps the layer's rate and activity.
   */
  gated(marker: boolean, bytes: number, layer: number | undefined): void {
    relayCounters.packetsIn++;
    relayCounters.bytesIn += bytes;
    if (layer !== undefined && this.#simulcast) this.layers.noteBytes(layer, bytes, marker);
  }

  /**
   * Drop what history holds (the publisher's packets are about to stop coming here for a while):
   * a viewer who joins after the gap must not be started from a keyframe from before it.
   */
  forget(): void {
    this.#history.audio.clear();
    for (const h of this.#layerHistory) h.clear();
    this.#layerTips.length = 0;
    for (const k of this.#layerKeyframes) k.clear();
  }

  /**
   * The native egresses of all of a kind's viewers, for the publisher to route that stream to
   * natively (ingress-gate.ts); undefined when a viewer has none (TURN) or the kind is simulcast video.
   */
  nativeRoute(kind: MediaKind): object[] | undefined {
    return kind === 'video' && this.#simulcast ? undefined : this.#groups[kind].natives;
  }

  /** A layer's newest packet, what its viewers were sent last (rewriter.ts). */
  #noteTip(layer: number, seq: number, ts: number, payload: Uint8Array, atMs: number): void {
    const ids = this.#vp8 ? vp8Ids(payload) : undefined;
    const tip = (this.#layerTips[layer] ??= { seq, ts, atMs, pid: -1, pidBits: 15, tl0: -1 });
    tip.seq = seq;
    tip.ts = ts;
    tip.atMs = atMs;
    if (ids && ids.pidAt >= 0) {
      tip.pid = readPid(payload, ids);
      tip.pidBits = ids.pidBits;
    }
    if (ids && ids.tl0At >= 0) tip.tl0 = payload[ids.tl0At];
  }

  clear(): void {
    for (const sink of [...this.#sinks.keys()]) this.remove(sink);
    this.forget();
  }
}
