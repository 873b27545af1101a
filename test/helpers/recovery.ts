/** How long a watch page took to play again after a fault (its frames recorded by recordFrames). */
import { frameGaps, waitFor, type Evaluator } from './browser.js';

/**
 * After a fault at `since` (ms, Date.now()): the page's picture stops, then plays again (ten new
 * frames, the last one fresh). Returns how long after `since` it played again.
 */
export async function playsAgain(page: Evaluator, since: number, what: string): Promise<number> {
  const stalled = await waitFor(() => frameGaps(page), (g) => g.sinceLastMs > 400, 15_000, `${what}: the picture stopping`);
  await waitFor(() => frameGaps(page), (g) => g.frames >= stalled.frames + 10 && g.sinceLastMs < 300, 30_000, `${what}: the picture playing again`);
  return Date.now() - since;
}
