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
import { NackResponder } from './nack-responder.js';
import { PacketHistory } from './packet-history.js';
import { RateMeter } from './rate.js';
import { SenderReports, systemClock, type Clock } from './sender-reports.js';
import type { Sink } from './sink.js';

/** Process-wide relay counters, for /metrics and the benchmarks. */
export const relayCounters = { packetsIn: 0, bytesIn: 0, packetsOut: 0, bytesOut: 0, retransmitted: 0 };

/** A new viewer gets the last keyframe from history (then the frames since) if it is this recent. */
const KEYFRAME_REPLAY_MS = 1_000;

export class Forwarder {
  readonly #groups: Record<MediaKind, EgressGroup> = { audio: new EgressGroup(), video: new EgressGroup() };
  /** Each sink, and how to stop answering its NACKs. */
  readonly #sinks = new Map<Sink, (() => void) | undefined>();
  readonly #history: Record<MediaKind, PacketHistory> = { audio: new PacketHistory(), video: new PacketHistory() };
  readonly #keyframes = new KeyframeTracker();
  readonly #reports: SenderReports;
  readonly #clock: Clock;
  readonly sent = new RateMeter();

  constructor(clock: Clock = systemClock) {
    this.#clock = clock;
    this.#reports = new SenderReports(this.#history, clock);
  }

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

  /** Stop sending to a sink, and close its egress. */
  remove(sink: Sink): void {
    if (!this.#sinks.has(sink)) return;
    this.#sinks.get(sink)?.();
    this.#sinks.delete(sink);
    this.#groups[sink.kind].delete(sink.egress);
    this.#reports.delete(sink);
    sink.egress.close();
  }

  /** One packet from the publisher (its payload is kept, not copied, for retransmissions). */
  forward(kind: MediaKind, seq: number, ts: number, marker: boolean, payload: Uint8Array): void {
    relayCounters.packetsIn++;
    relayCounters.bytesIn += payload.length;
    // Padding-only packets are the publisher's bandwidth probes for its own leg: not for viewers.
    if (payload.length === 0) return;
    // Only the newest packets move the sender reports' clock and can start a keyframe.
    const atMs = this.#clock.now();
    if (this.#history[kind].put(seq, ts, marker, payload, atMs) && kind === 'video') this.#keyframes.note(seq, ts, payload, atMs);
    const group = this.#groups[kind];
    if (group.size === 0) return;
    const sent = group.send(payload, marker, seq, ts);
    relayCounters.packetsOut += sent;
    relayCounters.bytesOut += sent * payload.length;
    this.sent.add(sent * (payload.length + 12));
  }

  clear(): void {
    for (const sink of [...this.#sinks.keys()]) this.remove(sink);
    this.#history.audio.clear();
    this.#history.video.clear();
    this.#keyframes.clear();
  }
}
