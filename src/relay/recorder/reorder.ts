/**
 * Puts one stream's RTP packets back in sequence order. A packet that arrives early waits for the
 * ones before it (the publisher's retransmissions fill most gaps within a few round trips); once
 * the oldest gap is `waitMs` old, on the clock of the packets' arrival times, it is given up and
 * the next packet is passed on marked as following a loss. Late and duplicate packets are dropped.
 */

export interface RtpIn {
  seq: number;
  ts: number;
  marker: boolean;
  payload: Uint8Array;
  /** Arrival time, ms. */
  at: number;
}

/** A jump this far ahead is a new sender (or a long outage), not a gap to wait for. */
const RESTART_JUMP = 3_000;
/** At most this many packets wait for a gap to fill. */
const MAX_HELD = 2_000;

export class Reorderer {
  readonly #waitMs: number;
  readonly #emit: (packet: RtpIn, afterLoss: boolean) => void;
  #next: number | undefined;
  readonly #held = new Map<number, RtpIn>();
  /** When the current gap was first seen. */
  #gapSince = 0;
  /** Packets given up on, for the stats. */
  lost = 0;

  constructor(waitMs: number, emit: (packet: RtpIn, afterLoss: boolean) => void) {
    this.#waitMs = waitMs;
    this.#emit = emit;
  }

  push(packet: RtpIn): void {
    if (this.#next === undefined) {
      this.#next = packet.seq;
    }
    const ahead = (packet.seq - this.#next) & 0xffff;
    if (ahead === 0) {
      this.#pass(packet, false);
      this.#drain();
    } else if (ahead >= 0x8000 && ahead > 0x10000 - RESTART_JUMP) {
      return; // already passed on, or given up on
    } else if (ahead > RESTART_JUMP && ahead < 0x10000 - RESTART_JUMP) {
      this.flush();
      this.#next = packet.seq;
      this.#pass(packet, true);
    } else {
      if (this.#held.size === 0) this.#gapSince = packet.at;
      this.#held.set(packet.seq, packet);
    }
    while (this.#held.size > 0 && (packet.at - this.#gapSince >= this.#waitMs || this.#held.size > MAX_HELD)) this.#skipGap(packet.at);
  }

  /** Pass on everything held, in order, giving up on the gaps. */
  flush(): void {
    while (this.#held.size > 0) this.#skipGap(0);
  }

  #pass(packet: RtpIn, afterLoss: boolean): void {
    this.#next = (packet.seq + 1) & 0xffff;
    this.#emit(packet, afterLoss);
  }

  #drain(): void {
    for (let p = this.#held.get(this.#next!); p; p = this.#held.get(this.#next!)) {
      this.#held.delete(p.seq);
      this.#pass(p, false);
    }
  }

  /** Give up on the oldest gap: jump to the first packet held after it. */
  #skipGap(now: number): void {
    let first: RtpIn | undefined;
    let best = Infinity;
    for (const [seq, p] of this.#held) {
      const d = (seq - this.#next!) & 0xffff;
      if (d < best) {
        best = d;
        first = p;
      }
    }
    this.lost += best;
    this.#held.delete(first!.seq);
    this.#pass(first!, true);
    this.#drain();
    this.#gapSince = now;
  }
}
