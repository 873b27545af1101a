/**
 * Sending to one viewer without werift's per-packet machinery: werift negotiates the viewer's leg
 * (ICE, DTLS, SRTP keys, SSRCs, payload types) and keeps doing RTCP; once the leg is up, an Egress
 * takes the keys and the ICE socket and does header, SRTP and send itself.
 *
 * Two implementations of one contract: the native addon (native.ts: one reused OpenSSL context
 * per viewer, a stack buffer, `sendto()` on the socket's descriptor, no allocation per packet),
 * and the TypeScript fallback (srtp.ts, Node's `dgram`) where the addon is not built or for legs
 * that go through a TURN server.
 */
import type { Socket } from 'node:dgram';
import type { RTCRtpSender } from 'werift';
import { native, socketFd } from './native.js';
import { AES_CM_128_HMAC_SHA1_80, protect, RolloverCounter, type SrtpKeys } from './srtp.js';
import { offsetVp8Ids } from './vp8-ids.js';
import { weriftSenderTransport } from './werift/index.js';

// Still imported from here by the ingress, start.ts, their tests and the hot-path bench; their
// home is native.ts and srtp.ts.
export { egressImplementation, native, NO_SEND_FOR_BENCHMARKS, NO_SRTP_FOR_BENCHMARKS } from './native.js';
export { AEAD_AES_128_GCM, AES_CM_128_HMAC_SHA1_80, type SrtpKeys } from './srtp.js';

export interface StreamHeader {
  ssrc: number;
  payloadType: number;
  /** Added to the publisher's sequence number / timestamp (mod 2^16 / 2^32). */
  seqOffset: number;
  tsOffset: number;
}

/** Where protected packets go: a UDP socket (fast path) or any function (TURN, tests). */
export type EgressTarget =
  | { kind: 'udp'; socket: Socket; address: string; port: number }
  | { kind: 'function'; send: (packet: Buffer) => void };

/** One viewer's outgoing media stream (and its RTX stream, for retransmissions). */
export class Egress {
  readonly header: StreamHeader;
  readonly native: object | undefined;
  readonly #keys: SrtpKeys;
  readonly #target: EgressTarget;
  readonly #roc = [new RolloverCounter(), new RolloverCounter()];
  #packets = 0;
  #octets = 0;
  #dropped = 0;
  #closed = false;
  /** Added to VP8 picture ids and TL0PICIDX by `send` (a simulcast viewer's run: setOffsets). */
  #pidOffset = 0;
  #tl0Offset = 0;
  readonly #onSocketClose = () => this.close();

