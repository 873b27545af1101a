/**
 * One stream's RTP clock on a shared timeline. RTP timestamps are unwrapped (they wrap at 2^32)
 * and mapped to seconds through the publisher's newest sender report (RFC 3550 6.4.1: the same
 * NTP wall clock for audio and video, which is what puts them in sync). A publisher that sends no
 * reports is mapped through the arrival times of its packets instead (the server's clock).
 */

/** An NTP timestamp (64-bit fixed point, seconds since 1900) in seconds. */
export function ntpSeconds(ntp: bigint): number {
  return Number(ntp >> 32n) + Number(ntp & 0xffffffffn) / 2 ** 32;
}

export class StreamClock {
  readonly rate: number;
  #last: number | undefined;
  #anchor: { seconds: number; rtp: number } | undefined;

  constructor(rate: number) {
    this.rate = rate;
  }

  /** The timestamp unwrapped past its 32-bit wraps, relative to the last one seen. */
  extend(ts: number, remember = true): number {
    if (this.#last === undefined) {
      if (remember) this.#last = ts;
      return ts;
    }
    let delta = (ts - (this.#last % 2 ** 32)) % 2 ** 32;
    if (delta >= 2 ** 31) delta -= 2 ** 32;
    else if (delta < -(2 ** 31)) delta += 2 ** 32;
    const extended = this.#last + delta;
    if (remember && delta > 0) this.#last = extended;
    return extended;
  }

  /** From now on, this timestamp is at `seconds` (a sender report's NTP time, or an arrival time). */
  anchor(seconds: number, ts: number): void {
    this.#anchor = { seconds, rtp: this.extend(ts, false) };
  }

  get mapped(): boolean {
    return this.#anchor !== undefined;
  }

  /** Seconds on the shared timeline of an unwrapped timestamp. */
  seconds(extended: number): number {
    const a = this.#anchor!;
    return a.seconds + (extended - a.rtp) / this.rate;
  }
}
