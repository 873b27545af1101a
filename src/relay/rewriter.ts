/**
 * One viewer's video from a simulcast publisher (issue 15): of the publisher's layers it forwards
 * one, and moves to another only at a keyframe of that layer. Each layer is its own RTP stream
 * (own sequence numbers, timestamps, VP8 picture ids), so everything the viewer's decoder checks
 * for continuity is rewritten here: sequence numbers run on by one, the timestamp moves on by the
 * wall-clock time between the last packet of the old layer and the keyframe of the new one, and
 * VP8 picture id / TL0PICIDX continue from the last ones sent. The viewer sees one stream.
 *
 * A switch only sets the viewer's offsets (its egress applies them to every packet) and moves it
 * into the group of its new layer's viewers: each packet of a layer then goes to all of them in
 * one native call (egress.ts EgressGroup), as without simulcast. What the viewer was sent last is
 * its layer's newest packet (LayerTip) through its offsets, so nothing is kept per packet here.
 *
 * A NACK names the viewer's sequence numbers; the switcher remembers where each layer's run began
 * in that sequence so the packet can be found in its layer's history and sent again, rewritten
 * the same way, paced as every viewer's resends are (resend-pacer.ts): when they run out of the
 * viewer's budget it is better served by a keyframe (of its layer, or of a lower one the selector
 * moves it to) than by a storm of resends.
 */
import { RtxStream, type Egress } from './egress.js';
import { newer, type HistoryPacket, type PacketHistory } from './packet-history.js';
import { ResendPacer } from './resend-pacer.js';
import type { Sink } from './sink.js';
import { offsetVp8Ids, readPid, vp8Ids } from './vp8-ids.js';

export { vp8Ids } from './vp8-ids.js';

/**
 * The newest packet of one layer the relay has received: what every viewer on that layer was sent
 * last, before its run's offsets. The forwarder keeps one per layer.
 */
export interface LayerTip {
  seq: number;
  ts: number;
  atMs: number;
  /** Its VP8 picture id (of pidBits bits) and TL0PICIDX, -1 when it has none. */
  pid: number;
  pidBits: 7 | 15;
  tl0: number;
}

/** How a run of one layer maps onto the viewer's stream. */
interface Run {
  /** The viewer's sequence number of the run's first packet. */
  fromSeq: number;
  layer: number;
  seqOffset: number;
  tsOffset: number;
  /** Added to picture ids (mod 2^15) and TL0PICIDX (mod 2^8). */
  pidOffset: number;
  tl0Offset: number;
}

/** The newest packet a viewer was sent, as it went out. */
interface Sent {
  seq: number;
  ts: number;
  /** -1: nothing sent yet. */
  atMs: number;
  pid: number;
  tl0: number;
}

/** Runs remembered for NACKs: older ones are out of every layer's history anyway. */
const RUNS_KEPT = 4;
/** A probe's copies are of the newest this many packets sent; it owes at most PAD_BURST_MS of its rate at once. */
const PAD_DEPTH = 32;
const PAD_BURST_MS = 50;

export class LayerSwitcher {
  readonly sink: Sink;
  /** The layer being forwarded (-1: none yet). */
  current = -1;
  /** The layer wanted; the switch happens at its next keyframe. */
  target = -1;
  readonly #vp8: boolean;
  readonly #runs: Run[] = [];
  /** Where the viewer's stream starts: its egress's first offsets. */
  readonly #startSeq: number;
  readonly #startTs: number;
  readonly #tip: (layer: number) => LayerTip | undefined;
  readonly #move: (egress: Egress, from: number, to: number) => void;
  readonly #pacer = new ResendPacer();
  readonly #rtx = new RtxStream();
  /** A probe's bytes still owed, when it was last paid, and how far back its next copy is. */
  #padOwed = 0;
  #padAtMs = -Infinity;
  #padBack = 0;

