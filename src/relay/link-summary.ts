/**
 * Relay viewers' links summed up for /metrics (issue 15): a few quantiles of their bandwidth
 * estimates and losses, so a dashboard sees how the audience's links spread (is the tail of it
 * starved?) without a series per viewer.
 */
import type { LinkSample } from './link.js';

/** The quantiles /metrics shows: the poorer tenth of the links, the middle, the better tenth. */
export const QUANTILES = [0.1, 0.5, 0.9] as const;

/** The q-quantile (0..1) of ascending `sorted`, interpolated between its two nearest values; undefined for none. */
export function quantile(sorted: readonly number[], q: number): number | undefined {
  if (sorted.length === 0) return undefined;
  const at = (sorted.length - 1) * Math.min(1, Math.max(0, q));
  const lo = Math.floor(at);
  const hi = Math.ceil(at);
  return sorted[lo] + (sorted[hi] - sorted[lo]) * (at - lo);
}

export interface LinkSummary {
  /** Viewers with an estimate: what the quantiles are over. */
  viewers: number;
  /** Estimates in bits per second and loss (0..1) at each of QUANTILES; empty when no viewer has an estimate. */
  bps: Map<number, number>;
  loss: Map<number, number>;
}

export function summarizeLinks(samples: readonly LinkSample[]): LinkSummary {
  const bps = samples.map((s) => s.bps).sort((a, b) => a - b);
  const loss = samples.map((s) => s.loss).sort((a, b) => a - b);
  const at = (sorted: number[]) => new Map(sorted.length === 0 ? [] : QUANTILES.map((q) => [q, quantile(sorted, q)!]));
  return { viewers: samples.length, bps: at(bps), loss: at(loss) };
}
