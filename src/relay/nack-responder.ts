/**
 * A viewer's NACKs (RFC 4585 generic NACK): the packets it reports lost are sent again from the
 * publisher's history while they are still there, on the viewer's RTX stream (RFC 4588) when it
 * negotiated one, else as they were.
 */
import type { PacketHistory } from './packet-history.js';
import type { Sink } from './sink.js';

export class NackResponder {
  readonly #history: PacketHistory;
  readonly #sink: Pick<Sink, 'egress' | 'rtcp'>;
  /** The RTX stream's own sequence numbers, from a random start (RFC 3550 5.1). */
  #rtxSeq: number;

  constructor(history: PacketHistory, sink: Pick<Sink, 'egress' | 'rtcp'>, firstRtxSeq = Math.floor(Math.random() * 0x10000)) {
    this.#history = history;
    this.#sink = sink;
    this.#rtxSeq = firstRtxSeq & 0xffff;
  }

  /** Send again the packets still at hand of the viewer's sequence numbers `lost`; returns how many went. */
  resend(lost: number[]): number {
    const { egress, rtcp } = this.#sink;
    const h = egress.header;
    const rtx = rtcp?.rtx;
    let sent = 0;
    for (const viewerSeq of lost) {
      const packet = this.#history.get((viewerSeq - h.seqOffset) & 0xffff);
      if (!packet) continue;
      const ts = (packet.ts + h.tsOffset) >>> 0;
      let ok: boolean;
      if (rtx) {
        // RFC 4588: the original sequence number, then the original payload, on the RTX stream.
        const payload = Buffer.allocUnsafe(packet.payload.length + 2);
        payload.writeUInt16BE(viewerSeq & 0xffff, 0);
        payload.set(packet.payload, 2);
        ok = egress.sendRaw(1, payload, packet.marker, rtx.payloadType, this.#rtxSeq, ts, rtx.ssrc);
        this.#rtxSeq = (this.#rtxSeq + 1) & 0xffff;
      } else {
        ok = egress.sendRaw(0, packet.payload, packet.marker, h.payloadType, viewerSeq, ts, h.ssrc);
      }
      if (ok) sent++;
    }
    return sent;
  }
}