  constructor(keys: SrtpKeys, target: EgressTarget, header: StreamHeader, useNative = true, benchFlags = 0) {
    this.#keys = keys;
    this.#target = target;
    this.header = header;
    const fd = target.kind === 'udp' ? socketFd(target.socket) : undefined;
    if (native && useNative && fd !== undefined && target.kind === 'udp') {
      this.native = native.create(fd, target.address, target.port, header.ssrc, header.payloadType, header.seqOffset, header.tsOffset, keys.profile, keys.key, keys.salt, keys.profile === AES_CM_128_HMAC_SHA1_80 ? keys.authKey : null, benchFlags);
    }
    // A closed socket's descriptor number can be reused by the next socket: stop before that.
    if (target.kind === 'udp') target.socket.once('close', this.#onSocketClose);
  }

  get closed(): boolean {
    return this.#closed;
  }

  /** Send one packet with explicit header fields (no offsets applied): retransmissions, RTX. */
  sendRaw(stream: 0 | 1, payload: Uint8Array, marker: boolean, payloadType: number, seq: number, ts: number, ssrc: number): boolean {
    if (this.#closed) return false;
    if (this.native) return native!.sendRaw(this.native, stream, payload, marker, payloadType, seq & 0xffff, ts >>> 0, ssrc >>> 0) === 1;
    const header = Buffer.allocUnsafe(12);
    header[0] = 0x80;
    header[1] = (marker ? 0x80 : 0) | (payloadType & 0x7f);
    header.writeUInt16BE(seq & 0xffff, 2);
    header.writeUInt32BE(ts >>> 0, 4);
    header.writeUInt32BE(ssrc >>> 0, 8);
    let packet: Buffer;
    try {
      packet = protect(this.#keys, header, payload, this.#roc[stream].for(seq & 0xffff));
    } catch {
      this.#dropped++;
      return false;
    }
    if (this.#target.kind === 'udp') this.#target.socket.send(packet, this.#target.port, this.#target.address);
    else this.#target.send(packet);
    this.#packets++;
    this.#octets += payload.length;
    return true;
  }

  /** Send the publisher's packet with this viewer's SSRC, payload type and offsets. */
  send(payload: Uint8Array, marker: boolean, seq: number, ts: number): boolean {
    const h = this.header;
    return this.sendRaw(0, offsetVp8Ids(payload, this.#pidOffset, this.#tl0Offset), marker, h.payloadType, (seq + h.seqOffset) & 0xffff, (ts + h.tsOffset) >>> 0, h.ssrc);
  }

  /**
   * What `send` (and a group's native fan-out) adds from now on: to sequence numbers, timestamps,
   * and VP8 picture ids and TL0PICIDX (a simulcast viewer moved to another layer: rewriter.ts).
   */
  setOffsets(seqOffset: number, tsOffset: number, pidOffset = 0, tl0Offset = 0): void {
    this.header.seqOffset = seqOffset & 0xffff;
    this.header.tsOffset = tsOffset >>> 0;
    this.#pidOffset = pidOffset & 0x7fff;
    this.#tl0Offset = tl0Offset & 0xff;
    if (this.native) native!.setOffsets(this.native, this.header.seqOffset, this.header.tsOffset, this.#pidOffset, this.#tl0Offset);
  }

  stats(): { packets: number; octets: number; dropped: number } {
    if (this.native) {
      const [packets, octets, dropped] = native!.stats(this.native);
      return { packets, octets, dropped };
    }
    return { packets: this.#packets, octets: this.#octets, dropped: this.#dropped };
  }

  close(): void {
    if (this.#closed) return;
    this.#closed = true;
    if (this.#target.kind === 'udp') this.#target.socket.off('close', this.#onSocketClose);
    if (this.native) native!.close(this.native);
  }
}

/**
 * A viewer's RTX stream (RFC 4588): each packet is the original sequence number, then the
 * original payload, with the stream's own sequence numbers from a random start (RFC 3550 5.1).
 */
export class RtxStream {
  #seq: number;

  constructor(firstSeq = Math.floor(Math.random() * 0x10000)) {
    this.#seq = firstSeq & 0xffff;
  }

  /** Send a packet of the viewer's stream (its sequence number `viewerSeq`) again on `rtx`; true if it went. */
  send(egress: Egress, rtx: { ssrc: number; payloadType: number }, viewerSeq: number, payload: Uint8Array, marker: boolean, ts: number): boolean {
    const wrapped = Buffer.allocUnsafe(payload.length + 2);
    wrapped.writeUInt16BE(viewerSeq & 0xffff, 0);
    wrapped.set(payload, 2);
    const ok = egress.sendRaw(1, wrapped, marker, rtx.payloadType, this.#seq, ts, rtx.ssrc);
    this.#seq = (this.#seq + 1) & 0xffff;
    return ok;
  }
}

/** Every viewer of one publisher stream: one native call per packet for all native egresses. */
export class EgressGroup {
  #natives: object[] = [];
  #others: Egress[] = [];
  readonly #members = new Set<Egress>();

  get size(): number {
    return this.#members.size;
  }

  add(e: Egress): void {
    this.#members.add(e);
    this.#rebuild();
  }

  delete(e: Egress): void {
    if (this.#members.delete(e)) this.#rebuild();
  }

  #rebuild(): void {
    const live = [...this.#members].filter((e) => !e.closed);
    this.#natives = live.filter((e) => e.native).map((e) => e.native!);
    this.#others = live.filter((e) => !e.native);
  }

  /** The members' native egresses, when every member sends natively (else undefined). */
  get natives(): object[] | undefined {
    return this.#others.length === 0 ? this.#natives : undefined;
  }

  /** Returns how many viewers the packet went to. */
  send(payload: Uint8Array, marker: boolean, seq: number, ts: number): number {
    let sent = this.#natives.length > 0 ? native!.fanout(this.#natives, payload, marker, seq, ts) : 0;
    for (const e of this.#others) if (e.send(payload, marker, seq, ts)) sent++;
    return sent;
  }
}

/** An Egress for a connected werift sender, or undefined when it is not connected yet. */
export function egressFor(sender: RTCRtpSender, header: StreamHeader): Egress | undefined {
  const leg = weriftSenderTransport(sender);
  return leg && new Egress(leg.keys, leg.target, header);
}
