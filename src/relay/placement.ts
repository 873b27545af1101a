/**
 * Which thread a new viewer's leg runs on. A small room costs least on the main thread, which
 * already receives its publisher: each packet to a worker is a message and a wake-up of that
 * thread, which a handful of viewers never pays back. So the first legs of the process stay on the
 * main thread; legs beyond that go to the worker threads, started when the main thread's share
 * is nearly full so the first leg there does not wait for a thread to boot.
 */

/**
 * Legs the main thread keeps before spreading viewers over the workers. `LANCAST_RELAY_MAIN_LEGS`
 * changes it (0: every leg on a worker, as tests of the worker path want).
 */
export const MAIN_THREAD_LEGS = mainLegsFromEnv(process.env.LANCAST_RELAY_MAIN_LEGS) ?? 40;

export function mainLegsFromEnv(value: string | undefined): number | undefined {
  if (value === undefined || value === '') return undefined;
  const n = Number(value);
  if (!Number.isInteger(n) || n < 0) throw new Error(`LANCAST_RELAY_MAIN_LEGS must be a whole number of legs, not "${value}"`);
  return n;
}

export class LegPlacement {
  readonly #mainLimit: number;
  #onMain = 0;

  constructor(mainLimit = MAIN_THREAD_LEGS) {
    this.#mainLimit = mainLimit;
  }

  /** Legs now on the main thread. */
  get onMain(): number {
    return this.#onMain;
  }

  /** True: put the next leg on the main thread (and count it until `released`). */
  takeMain(): boolean {
    if (this.#onMain >= this.#mainLimit) return false;
    this.#onMain++;
    return true;
  }

  released(): void {
    this.#onMain = Math.max(0, this.#onMain - 1);
  }

  /** Time to start the workers: the main thread's share is three quarters full. */
  get workersSoon(): boolean {
    return this.#onMain >= Math.floor((this.#mainLimit * 3) / 4);
  }
}
