/**
 * One viewer's video from a simulcast publisher (issue 15): of the publisher's layers it forwards
 * one, and moves to another only at a keyframe of that layer. Each layer is its own RTP stream
 * (own sequence numbers, timestamps, VP8 picture ids), so everything the viewer's decoder checks
 * for continuity is rewritten here: sequence numbers run on by one, the timestamp moves on by the
 * wall-clock time between the last packet of the old layer and the keyframe of the new one, and
 * VP8 picture id / TL0PICIDX continue from the last ones sent. The viewer sees one stream.
 *
 * A NACK names the viewer's sequence numbers; the switcher remembers where each layer's run began
 * in that sequence so the packet can be found in its layer's history and sent again, rewritten
 * the same way, paced as every viewer's resends are (resend-pacer.ts): when they run out of the
 * viewer's budget it is better served by a keyframe (of its layer, or of a lower one the selector
 * moves it to) than by a storm of resends.
 */
import type { PacketHistory } from './packet-history.js';
import { newer } from './packet-history.js';
import { ResendPacer } from './resend-pacer.js';
import type { Sink } from './sink.js';

/** The VP8 payload descriptor's picture id and TL0PICIDX (RFC 7741 4.2), where they are. */
interface Vp8Ids {
  pidAt: number;
  /** 7 or 15 bits. */
  pidBits: 7 | 15;
  tl0At: number;
}

export function vp8Ids(p: Uint8Array): Vp8Ids | undefined {
  if (p.length < 3 || (p[0] & 0x80) === 0) return undefined;
  const x = p[1];
  let i = 2;
  let pidAt = -1;
  let pidBits: 7 | 15 = 7;
  if (x & 0x80) {
    pidAt = i;
    pidBits = p[i] & 0x80 ? 15 : 7;
    i += pidBits === 15 ? 2 : 1;
  }
  const tl0At = x & 0x40 ? i : -1;
  if (pidAt < 0 && tl0At < 0) return undefined;
  if (Math.max(pidAt + (pidBits === 15 ? 1 : 0), tl0At) >= p.length) return undefined;
  return { pidAt, pidBits, tl0At };
}

