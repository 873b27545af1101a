/**
 * The forwarding path, all in one place so it can be replaced: every RTP packet from the
 * publisher goes to every subscribed sender of its kind, without decoding. Each viewer gets its
 * own copy of the header (werift's sender rewrites SSRC, payload type, sequence numbers and
 * extensions in place); the payload buffer is shared, never copied. The publisher's header
 * extensions are dropped: their ids belong to the publisher's leg, not the viewer's.
 */
import { RtpHeader, RtpPacket, type RTCRtpSender } from 'werift';
import type { MediaKind } from './codecs.js';
import { RateMeter } from './rate.js';

/** Process-wide relay counters, for /metrics and the benchmarks. */
export const relayCounters = { packetsIn: 0, bytesIn: 0, packetsOut: 0, bytesOut: 0 };

/** werift's sender keeps the last packet's timestamps for its sender reports (TS-private fields). */
interface SenderClock {
  ntpTimestamp: bigint;
  rtpTimestamp: number;
}

/** True when `seq` comes after `than` in 16-bit sequence space. */
function newer(seq: number, than: number): boolean {
  return seq !== than && ((seq - than) & 0xffff) < 0x8000;
}

export class Forwarder {
  readonly #sinks: Record<MediaKind, Set<RTCRtpSender>> = { audio: new Set(), video: new Set() };
  /** The newest sequence number forwarded per publisher stream (SSRC). */
  readonly #newest = new Map<number, number>();
  readonly sent = new RateMeter();

  add(kind: MediaKind, sender: RTCRtpSender): void {
    this.#sinks[kind].add(sender);
  }

  remove(sender: RTCRtpSender): void {
    this.#sinks.audio.delete(sender);
    this.#sinks.video.delete(sender);
  }

  get size(): number {
    return Math.max(this.#sinks.audio.size, this.#sinks.video.size);
  }

  forward(kind: MediaKind, rtp: RtpPacket): void {
    const sinks = this.#sinks[kind];
    relayCounters.packetsIn++;
    relayCounters.bytesIn += rtp.payload.length;
    // Padding-only packets are the publisher's bandwidth probes for its own leg: not for viewers.
    if (sinks.size === 0 || rtp.payload.length === 0) return;
    const h = rtp.header;
    // A retransmission arrives late and old. werift's sender would take its timestamp as the
    // newest one and pair it with the current wall clock in its next sender report, which shifts
    // every viewer's audio/video clock backwards. Keep the report's clock on the newest packet.
    const newest = this.#newest.get(h.ssrc);
    const late = newest !== undefined && !newer(h.sequenceNumber, newest);
    if (!late) this.#newest.set(h.ssrc, h.sequenceNumber);
    for (const sender of sinks) {
      if (sender.dtlsTransport?.state !== 'connected') continue;
      const header = new RtpHeader({
        marker: h.marker,
        payloadType: h.payloadType,
        sequenceNumber: h.sequenceNumber,
        timestamp: h.timestamp,
        ssrc: h.ssrc,
        csrc: [],
        csrcLength: 0,
        extension: false,
        extensions: [],
      });
      const packet = new RtpPacket(header, rtp.payload);
      this.sent.add(rtp.payload.length + 12);
      relayCounters.packetsOut++;
      relayCounters.bytesOut += rtp.payload.length;
      if (late) {
        const clock = sender as unknown as SenderClock;
        const { ntpTimestamp, rtpTimestamp } = clock;
        sender.sendRtp(packet).catch(() => undefined);
        clock.ntpTimestamp = ntpTimestamp;
        clock.rtpTimestamp = rtpTimestamp;
      } else {
        sender.sendRtp(packet).catch(() => undefined);
      }
    }
  }

  clear(): void {
    this.#newest.clear();
    this.#sinks.audio.clear();
    this.#sinks.video.clear();
  }
}
