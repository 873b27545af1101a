/**
 * Sender reports for the sinks' streams (RFC 3550 6.4.1), at libwebrtc's own pace: video every
 * ~1 s, audio every ~5 s, each interval randomised to 0.5-1.5 times (RFC 3550 6.3.1), the first at
 * the next tick so a player can line audio up with video at once. One ticker per forwarder, not a
 * timer and a promise per stream as werift's own loop had. The clock and the ticker are
 * injectable, so tests drive them in milliseconds (as pion/interceptor does).
 */
import { every } from './batched-timers.js';
import type { MediaKind } from './codecs.js';
import type { PacketHistory } from './packet-history.js';
import type { Sink } from './sink.js';

export interface Ticker {
  stop(): void;
}

export interface Clock {
  /** Milliseconds since the Unix epoch, never going back: packet arrival, report schedules. */
  now(): number;
  /** Call `tick` every `ms` (at most a few hundred ms late) until stopped, without keeping the process alive. */
  every(ms: number, tick: () => void): Ticker;
}

export const systemClock: Clock = {
  now: () => performance.timeOrigin + performance.now(),
  // On the thread's batched timers (batched-timers.ts): a tick may wait for the next media batch.
  every: (ms, tick) => every(ms, tick),
};

/** How often due reports are looked for, and the sinks' counters brought up to date. */
export const TICK_MS = 500;
const REPORT_INTERVAL_MS: Record<MediaKind, number> = { audio: 5_000, video: 1_000 };
const NTP_EPOCH_OFFSET_S = 2_208_988_800;

/** A wall-clock time as a 64-bit NTP timestamp. */
export function ntpFromMs(ms: number): bigint {
  const seconds = Math.floor(ms / 1000);
  const fraction = Math.floor(((ms - seconds * 1000) / 1000) * 2 ** 32);
  return (BigInt(seconds + NTP_EPOCH_OFFSET_S) << 32n) | BigInt(fraction);
}

/** Where a kind's report clock comes from: the publisher's newest packet of that kind. */
export type NewestPacket = Pick<PacketHistory, 'newestSeq' | 'newestTs' | 'newestAtMs'>;

export class SenderReports {
  /** Each stream with an RTCP side, and when its next report is due (0: at the next tick). */
  readonly #due = new Map<Sink, number>();
  /** Streams whose timestamps are their own (a simulcast viewer's, rewritten): their newest packet sent. */
  readonly #own = new Map<Sink, () => { ts: number; atMs: number } | undefined>();
  readonly #newest: Record<MediaKind, NewestPacket>;
  readonly #clock: Clock;
  readonly #random: () => number;
  #ticker: Ticker | undefined;

  constructor(newest: Record<MediaKind, NewestPacket>, clock: Clock = systemClock, random: () => number = Math.random) {
    this.#newest = newest;
    this.#clock = clock;
    this.#random = random;
  }

  add(sink: Sink, clock?: () => { ts: number; atMs: number } | undefined): void {
    if (!sink.rtcp) return;
    this.#due.set(sink, 0);
    if (clock) this.#own.set(sink, clock);
    this.#ticker ??= this.#clock.every(TICK_MS, () => this.tick());
  }

  delete(sink: Sink): void {
    this.#own.delete(sink);
    if (this.#due.delete(sink) && this.#due.size === 0) {
      this.#ticker?.stop();
      this.#ticker = undefined;
    }
  }

  /**
   * Give each stream's RTCP the clock of the newest packet and the counts sent (werift answers
   * receiver reports from them too), and send the reports that are due to streams that have had media.
   */
  tick(): void {
    const now = this.#clock.now();
    for (const [sink, dueAt] of this.#due) {
      const newest = this.#newest[sink.kind];
      const own = this.#own.get(sink);
      const clock = own ? own() : newest.newestSeq < 0 ? undefined : { ts: (newest.newestTs + sink.egress.header.tsOffset) >>> 0, atMs: newest.newestAtMs };
      if (!clock) continue;
      const stats = sink.egress.stats();
      sink.rtcp!.update({
        ntpTimestamp: ntpFromMs(clock.atMs),
        rtpTimestamp: clock.ts,
        packetCount: stats.packets >>> 0,
        octetCount: stats.octets >>> 0,
      });
      if (now >= dueAt && stats.packets > 0) {
        this.#due.set(sink, now + REPORT_INTERVAL_MS[sink.kind] * (0.5 + this.#random()));
        sink.rtcp!.sendReport();
      }
    }
  }
}
