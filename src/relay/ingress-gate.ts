/**
 * While nobody consumes a relayed room's media (no viewer, WHEP player or cluster edge, no
 * recording), its publisher's RTP is dropped as each datagram arrives on the leg's ICE sockets,
 * before werift's receive path (a STUN parse attempt, ICE, DTLS/SRTP demultiplexing, RTP parse,
 * routing, NACK and statistics) and the forwarder: that path was most of what an unwatched room
 * of a WHIP publisher cost, which unlike the broadcast page cannot be asked to stop sending.
 *
 * Only SRTP RTP is dropped. STUN, DTLS and SRTCP still reach werift: ICE consent, DTLS and the
 * publisher's sender reports keep working. Each dropped packet is still authenticated and
 * decrypted by the leg's native decrypt (ingress.ts), so its SRTP rollover counter follows the
 * stream across a gap of any length, and only a packet that authenticates counts as received
 * (in the relay's counters, the publisher's rate, werift's receive statistics). Without the
 * native decrypt there is no gate: werift's own decrypt keeps the rollover counters, and could not
 * follow packets it never sees.
 */
import type { RTCPeerConnection } from 'werift';
import { connectedReceivingSrtp } from './werift/index.js';
import { receiveStats } from './werift/receive-stats.js';

/** Publisher packets dropped before werift, all legs (each also counted as received). */
export const gateCounters = { packets: 0 };

/** RFC 7983 (first byte 128-191) and RFC 5761 (payload type, i.e. RTCP packet type, not 64-95): an RTP packet. */
export function isRtp(datagram: Buffer): boolean {
  const pt = datagram[1] & 0x7f;
  return datagram.length >= 12 && datagram[0] >= 128 && datagram[0] <= 191 && (pt < 64 || pt > 95);
}

/** Where a plain RTP packet's payload starts and ends (RFC 3550 5.1: CSRCs, header extension, padding); undefined when malformed. */
export function payloadBounds(rtp: Buffer): { start: number; end: number } | undefined {
  let start = 12 + 4 * (rtp[0] & 0x0f);
  if (rtp[0] & 0x10) {
    if (start + 4 > rtp.length) return undefined;
    start += 4 + 4 * rtp.readUInt16BE(start + 2);
  }
  const end = rtp[0] & 0x20 ? rtp.length - rtp[rtp.length - 1] : rtp.length;
  return start <= end ? { start, end } : undefined;
}

/** A dropped packet, for the publisher's own accounting. */
export type Dropped = (ssrc: number, marker: boolean, payload: Buffer) => void;

export class IngressGate {
  readonly #pc: RTCPeerConnection;
  readonly #dropped: Dropped;
  /** How to take each transport's filter away; empty while the gate is open. */
  #filters: (() => void)[] = [];

  constructor(pc: RTCPeerConnection, dropped: Dropped) {
    this.#pc = pc;
    this.#dropped = dropped;
  }

  get closed(): boolean {
    return this.#filters.length > 0;
  }

  /** Drop the publisher's RTP from now on. Returns why it cannot, if it cannot (and then drops nothing). */
  close(): string | undefined {
    if (this.closed) return undefined;
    const sessions = connectedReceivingSrtp(this.#pc);
    if (sessions.length === 0) return 'the leg is not connected';
    if (sessions.some((s) => s.decrypt === undefined)) return 'werift decrypts this leg (no native module): it must see every packet to keep its rollover counters';
    const note = receiveStats(this.#pc);
    for (const session of sessions) {
      const decrypt = session.decrypt!;
      const problem = session.filterDatagrams((datagram) => {
        if (!isRtp(datagram)) return false;
        let plain: Buffer;
        try {
          plain = decrypt(datagram);
        } catch {
          return true; // did not authenticate: counted as rejected, dropped as werift would
        }
        const bounds = payloadBounds(plain);
        if (!bounds) return true;
        gateCounters.packets++;
        const ssrc = plain.readUInt32BE(8);
        note(ssrc, plain.readUInt16BE(2), plain.readUInt32BE(4), bounds.start, bounds.end - bounds.start);
        this.#dropped(ssrc, (plain[1] & 0x80) !== 0, plain.subarray(bounds.start, bounds.end));
        return true;
      });
      if (problem) {
        this.open();
        return problem;
      }
      this.#filters.push(() => session.filterDatagrams(undefined));
    }
    return undefined;
  }

  /** Let every packet through to werift again. */
  open(): void {
    for (const remove of this.#filters.splice(0)) remove();
  }
}