  /**
   * `tip`: the newest packet of a layer (the forwarder's); `move`: take the viewer's egress out of
   * one layer's group (-1: none) and into another's.
   */
  constructor(sink: Sink, codec: string | undefined, tip: (layer: number) => LayerTip | undefined, move: (egress: Egress, from: number, to: number) => void) {
    this.sink = sink;
    this.#vp8 = codec?.toLowerCase() === 'video/vp8';
    this.#startSeq = (sink.egress.header.seqOffset - 1) & 0xffff;
    this.#startTs = sink.egress.header.tsOffset >>> 0;
    this.#tip = tip;
    this.#move = move;
  }

  /** The newest packet the viewer was sent: its layer's newest, through its run's offsets. */
  #sent(): Sent {
    const run = this.#runs[this.#runs.length - 1];
    const tip = run && this.#tip(run.layer);
    if (!run || !tip) return { seq: this.#startSeq, ts: this.#startTs, atMs: -1, pid: -1, tl0: -1 };
    return {
      seq: (tip.seq + run.seqOffset) & 0xffff,
      ts: (tip.ts + run.tsOffset) >>> 0,
      atMs: tip.atMs,
      pid: tip.pid < 0 ? -1 : (tip.pid + run.pidOffset) & (tip.pidBits === 15 ? 0x7fff : 0x7f),
      tl0: tip.tl0 < 0 ? -1 : (tip.tl0 + run.tl0Offset) & 0xff,
    };
  }

  /** The RTP timestamp last sent and when: what this stream's sender reports say. */
  get clock(): { ts: number; atMs: number } | undefined {
    const sent = this.#sent();
    return sent.atMs < 0 ? undefined : { ts: sent.ts, atMs: sent.atMs };
  }

  /**
   * A packet of `layer` the viewer may not have (a replay from history): sent when it belongs to
   * the layer being sent, switching first when it opens a keyframe of the target layer. True if sent.
   */
  offer(layer: number, seq: number, ts: number, marker: boolean, payload: Uint8Array, keyStart: boolean, atMs: number): boolean {
    this.switchAt(layer, seq, ts, payload, keyStart, atMs);
    return layer === this.current && this.sink.egress.send(payload, marker, seq, ts);
  }

  /** A packet of `layer` arrived; when it opens a keyframe of the target layer, the viewer moves to that layer (its group sends the packet). */
  switchAt(layer: number, seq: number, ts: number, payload: Uint8Array, keyStart: boolean, atMs: number): void {
    if (!keyStart || layer !== this.target || layer === this.current) return;
    const last = this.#sent();
    const first = last.atMs < 0;
    // The new layer's timestamps start where the old ones would be now (90 kHz video clock).
    const elapsed = first ? 0 : Math.max(1, Math.round((atMs - last.atMs) * 90));
    const nextTs = (last.ts + elapsed) >>> 0;
    let pidOffset = 0;
    let tl0Offset = 0;
    const ids = this.#vp8 ? vp8Ids(payload) : undefined;
    if (ids && !first) {
      if (ids.pidAt >= 0 && last.pid >= 0) pidOffset = (last.pid + 1 - readPid(payload, ids)) & 0x7fff;
      if (ids.tl0At >= 0 && last.tl0 >= 0) tl0Offset = (last.tl0 + 1 - payload[ids.tl0At]) & 0xff;
    }
    const run = { fromSeq: (last.seq + 1) & 0xffff, layer, seqOffset: (last.seq + 1 - seq) & 0xffff, tsOffset: (nextTs - ts) >>> 0, pidOffset, tl0Offset };
    this.#runs.push(run);
    if (this.#runs.length > RUNS_KEPT) this.#runs.shift();
    this.sink.egress.setOffsets(run.seqOffset, run.tsOffset, pidOffset, tl0Offset);
    this.#move(this.sink.egress, this.current, layer);
    this.current = layer;
  }

  /** A packet of a run as the viewer was sent it: its picture ids through the run's offsets. */
  #rewrite(payload: Uint8Array, run: Run): Uint8Array {
    return this.#vp8 ? offsetVp8Ids(payload, run.pidOffset, run.tl0Offset) : payload;
  }

