/**
 * What a libwebrtc viewer sends back, for the load generator's headless viewers: the server's cost
 * per viewer is mostly what it does with these, so viewers that send less make it look cheaper
 * than browsers find it.
 *
 * - A compound RTCP packet for video about once a second (libwebrtc's video interval, 0.5-1.5 s
 *   at random): a receiver report per received stream (from the native sink's counts: extended
 *   highest sequence number, cumulative and fractional loss; jitter is not measured here and
 *   reported as 0), an SDES CNAME, and REMB. For audio the same without REMB about every 5 s.
 * - A NACK as soon as the sink finds a packet missing (polled every 20 ms), once per packet.
 * - STUN consent checks (RFC 7675) on the pair the relay selected, every 2.25-2.75 s: libwebrtc
 *   checks a stable pair every 2.5 s (47 checks from 10 viewers in 10 s, measured against the
 *   relay); werift's own loop, every 4-6 s, is stopped (subscribers.ts says why).
 *
 * REMB says a steady REMB_BPS: on a free LAN libwebrtc's receive-side estimate climbs well above a
 * 2.5 Mbit/s stream and stays there, and the server only compares it with what it sends.
 */
import {
  GenericNack,
  ReceiverEstimatedMaxBitrate,
  RtcpPayloadSpecificFeedback,
  RtcpReceiverInfo,
  RtcpRrPacket,
  RtcpSourceDescriptionPacket,
  RtcpTransportLayerFeedback,
  SourceDescriptionChunk,
  SourceDescriptionItem,
  type RtcpPacket,
} from 'werift';

const REMB_BPS = 10_000_000;
const VIDEO_INTERVAL_MS = 1_000;
const AUDIO_INTERVAL_MS = 5_000;
/** libwebrtc's consent checks on a stable selected pair. */
const CHECK_INTERVAL_MS = 2_500;
export const NACK_POLL_MS = 20;

/** A viewer as this module needs it: its kinds' SSRCs, and a way to send SRTCP on its leg. */
export interface RtcpViewer {
  /** The media SSRC of each kind the server announced (its RTX SSRCs left out). */
  ssrcs: Map<number, 'audio' | 'video'>;
  send(packets: RtcpPacket[]): Promise<unknown>;
  /** Send one STUN consent check on the leg's selected pair (none: werift's checks only). */
  check?(): void;
}

/** The sink's counts for one viewer: [ssrc, received, lost, extended highest sequence, ...]. */
export type StreamCounts = (viewer: number) => number[];

/** Media SSRCs by kind from an SDP: every a=ssrc line of a section, less the RTX SSRCs of FID groups. */
export function ssrcsOf(sdp: string): Map<number, 'audio' | 'video'> {
  const found = new Map<number, 'audio' | 'video'>();
  for (const section of sdp.split(/\r?\nm=/).slice(1)) {
    const kind = section.startsWith('audio') ? 'audio' : section.startsWith('video') ? 'video' : undefined;
    if (!kind) continue;
    const rtx = new Set([...section.matchAll(/a=ssrc-group:FID \d+ (\d+)/g)].map((m) => Number(m[1])));
    for (const m of section.matchAll(/a=ssrc:(\d+) /g)) if (!rtx.has(Number(m[1]))) found.set(Number(m[1]), kind);
  }
  return found;
}

function remb(senderSsrc: number, ssrcs: number[]): RtcpPayloadSpecificFeedback {
  // Mantissa 18 bits, exponent 6: the bitrate as mantissa << exponent.
  let exp = 0;
  while (REMB_BPS >> exp >= 1 << 18) exp++;
  return new RtcpPayloadSpecificFeedback({
    feedback: new ReceiverEstimatedMaxBitrate({ senderSsrc, mediaSsrc: 0, uniqueID: 'REMB', ssrcNum: ssrcs.length, brExp: exp, brMantissa: REMB_BPS >> exp, ssrcFeedbacks: ssrcs }),
  });
}

