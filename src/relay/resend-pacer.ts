/**
 * How much of a viewer's NACKs the relay answers (issue 15). A congested viewer gets fewer
 * packets, not more: a packet resent a moment ago is not resent again (a congested link NACKs the
 * retransmission's own loss, and resending it into the same full link only adds to the queue),
 * resends are paced within a share of what the viewer's link carries (a token bucket), and when
 * that share keeps running out the viewer is better served by a keyframe than by a storm of
 * resends. As in libwebrtc's pacer, a packet goes while the bucket is not empty and may take it
 * into debt, paid off before the next one. Both ways a viewer is sent video use it: one layer of a simulcast publisher
 * (rewriter.ts) and the one stream of a publisher without simulcast (nack-responder.ts).
 */

/** A packet resent this recently is not resent again. */
export const RESEND_GAP_MS = 100;
/** Resends may take this share of the viewer's budget (bits per second), in bursts of up to RESEND_BURST_MS of it. */
export const RESEND_SHARE = 0.25;
const RESEND_BURST_MS = 200;
/** Resends refused for want of budget, within a second, past which a keyframe is asked for instead. */
export const STORM = 20;
/** Past this many packets remembered, those resent longer than the gap ago are forgotten. */
const REMEMBERED = 1024;

/** A lost packet still at hand: its size, and how to send it again (true if it went). */
export interface Resendable {
  bytes: number;
  send(): boolean;
}

export class ResendPacer {
  /** Resends skipped because they were resent a moment ago or over budget. */
  skipped = 0;
  readonly #resentAt = new Map<number, number>();
  /** Bytes resends may still take, and when the bucket was last filled. */
  #tokens = Infinity;
  #filledAtMs = 0;
  /** Resends refused for want of budget since `#refusedSinceMs`. */
  #refused = 0;
  #refusedSinceMs = 0;

  /**
   * Send again what `find` still has of the viewer's sequence numbers `lost`, within `budgetBps`
   * (the viewer's link budget; Infinity: no limit). Returns how many went, and whether resends
   * were refused for want of budget often enough that a keyframe would serve better.
   */
  resend(lost: readonly number[], nowMs: number, budgetBps: number, find: (viewerSeq: number) => Resendable | undefined): { sent: number; storm: boolean } {
    this.#fill(nowMs, budgetBps);
    if (nowMs - this.#refusedSinceMs >= 1_000) {
      this.#refused = 0;
      this.#refusedSinceMs = nowMs;
    }
    let sent = 0;
    let storm = false;
    for (const viewerSeq of lost) {
      const last = this.#resentAt.get(viewerSeq);
      if (last !== undefined && nowMs - last < RESEND_GAP_MS) {
        this.skipped++;
        continue;
      }
      const packet = find(viewerSeq);
      if (!packet) continue;
      // Whatever is left in the bucket lets one packet go, into debt if it is bigger: a slow
      // link's whole burst can be less than one packet, which must not make it never resent.
      if (this.#tokens <= 0) {
        this.skipped++;
        if (++this.#refused === STORM) storm = true;
        continue;
      }
      this.#tokens -= packet.bytes;
      if (packet.send()) {
        sent++;
        this.#resentAt.set(viewerSeq, nowMs);
      }
    }
    if (this.#resentAt.size > REMEMBERED) {
      for (const [seq, at] of this.#resentAt) if (nowMs - at >= RESEND_GAP_MS) this.#resentAt.delete(seq);
    }
    return { sent, storm };
  }

  /** The bucket fills at the budget's share (paying off any debt first), up to a burst's worth; without a budget it is bottomless. */
  #fill(nowMs: number, budgetBps: number): void {
    const rate = (budgetBps * RESEND_SHARE) / 8 / 1000; // bytes per ms
    if (Number.isFinite(rate)) {
      const cap = rate * RESEND_BURST_MS;
      this.#tokens = Math.min(cap, (Number.isFinite(this.#tokens) ? this.#tokens : cap) + (nowMs - this.#filledAtMs) * rate);
    } else this.#tokens = Infinity;
    this.#filledAtMs = nowMs;
  }
}