  /** The run a viewer's sequence number belongs to. */
  #runOf(viewerSeq: number): Run | undefined {
    for (let i = this.#runs.length - 1; i >= 0; i--) {
      const run = this.#runs[i];
      if (!newer(run.fromSeq, viewerSeq)) return run;
    }
    return undefined;
  }

  /** A packet the viewer was sent (by its sequence number), still in its layer's history, and the run it went in. */
  #packetOf(viewerSeq: number, histories: readonly PacketHistory[]): { run: Run; packet: HistoryPacket } | undefined {
    const run = this.#runOf(viewerSeq);
    const packet = run && histories[run.layer]?.get((viewerSeq - run.seqOffset) & 0xffff);
    return run && packet ? { run, packet } : undefined;
  }

  /**
   * Send again the viewer's lost packets still in their layer's history, within `budgetBps` (the
   * viewer's link budget, Infinity: no limit); returns how many went, and whether resends were
   * refused for want of budget often enough that a keyframe would serve better.
   */
  resend(lost: number[], histories: readonly PacketHistory[], nowMs: number, budgetBps = Infinity): { sent: number; storm: boolean } {
    const { egress, rtcp } = this.sink;
    const h = egress.header;
    const rtx = rtcp?.rtx;
    return this.#pacer.resend(lost, nowMs, budgetBps, (viewerSeq) => {
      const found = this.#packetOf(viewerSeq, histories);
      if (!found) return undefined;
      const { run, packet } = found;
      return {
        bytes: packet.payload.length,
        send: () => {
          const ts = (packet.ts + run.tsOffset) >>> 0;
          const payload = this.#rewrite(packet.payload, run);
          return rtx ? this.#rtx.send(egress, rtx, viewerSeq, payload, packet.marker, ts) : egress.sendRaw(0, payload, packet.marker, h.payloadType, viewerSeq, ts, h.ssrc);
        },
      };
    });
  }

  /** Resends skipped because they were resent a moment ago or over budget (resend-pacer.ts). */
  get resendsSkipped(): number {
    return this.#pacer.skipped;
  }

  /**
   * A probe (layer-selector.ts): bring what the viewer is sent up by `bps` with copies of the
   * newest packets sent, on the RTX stream, which the viewer's browser counts toward its
   * estimate and drops as duplicates (as libwebrtc's own senders pad). Returns packets sent.
   */
  pad(histories: readonly PacketHistory[], bps: number, nowMs: number): number {
    const rtx = this.sink.rtcp?.rtx;
    const newest = this.#sent();
    if (!rtx || newest.atMs < 0) return 0;
    const rate = bps / 8 / 1000; // bytes per ms
    if (nowMs - this.#padAtMs > PAD_BURST_MS * 2) this.#padOwed = 0; // a new probe, or a pause in the layer: no burst
    else this.#padOwed = Math.min(this.#padOwed + (nowMs - this.#padAtMs) * rate, rate * PAD_BURST_MS);
    this.#padAtMs = nowMs;
    let sent = 0;
    for (let tries = 0; this.#padOwed > 0 && tries < PAD_DEPTH; tries++) {
      const viewerSeq = (newest.seq - (this.#padBack++ % PAD_DEPTH)) & 0xffff;
      const found = this.#packetOf(viewerSeq, histories);
      if (!found) {
        this.#padBack = 0;
        continue;
      }
      const { run, packet } = found;
      if (this.#rtx.send(this.sink.egress, rtx, viewerSeq, this.#rewrite(packet.payload, run), packet.marker, (packet.ts + run.tsOffset) >>> 0)) sent++;
      this.#padOwed -= packet.payload.length + 14;
    }
    return sent;
  }
}
