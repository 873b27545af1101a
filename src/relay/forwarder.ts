/**
 * The forwarding path's one entry point: every RTP packet from the publisher goes through
 * `Forwarder.forward` to every sink of its kind (sink.ts), without decoding and without copying the
 * payload in JavaScript. Per sink, an Egress writes the viewer's own header (SSRC, payload type,
 * sequence/timestamp offsets; the publisher's header extensions are dropped, their ids belong to
 * the publisher's leg), encrypts and sends: natively when the addon is built (native.ts).
 *
 * Around it, each concern in its own part: the publisher's recent packets (packet-history.ts),
 * where the newest keyframe began, replayed to a viewer who just connected (keyframe.ts), the
 * viewers' NACKs (nack-responder.ts) and their sender reports (written here, sent by werift).
 */
import type { MediaKind } from './codecs.js';
import { EgressGroup } from './egress.js';
import { KeyframeTracker } from './keyframe.js';
import { NackResponder } from './nack-responder.js';
import { PacketHistory } from './packet-history.js';
import { RateMeter } from './rate.js';
import type { Sink } from './sink.js';

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

/** What the forwarder keeps per sink. */
interface Attached {
  /** When the sink's next sender report is due (performance.now() ms); 0: at the next tick. */
  nextReportAt: number;
  stopNacks: (() => void) | undefined;
}

export class Forwarder {
  readonly #groups: Record<MediaKind, EgressGroup> = { audio: new EgressGroup(), video: new EgressGroup() };
  readonly #sinks = new Map<Sink, Attached>();
  readonly #history: Record<MediaKind, PacketHistory> = { audio: new PacketHistory(), video: new PacketHistory() };
  readonly #keyframes = new KeyframeTracker();
  readonly sent = new RateMeter();
  #sync: NodeJS.Timeout | undefined;

  /** The publisher's video codec (its MIME type), so keyframes can be found in the stream. */
  set videoCodec(mimeType: string | undefined) {
    this.#keyframes.codec = mimeType;
  }

  /**
   * Start sending to a sink. A video sink first gets the newest keyframe and the frames since
   * from history when that keyframe is recent; returns whether it did (if not, the caller asks the
   * publisher for a keyframe).
   */
  add(sink: Sink): boolean {
    const nacks = new NackResponder(this.#history[sink.kind], sink);
    const stopNacks = sink.rtcp?.onNack((lost) => {
      relayCounters.retransmitted += nacks.resend(lost);
    });
    this.#sinks.set(sink, { nextReportAt: 0, stopNacks });
    const replayed = sink.kind === 'video' && this.#replayKeyframe(sink);
    this.#groups[sink.kind].add(sink.egress);
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

  /** Stop sending to a sink, and close its egress. */
  remove(sink: Sink): void {
    const attached = this.#sinks.get(sink);
    if (!attached) return;
    this.#sinks.delete(sink);
    this.#groups[sink.kind].delete(sink.egress);
    attached.stopNacks?.();
    sink.egress.close();
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

  /** Give each sink's RTCP the clock of the newest packet and the counts sent, and send the sender reports that are due. */
  #syncSenderReports(): void {
    const now = performance.now();
    for (const [sink, attached] of this.#sinks) {
      const newest = this.#history[sink.kind];
      if (!sink.rtcp || newest.newestSeq < 0) continue;
      const stats = sink.egress.stats();
      sink.rtcp.update({
        ntpTimestamp: ntpFromMs(newest.newestAtMs),
        rtpTimestamp: (newest.newestTs + sink.egress.header.tsOffset) >>> 0,
        packetCount: stats.packets >>> 0,
        octetCount: stats.octets >>> 0,
      });
      if (now >= attached.nextReportAt && stats.packets > 0) {
        attached.nextReportAt = now + REPORT_INTERVAL_MS[sink.kind] * (0.5 + Math.random());
        sink.rtcp.sendReport();
      }
    }
  }

  clear(): void {
    for (const sink of [...this.#sinks.keys()]) this.remove(sink);
    this.#history.audio.clear();
    this.#history.video.clear();
    this.#keyframes.clear();
  }
}
