import type { Clock, Ticker } from '../../src/relay/sender-reports.js';
import type { SenderInfo, StreamRtcp } from '../../src/relay/sink.js';

/** A clock that moves only when told, running its tickers on the way (milliseconds). */
export class FakeClock implements Clock {
  #now: number;
  readonly #tickers = new Set<{ ms: number; tick: () => void; next: number }>();

  constructor(start = 1_750_000_000_000) {
    this.#now = start;
  }

  now(): number {
    return this.#now;
  }

  every(ms: number, tick: () => void): Ticker {
    const entry = { ms, tick, next: this.#now + ms };
    this.#tickers.add(entry);
    return { stop: () => this.#tickers.delete(entry) };
  }

  /** How many tickers are running. */
  get tickers(): number {
    return this.#tickers.size;
  }

  advance(ms: number): void {
    const until = this.#now + ms;
    for (;;) {
      let first: { ms: number; tick: () => void; next: number } | undefined;
      for (const t of this.#tickers) if (t.next <= until && (!first || t.next < first.next)) first = t;
      if (!first) break;
      this.#now = first.next;
      first.next += first.ms;
      first.tick();
    }
    this.#now = until;
  }
}

/** A stream's RTCP side that records what the forwarder asks of it. */
export class RecordingRtcp implements StreamRtcp {
  readonly rtx: { ssrc: number; payloadType: number } | undefined;
  readonly updates: SenderInfo[] = [];
  /** When each sender report was sent (the clock's ms). */
  readonly reports: number[] = [];
  nackHandler: ((lost: number[]) => void) | undefined;
  readonly #clock: Clock;

  constructor(clock: Clock, rtx?: { ssrc: number; payloadType: number }) {
    this.#clock = clock;
    this.rtx = rtx;
  }

  onNack(handler: (lost: number[]) => void): () => void {
    this.nackHandler = handler;
    return () => (this.nackHandler = undefined);
  }

  update(info: SenderInfo): void {
    this.updates.push(info);
  }

  sendReport(): void {
    this.reports.push(this.#clock.now());
  }
}
