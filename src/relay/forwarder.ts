/**
 * The forwarding path, all in one place: every RTP packet from the publisher goes to every
 * connected viewer of its kind, without decoding and without copying the payload in JavaScript.
 * Per viewer, an Egress writes the viewer's own header (SSRC, payload type, sequence/timestamp
 * offsets; the publisher's header extensions are dropped, their ids belong to the publisher's
 * leg), encrypts and sends: natively when the addon is built (see egress.ts).
 *
 * werift still carries each viewer's RTCP: the forwarder writes the sender reports (clock and
 * counters from here, at libwebrtc's pace) and werift encrypts and sends them; its NACKs come here
 * for retransmission from a short history of the publisher's packets, RTX-wrapped where the
 * viewer negotiated RTX.
 */
import {
  compactNtp,
  RtcpSenderInfo,
  RtcpSourceDescriptionPacket,
  RtcpSrPacket,
  SourceDescriptionChunk,
  SourceDescriptionItem,
  timestampSeconds,
  type RTCRtpSender,
} from 'werift';
import type { MediaKind } from './codecs.js';
import { Egress, EgressGroup } from './egress.js';
import { KeyframeTracker } from './keyframe.js';
import { PacketHistory } from './packet-history.js';
import { RateMeter } from './rate.js';

/** Process-wide relay counters, for /metrics and the benchmarks. */
export const relayCounters = { packetsIn: 0, bytesIn: 0, packetsOut: 0, bytesOut: 0, retransmitted: 0 };

const SYNC_MS = 500;
/**
 * Sender reports per viewer stream at libwebrtc's own pace: video every ~1 s, audio every ~5 s,
 * each interval randomised to 0.5-1.5 times (RFC 3550 6.3.1), the first at the next tick so a
 * player can line audio up with video at once. werift's own loop sent both kinds every 0.5-1.5 s,
 * each on a timer and promise of its own: at 300 viewers, 600 reports, timers and promises a
 * second, about a tenth of a worker's CPU.
 */
const REPORT_INTERVAL_MS: Record<MediaKind, number> = { audio: 5_000, video: 1_000 };
/** A new viewer gets the last keyframe from history (then the frames since) if it is this recent. */
const KEYFRAME_REPLAY_MS = 1_000;
const NTP_EPOCH_OFFSET_S = 2_208_988_800;

/** A wall-clock time as a 64-bit NTP timestamp (RFC 3550 sender reports). */
export function ntpFromMs(ms: number): bigint {
  const seconds = Math.floor(ms / 1000);
  const fraction = Math.floor(((ms - seconds * 1000) / 1000) * 2 ** 32);
  return (BigInt(seconds + NTP_EPOCH_OFFSET_S) << 32n) | BigInt(fraction);
}

/**
 * werift's sender keeps these for its sender reports, and reads the `lastSR*` pair to compute the
 * round trip from the viewer's receiver reports; the relay bypasses sendRtp, so sets them.
 */
interface SenderReportState {
  ssrc: number;
  cname?: string;
  dtlsTransport?: { sendRtcp(packets: (RtcpSrPacket | RtcpSourceDescriptionPacket)[]): Promise<unknown> };
  ntpTimestamp: bigint;
  rtpTimestamp: number;
  packetCount: number;
  octetCount: number;
  lastSRtimestamp: number;
  lastSentSRTimestamp: number;
  rtxSsrc?: number;
  rtxPayloadType?: number;
  onGenericNack: { subscribe(f: (nack: { lost: number[] }) => void): { unSubscribe(): void } };
}

/** One viewer's stream of one kind. */
export class Sink {
  readonly kind: MediaKind;
  readonly egress: Egress;
  readonly sender: RTCRtpSender | undefined;
  #rtxSeq = Math.floor(Math.random() * 0x10000);
  #unsubscribe: (() => void) | undefined;
  /** When this stream's next sender report is due (performance.now() ms); 0: at the next tick. */
  nextReportAt = 0;

  constructor(kind: MediaKind, egress: Egress, sender?: RTCRtpSender) {
    this.kind = kind;
    this.egress = egress;
    this.sender = sender;
  }

  nextRtxSeq(): number {
    const s = this.#rtxSeq;
    this.#rtxSeq = (s + 1) & 0xffff;
    return s;
  }

  /** Hook werift's NACK handling to this sink (its sender reports come from the forwarder). */
  attach(forwarder: Forwarder): void {
    const s = this.sender as unknown as SenderReportState | undefined;
    if (!s) return;
    const { unSubscribe } = s.onGenericNack.subscribe((nack) => forwarder.retransmit(this, nack.lost));
    this.#unsubscribe = unSubscribe;
  }

  /** Send this stream's sender report (and its CNAME) now, from werift's sender state. */
  sendReport(): void {
    const s = this.sender as unknown as SenderReportState | undefined;
    if (!s?.dtlsTransport) return;
    const packets: (RtcpSrPacket | RtcpSourceDescriptionPacket)[] = [
      new RtcpSrPacket({
        ssrc: s.ssrc,
        senderInfo: new RtcpSenderInfo({ ntpTimestamp: s.ntpTimestamp, rtpTimestamp: s.rtpTimestamp, packetCount: s.packetCount, octetCount: s.octetCount }),
      }),
    ];
    s.lastSRtimestamp = compactNtp(s.ntpTimestamp);
    s.lastSentSRTimestamp = timestampSeconds();
    if (s.cname) {
      const item = new SourceDescriptionItem({ type: 1, text: s.cname });
      packets.push(new RtcpSourceDescriptionPacket({ chunks: [new SourceDescriptionChunk({ source: s.ssrc, items: [item] })] }));
    }
    s.dtlsTransport.sendRtcp(packets).catch(() => undefined);
  }

