/**
 * What one viewer's link carries, from that viewer's own RTCP (issue 15): its receiver-side
 * bandwidth estimate (REMB, RFC draft-alvestrand-rmcat-remb), the loss its receiver reports give
 * (RFC 3550 6.4.2, fraction lost) and how often it NACKs. The budget is the estimate, cut when
 * loss says the link is full whatever the estimate claims.
 */
import { GenericNack, ReceiverEstimatedMaxBitrate, RtcpPayloadSpecificFeedback, RtcpRrPacket, RtcpSrPacket, RtcpTransportLayerFeedback, type RtcpPacket } from 'werift';

/** An estimate older than this no longer speaks for the link. */
const STALE_MS = 5_000;
/** Loss above this share means the link is full: the budget is cut below what is sent. */
const LOSS_FULL = 0.04;

export class LinkEstimate {
  /** The viewer's latest REMB, bits per second. */
  remb: number | undefined;
  #rembAtMs = 0;
  /** The latest receiver report's fraction lost (0..1), smoothed. */
  loss = 0;
  #lossAtMs = 0;
  /** NACKed packets, counted. */
  nacked = 0;
  readonly #ssrc: () => number;

  /** `ssrc`: the viewer's video stream, the one its reports are about. */
  constructor(ssrc: () => number) {
    this.#ssrc = ssrc;
  }

  /** One RTCP packet from the viewer, at `nowMs`. */
  note(packet: RtcpPacket, nowMs: number): void {
    if (packet instanceof RtcpPayloadSpecificFeedback && packet.feedback instanceof ReceiverEstimatedMaxBitrate) {
      this.remb = Number(packet.feedback.bitrate);
      this.#rembAtMs = nowMs;
    } else if (packet instanceof RtcpRrPacket || packet instanceof RtcpSrPacket) {
      const report = packet.reports.find((r) => r.ssrc === this.#ssrc());
      if (!report) return;
      const fraction = report.fractionLost / 256;
      // A bad report counts at once; good ones bring the figure down over a few reports.
      this.loss = fraction > this.loss ? fraction : this.loss * 0.5 + fraction * 0.5;
      this.#lossAtMs = nowMs;
    } else if (packet instanceof RtcpTransportLayerFeedback && packet.feedback instanceof GenericNack) {
      this.nacked += packet.feedback.lost.length;
    }
  }

  /**
   * Bits per second the viewer's video may take, given `sending` (what it is sent now): its
   * estimate while fresh, and below what it is sent when loss says the link is full. Infinity
   * when nothing limits it.
   */
  budget(sending: number, nowMs: number): number {
    let budget = this.remb !== undefined && nowMs - this.#rembAtMs < STALE_MS ? this.remb : Infinity;
    if (nowMs - this.#lossAtMs < STALE_MS && this.loss > LOSS_FULL && sending > 0) budget = Math.min(budget, sending * (1 - 2 * this.loss));
    return budget;
  }
}