/** One viewer's reports: a timer per kind, and the loss it last reported per stream (for the fraction). */
export class BrowserRtcp {
  readonly #id: number;
  readonly #viewer: RtcpViewer;
  readonly #counts: StreamCounts;
  readonly #localSsrc = (Math.random() * 0xffffffff) >>> 0;
  readonly #cname = `lancast-load-${Math.random().toString(36).slice(2, 10)}`;
  readonly #last = new Map<number, { expected: number; lost: number }>();
  readonly #timers = new Map<'audio' | 'video' | 'check', NodeJS.Timeout>();
  /** Compound packets, NACKs and consent checks sent. */
  sent = { reports: 0, nacks: 0, checks: 0 };

  constructor(id: number, viewer: RtcpViewer, counts: StreamCounts) {
    this.#id = id;
    this.#viewer = viewer;
    this.#counts = counts;
    this.#every('audio', AUDIO_INTERVAL_MS, () => this.#report('audio'));
    this.#every('video', VIDEO_INTERVAL_MS, () => this.#report('video'));
    const check = viewer.check?.bind(viewer);
    if (check)
      this.#every('check', CHECK_INTERVAL_MS, () => {
        this.sent.checks++;
        check();
      }, 0.1);
  }

  /** `run` every `ms` on average, each interval drawn from ms × [1 - spread, 1 + spread]. */
  #every(kind: 'audio' | 'video' | 'check', ms: number, run: () => void, spread = 0.5): void {
    const next = () => ms * (1 - spread + 2 * spread * Math.random());
    const tick = () => {
      run();
      this.#timers.set(kind, setTimeout(tick, next()).unref());
    };
    this.#timers.set(kind, setTimeout(tick, next()).unref());
  }

  #report(kind: 'audio' | 'video'): void {
    const counts = this.#counts(this.#id);
    const reports: RtcpReceiverInfo[] = [];
    for (let i = 0; i + 3 < counts.length; i += 4) {
      const [ssrc, received, lost, highest] = counts.slice(i, i + 4);
      if (this.#viewer.ssrcs.get(ssrc) !== kind) continue;
      const expected = received + lost;
      const before = this.#last.get(ssrc) ?? { expected: 0, lost: 0 };
      const newExpected = expected - before.expected;
      const fraction = newExpected > 0 ? Math.min(255, Math.floor(((lost - before.lost) * 256) / newExpected)) : 0;
      this.#last.set(ssrc, { expected, lost });
      reports.push(new RtcpReceiverInfo({ ssrc, fractionLost: fraction, packetsLost: lost, highestSequence: highest >>> 0, jitter: 0, lsr: 0, dlsr: 0 }));
    }
    if (reports.length === 0) return;
    const packets: RtcpPacket[] = [
      new RtcpRrPacket({ ssrc: this.#localSsrc, reports }),
      new RtcpSourceDescriptionPacket({ chunks: [new SourceDescriptionChunk({ source: this.#localSsrc, items: [new SourceDescriptionItem({ type: 1, text: this.#cname })] })] }),
    ];
    if (kind === 'video') packets.push(remb(this.#localSsrc, reports.map((r) => r.ssrc)));
    this.sent.reports++;
    void this.#viewer.send(packets).catch(() => undefined);
  }

  /** Ask again for these packets of one stream, as libwebrtc does when it sees them missing. */
  nack(ssrc: number, seqs: number[]): void {
    this.sent.nacks++;
    const feedback = new GenericNack({ senderSsrc: this.#localSsrc, mediaSourceSsrc: ssrc, lost: seqs });
    void this.#viewer.send([new RtcpTransportLayerFeedback({ feedback })]).catch(() => undefined);
  }

  stop(): void {
    for (const t of this.#timers.values()) clearTimeout(t);
    this.#timers.clear();
  }
}

/** Split the sink's nacks() answer into (viewer, ssrc, seqs) and hand each to its viewer. */
export function dispatchNacks(flat: number[], viewers: Map<number, BrowserRtcp>): void {
  for (let i = 0; i + 2 < flat.length; ) {
    const [viewer, ssrc, count] = flat.slice(i, i + 3);
    const seqs = flat.slice(i + 3, i + 3 + count);
    i += 3 + count;
    viewers.get(viewer)?.nack(ssrc, seqs);
  }
}