  detach(): void {
    this.#unsubscribe?.();
    this.#unsubscribe = undefined;
    this.egress.close();
  }
}

export class Forwarder {
  readonly #groups: Record<MediaKind, EgressGroup> = { audio: new EgressGroup(), video: new EgressGroup() };
  readonly #sinks = new Set<Sink>();
  readonly #history: Record<MediaKind, PacketHistory> = { audio: new PacketHistory(), video: new PacketHistory() };
  readonly sent = new RateMeter();
  #sync: NodeJS.Timeout | undefined;
  readonly #keyframes = new KeyframeTracker();

  /** The publisher's video codec (its MIME type), so keyframes can be found in the stream. */
  set videoCodec(mimeType: string | undefined) {
    this.#keyframes.codec = mimeType;
  }

  /**
   * Start sending to a viewer's stream. A video stream first gets the newest keyframe and the
   * frames since from history when that keyframe is recent; returns whether it did (if not, the
   * caller asks the publisher for a keyframe).
   */
  add(sink: Sink): boolean {
    this.#sinks.add(sink);
    const replayed = sink.kind === 'video' && this.#replayKeyframe(sink);
    this.#groups[sink.kind].add(sink.egress);
    sink.attach(this);
    this.#sync ??= setInterval(() => this.#syncSenderReports(), SYNC_MS);
    this.#sync.unref();
    return replayed;
  }

  #replayKeyframe(sink: Sink): boolean {
    const from = this.#keyframes.startSince(performance.timeOrigin + performance.now(), KEYFRAME_REPLAY_MS);
    if (from === undefined) return false;
    const sent = this.#history.video.replayFrom(from, (payload, marker, seq, ts) => sink.egress.send(payload, marker, seq, ts));
    relayCounters.packetsOut += sent;
    return sent > 0;
  }

  remove(sink: Sink): void {
    if (!this.#sinks.delete(sink)) return;
    this.#groups[sink.kind].delete(sink.egress);
    sink.detach();
    if (this.#sinks.size === 0) {
      clearInterval(this.#sync);
      this.#sync = undefined;
    }
  }

  get size(): number {
    return Math.max(this.#groups.audio.size, this.#groups.video.size);
  }

  /** One packet from the publisher (its payload is kept, not copied, for retransmissions). */
  forward(kind: MediaKind, seq: number, ts: number, marker: boolean, payload: Uint8Array): void {
    relayCounters.packetsIn++;
    relayCounters.bytesIn += payload.length;
    // Padding-only packets are the publisher's bandwidth probes for its own leg: not for viewers.
    if (payload.length === 0) return;
    // Only the newest packets move the sender reports' clock and can start a keyframe.
    const atMs = performance.timeOrigin + performance.now();
    if (this.#history[kind].put(seq, ts, marker, payload, atMs) && kind === 'video') this.#keyframes.note(seq, ts, payload, atMs);
    const group = this.#groups[kind];
    if (group.size === 0) return;
    const sent = group.send(payload, marker, seq, ts);
    relayCounters.packetsOut += sent;
    relayCounters.bytesOut += sent * payload.length;
    this.sent.add(sent * (payload.length + 12));
  }

  /** A viewer reported these of its sequence numbers lost: send them again if still at hand. */
  retransmit(sink: Sink, lost: number[]): void {
    const history = this.#history[sink.kind];
    const h = sink.egress.header;
    const s = sink.sender as unknown as SenderReportState | undefined;
    for (const viewerSeq of lost) {
      const packet = history.get((viewerSeq - h.seqOffset) & 0xffff);
      if (!packet) continue;
      const { payload, marker } = packet;
      const ts = (packet.ts + h.tsOffset) >>> 0;
      let ok: boolean;
      if (s?.rtxPayloadType !== undefined && s.rtxSsrc !== undefined) {
        // RFC 4588: the original sequence number, then the original payload, on the RTX stream.
        const rtx = Buffer.allocUnsafe(payload.length + 2);
        rtx.writeUInt16BE(viewerSeq & 0xffff, 0);
        rtx.set(payload, 2);
        ok = sink.egress.sendRaw(1, rtx, marker, s.rtxPayloadType, sink.nextRtxSeq(), ts, s.rtxSsrc);
      } else {
        ok = sink.egress.sendRaw(0, payload, marker, h.payloadType, viewerSeq, ts, h.ssrc);
      }
      if (ok) relayCounters.retransmitted++;
    }
  }

  /**
   * Give werift's sender state the clock of the newest packet and the counts sent, and send the
   * sender reports that are due.
   */
  #syncSenderReports(): void {
    const now = performance.now();
    for (const sink of this.#sinks) {
      const s = sink.sender as unknown as SenderReportState | undefined;
      const newest = this.#history[sink.kind];
      if (!s || newest.newestSeq < 0) continue;
      const stats = sink.egress.stats();
      s.ntpTimestamp = ntpFromMs(newest.newestAtMs);
      s.rtpTimestamp = (newest.newestTs + sink.egress.header.tsOffset) >>> 0;
      s.packetCount = stats.packets >>> 0;
      s.octetCount = stats.octets >>> 0;
      if (now >= sink.nextReportAt && stats.packets > 0) {
        sink.nextReportAt = now + REPORT_INTERVAL_MS[sink.kind] * (0.5 + Math.random());
        sink.sendReport();
      }
    }
  }

  clear(): void {
    for (const sink of [...this.#sinks]) this.remove(sink);
    this.#history.audio.clear();
    this.#history.video.clear();
    this.#keyframes.clear();
  }
}
