/**
 * Slows down guessing: after a few wrong keys or passwords from one address, that address must
 * wait before it may try again, doubling each time (to a minute). A right answer clears it.
 */
const FREE_ATTEMPTS = 3;
const MAX_WAIT_MS = 60_000;
/** Forget an address that has been quiet this long. */
const FORGET_MS = 10 * 60_000;

interface Record {
  failures: number;
  blockedUntil: number;
  last: number;
}

export class AttemptLimiter {
  readonly #byAddress = new Map<string, Record>();

  /** Milliseconds this address must still wait, or 0 when it may try. */
  wait(address: string, now = Date.now()): number {
    const r = this.#byAddress.get(address);
    return r ? Math.max(0, r.blockedUntil - now) : 0;
  }

  failed(address: string, now = Date.now()): void {
    this.#sweep(now);
    const r = this.#byAddress.get(address) ?? { failures: 0, blockedUntil: 0, last: now };
    r.failures++;
    r.last = now;
    if (r.failures >= FREE_ATTEMPTS) r.blockedUntil = now + Math.min(MAX_WAIT_MS, 1_000 * 2 ** (r.failures - FREE_ATTEMPTS));
    this.#byAddress.set(address, r);
  }

  succeeded(address: string): void {
    this.#byAddress.delete(address);
  }

  #sweep(now: number): void {
    if (this.#byAddress.size < 1_000) return;
    for (const [address, r] of this.#byAddress) if (now - r.last > FORGET_MS) this.#byAddress.delete(address);
  }
}
