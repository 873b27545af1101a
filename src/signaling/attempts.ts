/**
 * Slows down guessing: after a few wrong keys or passwords from one address, that address must
 * wait before it may try again, doubling each time (to a minute). A right answer clears it.
 */
import { createHash, timingSafeEqual } from 'node:crypto';

const FREE_ATTEMPTS = 3;
const MAX_WAIT_MS = 60_000;
/** Forget an address that has been quiet this long. */
const FORGET_MS = 10 * 60_000;

interface Record {
  failures: number;
  blockedUntil: number;
  last: number;
}

export type Verdict = { ok: true } | { ok: false; code: 'wrong' } | { ok: false; code: 'too-many-attempts'; retryAfterMs: number };

/** Compare secrets in constant time (hashing first makes the lengths equal). */
export function secretsMatch(given: string | undefined, expected: string): boolean {
  const a = createHash('sha256').update(given ?? '').digest();
  const b = createHash('sha256').update(expected).digest();
  return timingSafeEqual(a, b) && given !== undefined;
}

export class AttemptLimiter {
  readonly #byAddress = new Map<string, Record>();

  /** May this address present a secret now, and is it one of `accepted`? Wrong answers are counted. */
  check(address: string, given: string | undefined, accepted: string[]): Verdict {
    const wait = this.wait(address);
    if (wait > 0) return { ok: false, code: 'too-many-attempts', retryAfterMs: wait };
    if (accepted.some((secret) => secretsMatch(given, secret))) {
      this.succeeded(address);
      return { ok: true };
    }
    this.failed(address);
    return { ok: false, code: 'wrong' };
  }

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
