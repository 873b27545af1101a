/** How a watch page (its frames recorded by recordFrames) came through a fault. */
import { waitFor, type Evaluator } from './browser.js';

/** The page's clock (performance.now()), to mark when a fault happens. */
export function pageNow(page: Evaluator): Promise<number> {
  return page.evaluate(() => performance.now());
}

export interface Recovery {
  /** From the fault to the first frame after the picture's longest stop. */
  playingAgainMs: number;
  /** That longest stop: the time between two frames around or after the fault. */
  frozenMs: number;
}

/**
 * After a fault at page time `faultAt`: wait until the page has shown 30 frames since and is
 * showing fresh ones, then read its longest stop from the recorded frames.
 */
export async function playsAgain(page: Evaluator, faultAt: number, what: string): Promise<Recovery> {
  const read = () =>
    page.evaluate(() => ({ frames: (window as unknown as { __frames?: number[] }).__frames ?? [], now: performance.now() }));
  const { frames } = await waitFor(
    read,
    ({ frames, now }) => frames.filter((f) => f > faultAt).length >= 30 && now - frames[frames.length - 1] < 300,
    30_000,
    `${what}: the picture playing again`,
  );
  const from = Math.max(0, frames.findIndex((f) => f > faultAt) - 1);
  let frozenMs = 0;
  let resumedAt = faultAt;
  for (let i = from + 1; i < frames.length; i++) {
    const gap = frames[i] - frames[i - 1];
    if (gap > frozenMs) {
      frozenMs = gap;
      resumedAt = frames[i]!;
    }
  }
  return { playingAgainMs: Math.round(Math.max(0, resumedAt - faultAt)), frozenMs: Math.round(frozenMs) };
}
