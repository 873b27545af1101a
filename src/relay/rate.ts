/** Bytes over time -> bits per second, over the last completed second. */
export class RateMeter {
  #bytes = 0;
  #windowStart = Date.now();
  #lastRate = 0;

  add(bytes: number): void {
    this.#roll();
    this.#bytes += bytes;
  }

  /** Bits per second over the last full window. */
  get bitsPerSecond(): number {
    this.#roll();
    return this.#lastRate;
  }

  #roll(): void {
    const now = Date.now();
    const elapsed = now - this.#windowStart;
    if (elapsed < 1_000) return;
    this.#lastRate = elapsed < 2_000 ? Math.round((this.#bytes * 8 * 1000) / elapsed) : 0;
    this.#bytes = 0;
    this.#windowStart = now;
  }
}
