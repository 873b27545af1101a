/**
 * A room's viewers from the load generator (bench/relay/subscribers.ts): headless WHEP viewers that
 * send what libwebrtc sends (receiver reports, REMB, NACKs, consent checks) but do not decode, so
 * one process holds hundreds. Used for the room sizes libwebrtc viewers cannot reach on this
 * machine (100, 300), with libwebrtc viewers at the small sizes as the cross-check.
 */
import { child } from './relay/load.js';
import { sleep } from './lib.js';

type Generator = ReturnType<typeof child>;
interface Report {
  at: number;
  viewers: number;
  failed: number;
  perViewer?: number[];
}

export class GeneratorCrowd {
  readonly #base: string;
  readonly #room: string;
  readonly #generators: Generator[] = [];
  #size = 0;

  constructor(base: string, room: string) {
    this.#base = base;
    this.#room = room;
  }

  get size(): number {
    return this.#size;
  }

  /** Up to `to` viewers: one more generator process with the difference; waits until they connected or failed. */
  async grow(to: number): Promise<void> {
    const more = to - this.#size;
    if (more <= 0) return;
    const generator = child('./subscribers.ts', [this.#base, this.#room, String(more), '--viewers', 'browser']);
    this.#generators.push(generator);
    this.#size = to;
    const deadline = Date.now() + 20_000 + more * 100;
    for (;;) {
      const last = generator.last() as Report | undefined;
      if (last && last.viewers + last.failed >= more) break;
      if (generator.proc.exitCode !== null) throw new Error(`a generator process ended (${generator.proc.exitCode})`);
      if (Date.now() > deadline) throw new Error(`${last?.viewers ?? 0} of ${more} generator viewers connected in time`);
      await sleep(250);
    }
    if ((generator.last() as Report).failed > 0) throw new Error(`${(generator.last() as Report).failed} generator viewers failed to connect`);
  }

  /** Each viewer's packets so far, from every generator's next report (they report once a second), and when they were read. */
  async counts(): Promise<{ at: number; counts: number[] }> {
    const after = Date.now();
    const reports: Report[] = [];
    for (const g of this.#generators) {
      const deadline = Date.now() + 3_000;
      while (((g.last() as Report | undefined)?.at ?? 0) <= after && Date.now() < deadline) await sleep(50);
      reports.push(g.last() as Report);
    }
    const at = reports.reduce((sum, r) => sum + r.at, 0) / Math.max(1, reports.length);
    return { at: reports.length ? at : Date.now(), counts: reports.flatMap((r) => r.perViewer ?? []) };
  }

  async stop(): Promise<void> {
    await Promise.all(
      this.#generators.splice(0).map(async (g) => {
        g.proc.kill('SIGTERM');
        await Promise.race([new Promise((r) => g.proc.once('exit', r)), sleep(5_000)]);
        g.proc.kill('SIGKILL');
      }),
    );
  }
}
