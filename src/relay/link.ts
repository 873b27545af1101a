/**
 * What one viewer's link carries, from that viewer's own RTCP (issue 15): its receiver-side
 * bandwidth estimate (REMB), the loss its receiver reports give (RFC 3550 6.4.2, fraction lost)
 * and how often it NACKs.
 *
 * A browser's REMB grows only a little past what it receives, so a low estimate on a quiet link
 * means "you send me little", not "my link is full". What means full is the estimate falling (its
 * delay-based detector saw the queue grow: the browser cuts to ~85 % of what arrives) while
 * packets go missing (loss in its reports, or NACKs): a fall alone is often the relay's own
 * batching read as queueing on a busy machine. So the budget is the estimate only for a while
 * after such a fall, and below what is sent when loss says the link is full; otherwise nothing
 * limits it.
 */
import { GenericNack, ReceiverEstimatedMaxBitrate, RtcpPayloadSpecificFeedback, RtcpRrPacket, RtcpSrPacket, RtcpTransportLayerFeedback, type RtcpPacket } from 'werift';

/** An estimate older than this no longer speaks for the link. */
const STALE_MS = 5_000;
/**
 * Loss above this share (smoothed over reports) means the link is full: the budget is cut below
 * what is sent. One bad report is not enough: a busy receiving machine drops bursts now and then.
 */
const LOSS_FULL = 0.08;
/** An estimate this much under the one before is the browser cutting back: the link is full. */
const FALL = 0.9;
/** After a fall, the estimate is the budget for this long. */
const FULL_FOR_MS = 3_000;
/** A fall counts when packets went missing this recently, or the reports show this much loss. */
const MISSING_MS = 2_000;
const SOME_LOSS = 0.01;

/** One viewer's link as /metrics sums it up: its latest estimate (bits per second) and smoothed loss (0..1). */
export interface LinkSample {
  bps: number;
  loss: number;
}

export class LinkEstimate {
  /** The viewer's latest REMB, bits per second. */
  remb: number | undefined;
  #rembAtMs = 0;
  /** When the estimate last fell (-Infinity: never). */
  #fellAtMs = -Infinity;
  /** The latest receiver report's fraction lost (0..1), smoothed. */
  loss = 0;
  #lossAtMs = 0;
  /** NACKed packets, counted, and when the last NACK came. */
  nacked = 0;
  #nackAtMs = -Infinity;
  readonly #ssrc: () => number;

  /** `ssrc`: the viewer's video stream, the one its reports are about. */
  constructor(ssrc: () => number) {
    this.#ssrc = ssrc;
  }

  /** One RTCP packet from the viewer, at `nowMs`. */
  note(packet: RtcpPacket, nowMs: number): void {
    if (packet instanceof RtcpPayloadSpecificFeedback && packet.feedback instanceof ReceiverEstimatedMaxBitrate) {
      const remb = Number(packet.feedback.bitrate);
      if (this.remb !== undefined && remb < this.remb * FALL) this.#fellAtMs = nowMs;
      this.remb = remb;
      this.#rembAtMs = nowMs;
    } else if (packet instanceof RtcpRrPacket || packet instanceof RtcpSrPacket) {
      const report = packet.reports.find((r) => r.ssrc === this.#ssrc());
      if (!report) return;
      const fraction = report.fractionLost / 256;
      this.loss = this.loss * 0.5 + fraction * 0.5;
      this.#lossAtMs = nowMs;
    } else if (packet instanceof RtcpTransportLayerFeedback && packet.feedback instanceof GenericNack) {
      this.nacked += packet.feedback.lost.length;
      this.#nackAtMs = nowMs;
    }
  }

  /**
   * The viewer's estimate and loss for /metrics (link-summary.ts): none when no REMB was heard in
   * the last STALE_MS, since an old estimate says nothing of the link now.
   */
  sample(nowMs: number): LinkSample | undefined {
    if (this.remb === undefined || nowMs - this.#rembAtMs >= STALE_MS) return undefined;
    return { bps: this.remb, loss: this.loss };
  }

  /** The estimate fell after `sinceMs`, with packets missing: the link did not carry what it was sent since then. */
  filledSince(sinceMs: number, nowMs: number): boolean {
    return this.#fellAtMs > sinceMs && this.#missing(nowMs);
  }

  #missing(nowMs: number): boolean {
    return nowMs - this.#nackAtMs < MISSING_MS || this.loss > SOME_LOSS;
  }

  /**
   * Bits per second the viewer's video may take, given `sending` (what it is sent now): its
   * estimate after a fall (unless `useEstimate` is false), and below what it is sent when loss
   * says the link is full. Infinity when nothing limits it.
   */
  budget(sending: number, nowMs: number, useEstimate = true): number {
    const full = useEstimate && this.remb !== undefined && nowMs - this.#rembAtMs < STALE_MS && nowMs - this.#fellAtMs < FULL_FOR_MS && this.#missing(nowMs);
    let budget = full ? this.remb! : Infinity;
    // Loss says the link is full: well under what is sent, so that a layer that fits is chosen.
    if (nowMs - this.#lossAtMs < STALE_MS && this.loss > LOSS_FULL && sending > 0) budget = Math.min(budget, sending * 0.6 * (1 - this.loss));
    return budget;
  }
}