function readPid(p: Uint8Array, ids: Vp8Ids): number {
  return ids.pidBits === 15 ? ((p[ids.pidAt] & 0x7f) << 8) | p[ids.pidAt + 1] : p[ids.pidAt] & 0x7f;
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
  /** The newest packet sent: the viewer's sequence number, timestamp, when; its picture ids. */
  #seq: number;
  #ts: number;
  #atMs = -1;
  #pid = -1;
  #tl0 = -1;
  readonly #pacer = new ResendPacer();
  #rtxSeq = Math.floor(Math.random() * 0x10000);
  /** Packets sent. */
  sent = 0;
  /** A probe's bytes still owed, when it was last paid, and how far back its next copy is. */
  #padOwed = 0;
  #padAtMs = -Infinity;
  #padBack = 0;
  /** Packets sent as a probe's padding. */
  padded = 0;

  constructor(sink: Sink, codec: string | undefined) {
    this.sink = sink;
    this.#vp8 = codec?.toLowerCase() === 'video/vp8';
    this.#seq = (sink.egress.header.seqOffset - 1) & 0xffff;
    this.#ts = sink.egress.header.tsOffset >>> 0;
  }

  /** The RTP timestamp last sent and when: what this stream's sender reports say. */
  get clock(): { ts: number; atMs: number } | undefined {
    return this.#atMs < 0 ? undefined : { ts: this.#ts, atMs: this.#atMs };
  }

  /**
   * A packet of `layer`; `keyStart` when it begins a keyframe. Forwards it when it belongs to the
   * layer being sent, switching first when it opens a keyframe of the target layer. True if sent.
   */
  offer(layer: number, seq: number, ts: number, marker: boolean, payload: Uint8Array, keyStart: boolean, atMs: number): boolean {
    if (keyStart && layer === this.target && layer !== this.current) this.#switchTo(layer, seq, ts, payload, atMs);
    if (layer !== this.current) return false;
    const run = this.#runs[this.#runs.length - 1];
    const outSeq = (seq + run.seqOffset) & 0xffff;
    const outTs = (ts + run.tsOffset) >>> 0;
    const out = this.#rewrite(payload, run, true);
    const ok = this.sink.egress.sendRaw(0, out, marker, this.sink.egress.header.payloadType, outSeq, outTs, this.sink.egress.header.ssrc);
    if (newer(outSeq, this.#seq)) {
      this.#seq = outSeq;
      this.#ts = outTs;
      this.#atMs = atMs;
    }
    if (ok) this.sent++;
    return ok;
  }

  #switchTo(layer: number, seq: number, ts: number, payload: Uint8Array, atMs: number): void {
    const first = this.#atMs < 0;
    // The new layer's timestamps start where the old ones would be now (90 kHz video clock).
    const elapsed = first ? 0 : Math.max(1, Math.round((atMs - this.#atMs) * 90));
    const nextTs = (this.#ts + elapsed) >>> 0;
    let pidOffset = 0;
    let tl0Offset = 0;
    const ids = this.#vp8 ? vp8Ids(payload) : undefined;
    if (ids && !first) {
      if (ids.pidAt >= 0 && this.#pid >= 0) pidOffset = (this.#pid + 1 - readPid(payload, ids)) & 0x7fff;
      if (ids.tl0At >= 0 && this.#tl0 >= 0) tl0Offset = (this.#tl0 + 1 - payload[ids.tl0At]) & 0xff;
    }
    this.#runs.push({
      fromSeq: (this.#seq + 1) & 0xffff,
      layer,
      seqOffset: (this.#seq + 1 - seq) & 0xffff,
      tsOffset: (nextTs - ts) >>> 0,
      pidOffset,
      tl0Offset,
    });
    if (this.#runs.length > RUNS_KEPT) this.#runs.shift();
    this.current = layer;
  }

  /** The payload with this run's picture ids (a copy, only when they change); notes the newest ids sent. */
  #rewrite(payload: Uint8Array, run: Run, live: boolean): Uint8Array {
    if (!this.#vp8) return payload;
    const ids = vp8Ids(payload);
    if (!ids) return payload;
    const out = run.pidOffset === 0 && run.tl0Offset === 0 ? payload : Uint8Array.from(payload);
    if (ids.pidAt >= 0) {
      const pid = (readPid(payload, ids) + run.pidOffset) & (ids.pidBits === 15 ? 0x7fff : 0x7f);
      if (out !== payload) {
        if (ids.pidBits === 15) {
          out[ids.pidAt] = 0x80 | (pid >> 8);
          out[ids.pidAt + 1] = pid & 0xff;
        } else out[ids.pidAt] = pid;
      }
      if (live) this.#pid = pid;
    }
    if (ids.tl0At >= 0) {
      const tl0 = (payload[ids.tl0At] + run.tl0Offset) & 0xff;
      out[ids.tl0At] = tl0;
      if (live) this.#tl0 = tl0;
    }
    return out;
  }

  /** The run a viewer's sequence number belongs to. */
  #runOf(viewerSeq: number): Run | undefined {
    for (let i = this.#runs.length - 1; i >= 0; i--) {
      const run = this.#runs[i];
      if (!newer(run.fromSeq, viewerSeq)) return run;
    }
    return undefined;
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
      const run = this.#runOf(viewerSeq);
      const packet = run && histories[run.layer]?.get((viewerSeq - run.seqOffset) & 0xffff);
      if (!run || !packet) return undefined;
      return {
        bytes: packet.payload.length,
        send: () => {
          const ts = (packet.ts + run.tsOffset) >>> 0;
          const payload = this.#rewrite(packet.payload, run, false);
          return rtx ? this.#sendRtx(rtx, viewerSeq, payload, packet.marker, ts) : egress.sendRaw(0, payload, packet.marker, h.payloadType, viewerSeq, ts, h.ssrc);
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
    if (!rtx || this.#atMs < 0) return 0;
    const rate = bps / 8 / 1000; // bytes per ms
    if (nowMs - this.#padAtMs > PAD_BURST_MS * 2) this.#padOwed = 0; // a new probe, or a pause in the layer: no burst
    else this.#padOwed = Math.min(this.#padOwed + (nowMs - this.#padAtMs) * rate, rate * PAD_BURST_MS);
    this.#padAtMs = nowMs;
    let sent = 0;
    for (let tries = 0; this.#padOwed > 0 && tries < PAD_DEPTH; tries++) {
      const viewerSeq = (this.#seq - (this.#padBack++ % PAD_DEPTH)) & 0xffff;
      const run = this.#runOf(viewerSeq);
      const packet = run && histories[run.layer]?.get((viewerSeq - run.seqOffset) & 0xffff);
      if (!run || !packet) {
        this.#padBack = 0;
        continue;
      }
      if (this.#sendRtx(rtx, viewerSeq, this.#rewrite(packet.payload, run, false), packet.marker, (packet.ts + run.tsOffset) >>> 0)) sent++;
      this.#padOwed -= packet.payload.length + 14;
    }
    this.padded += sent;
    return sent;
  }

  /** One packet on the RTX stream (RFC 4588): the viewer's sequence number, then the payload. */
  #sendRtx(rtx: { ssrc: number; payloadType: number }, viewerSeq: number, payload: Uint8Array, marker: boolean, ts: number): boolean {
    const wrapped = Buffer.allocUnsafe(payload.length + 2);
    wrapped.writeUInt16BE(viewerSeq & 0xffff, 0);
    wrapped.set(payload, 2);
    const ok = this.sink.egress.sendRaw(1, wrapped, marker, rtx.payloadType, this.#rtxSeq, ts, rtx.ssrc);
    this.#rtxSeq = (this.#rtxSeq + 1) & 0xffff;
    return ok;
  }
}
