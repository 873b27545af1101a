/**
 * A viewer's NACKs (RFC 4585 generic NACK) for a stream without simulcast: the packets it reports
 * lost are sent again from the publisher's history while they are still there, on the viewer's
 * RTX stream (RFC 4588) when it negotiated one, else as they were; paced within the viewer's link
 * budget like a simulcast viewer's (resend-pacer.ts), so a congested viewer gets fewer packets,
 * not more.
 */
import { RtxStream } from './egress.js';
import type { PacketHistory } from './packet-history.js';
import { ResendPacer } from './resend-pacer.js';
import type { Sink } from './sink.js';

export class NackResponder {
  readonly #history: PacketHistory;
  readonly #sink: Pick<Sink, 'egress' | 'rtcp'>;
  readonly #pacer = new ResendPacer();
  readonly #rtx: RtxStream;

  constructor(history: PacketHistory, sink: Pick<Sink, 'egress' | 'rtcp'>, firstRtxSeq = Math.floor(Math.random() * 0x10000)) {
    this.#history = history;
    this.#sink = sink;
    this.#rtx = new RtxStream(firstRtxSeq);
  }

  /**
   * Send again the packets still at hand of the viewer's sequence numbers `lost`, within
   * `budgetBps` (the viewer's link budget, Infinity: no limit); returns how many went, and whether
   * resends were refused for want of budget often enough that a keyframe would serve better.
   */
  resend(lost: number[], nowMs: number, budgetBps = Infinity): { sent: number; storm: boolean } {
    const { egress, rtcp } = this.#sink;
    const h = egress.header;
    const rtx = rtcp?.rtx;
    return this.#pacer.resend(lost, nowMs, budgetBps, (viewerSeq) => {
      const packet = this.#history.get((viewerSeq - h.seqOffset) & 0xffff);
      if (!packet) return undefined;
      const ts = (packet.ts + h.tsOffset) >>> 0;
      return {
        bytes: packet.payload.length,
        send: () => {
          if (!rtx) return egress.sendRaw(0, packet.payload, packet.marker, h.payloadType, viewerSeq, ts, h.ssrc);
          return this.#rtx.send(egress, rtx, viewerSeq, packet.payload, packet.marker, ts);
        },
      };
    });
  }

  /** Resends skipped because they were resent a moment ago or over budget. */
  get resendsSkipped(): number {
    return this.#pacer.skipped;
  }
}
