/**
 * When a relayed room's publisher may stop sending: once nobody has watched for `afterMs`, and only
 * when it can be told (the broadcast page can, a WHIP encoder cannot). A viewer arriving resumes it
 * at once; a watch page that is opening resumes it early (the join follows ~100 ms later).
 */

export interface PauseFacts {
  /** The publisher can be told, and pausing is on (`--pause-after` is not 0). */
  enabled: boolean;
  /** The publisher's media has arrived (a publisher that never sent is not paused). */
  ready: boolean;
  watched: boolean;
  paused: boolean;
  /** The countdown to pausing is running. */
  armed: boolean;
}

/** What to do now: resume, stop the countdown, start it, or nothing. */
export type PauseStep = 'resume' | 'disarm' | 'arm' | 'none';

export function pauseStep(f: PauseFacts): PauseStep {
  if (!f.enabled) return 'none';
  if (f.watched) return f.paused ? 'resume' : f.armed ? 'disarm' : 'none';
  return f.paused || f.armed || !f.ready ? 'none' : 'arm';
}

export interface Timers {
  set(fn: () => void, ms: number): unknown;
  clear(handle: unknown): void;
}

const realTimers: Timers = {
  set(fn, ms) {
    const t = setTimeout(fn, ms);
    t.unref();
    return t;
  },
  clear: (handle) => clearTimeout(handle as NodeJS.Timeout),
};

/** One publisher's pause state: feed it facts, hear `onChange(paused, why)`. */
export class PauseGate {
  readonly #enabled: boolean;
  readonly #afterMs: number;
  readonly #onChange: (paused: boolean, why: string) => void;
  readonly #timers: Timers;
  /** Keeps the publisher sending whether or not anyone watches (a recording). */
  readonly #held: () => boolean;
  #ready = false;
  #watched = false;
  #paused = false;
  #timer: unknown;
  #stopped = false;

  constructor(options: { enabled: boolean; afterMs: number; onChange: (paused: boolean, why: string) => void; held?: () => boolean; timers?: Timers }) {
    this.#enabled = options.enabled && options.afterMs > 0;
    this.#afterMs = options.afterMs;
    this.#onChange = options.onChange;
    this.#held = options.held ?? (() => false);
    this.#timers = options.timers ?? realTimers;
  }

  #wanted(): boolean {
    return this.#watched || this.#held();
  }

  get paused(): boolean {
    return this.#paused;
  }

  setReady(): void {
    this.#ready = true;
    this.#update();
  }

  setWatched(watched: boolean): void {
    this.#watched = watched;
    this.#update();
  }

  /**
   * A watch page is opening: resume now; if nobody joins, the countdown starts again. Also called
   * when a recording starts or stops (`held` changed): one that stopped starts the countdown.
   */
  wake(): void {
    if (this.#stopped) return;
    if (this.#paused) this.#resume('a watch page is opening');
    this.#update();
  }

  /** The publisher is gone: no more changes, and none announced. */
  stop(): void {
    this.#stopped = true;
    this.#disarm();
    this.#paused = false;
  }

  #update(): void {
    if (this.#stopped) return;
    const step = pauseStep({ enabled: this.#enabled, ready: this.#ready, watched: this.#wanted(), paused: this.#paused, armed: this.#timer !== undefined });
    if (step === 'resume') this.#resume('somebody is watching');
    else if (step === 'disarm') this.#disarm();
    else if (step === 'arm') {
      this.#timer = this.#timers.set(() => {
        this.#timer = undefined;
        if (this.#stopped || this.#wanted()) return;
        this.#paused = true;
        this.#onChange(true, 'nobody is watching');
      }, this.#afterMs);
    }
  }

  #disarm(): void {
    if (this.#timer !== undefined) this.#timers.clear(this.#timer);
    this.#timer = undefined;
  }

  #resume(why: string): void {
    this.#disarm();
    this.#paused = false;
    this.#onChange(false, why);
  }
}
