/**
 * Which simulcast layer a viewer gets (issue 15). The viewer may name a height (its quality menu)
 * or leave it to the relay ('auto'). Auto follows the viewer's own link (link.ts): down at once,
 * to the highest layer its budget holds, when the estimate falls below what it is sent or its
 * reports show loss; up one layer at a time, and only after the link has shown room for a while
 * (the estimate well above what it is sent, no loss). A browser's estimate grows only a little
 * past what it receives, so it cannot vouch for a layer it has not been sent: going up is a trial,
 * and a trial that fails (down again soon) makes the next wait longer.
 */
import type { QualityChoice } from './api.js';
import type { LayerInfo } from './layers.js';
import type { LinkEstimate } from './link.js';

export type { QualityChoice };

/** Why the layer playing is the one it is: the viewer chose it, or auto chose it (the best there is, or held back by the link). */
export type LayerReason = 'manual' | 'auto' | 'link';

export interface Playing {
  /** The publisher's layers, lowest first (heights 0 until their first keyframe). */
  layers: LayerInfo[];
  /** The layer being sent (its height), -1 while none is. */
  height: number;
  reason: LayerReason;
}

/** Below this share of what it is sent, the estimate says the link is full. */
const DOWN_BELOW = 0.85;
/** A layer fits a budget with this much to spare. */
const HEADROOM = 0.9;
/** Room to go up: the estimate this far above what is sent, and loss under UP_LOSS, for UP_WAIT_MS. */
const UP_ABOVE = 1.2;
const UP_LOSS = 0.02;
const UP_WAIT_MS = 3_000;
/** A trial up that ends in a move down within this long failed: the next wait doubles, to UP_WAIT_MAX_MS. */
const TRIAL_MS = 4_000;
const UP_WAIT_MAX_MS = 6_000;

/**
 * The layer to send for a height: the highest layer no taller than it (else the lowest). For
 * auto with a budget: the highest that fits it (else the lowest, which always plays).
 */
export function pickLayer(layers: LayerInfo[], choice: QualityChoice, budget: number): { layer: LayerInfo; reason: LayerReason } | undefined {
  if (layers.length === 0) return undefined;
  if (choice !== 'auto') {
    const fitting = layers.filter((l) => l.height > 0 && l.height <= choice);
    return { layer: fitting[fitting.length - 1] ?? layers[0]!, reason: 'manual' };
  }
  const top = layers[layers.length - 1]!;
  if (!Number.isFinite(budget)) return { layer: top, reason: 'auto' };
  const fitting = layers.filter((l) => l.bitsPerSecond <= budget * HEADROOM);
  const layer = fitting[fitting.length - 1] ?? layers[0]!;
  return { layer, reason: layer === top ? 'auto' : 'link' };
}

/** A viewer's side of layer choice: its wish and its link in, what it gets out. */
export class ViewerQuality {
  choice: QualityChoice = 'auto';
  /** The viewer's link, when its RTCP is heard (none: nothing limits it). */
  link: LinkEstimate | undefined;
  /** Told when the layer playing or the reason changes. */
  onPlaying: ((playing: Playing) => void) | undefined;
  #last = '';
  /** Auto's layer (by number), and since when the link has shown room above it. */
  #auto = -1;
  #roomSince = -1;
  #upWaitMs = UP_WAIT_MS;
  #lastUpAtMs = -Infinity;
  /** Moves down and up auto made, for /metrics and the benchmark. */
  downs = 0;
  ups = 0;

  /** The layer to send now, given the layers (lowest first) and the one being sent (-1: none). */
  decide(layers: LayerInfo[], current: number, nowMs: number): { layer: LayerInfo; reason: LayerReason } | undefined {
    if (layers.length === 0) return undefined;
    if (this.choice !== 'auto') return pickLayer(layers, this.choice, Infinity);
    const top = layers.length - 1;
    let at = layers.findIndex((l) => l.index === this.#auto);
    const link = this.link;
    if (at < 0 || !link) {
      // First choice, or a link we know nothing of: the top layer.
      at = top;
    } else {
      const sending = layers[at]!.bitsPerSecond;
      const budget = link.budget(sending, nowMs);
      if (budget < sending * DOWN_BELOW && at > 0) {
        const fit = pickLayer(layers, 'auto', budget)!.layer;
        const to = Math.min(at - 1, layers.indexOf(fit));
        if (nowMs - this.#lastUpAtMs < TRIAL_MS) this.#upWaitMs = Math.min(UP_WAIT_MAX_MS, this.#upWaitMs * 2);
        at = to;
        this.downs++;
        this.#roomSince = -1;
      } else if (at < top) {
        const room = budget >= sending * UP_ABOVE && link.loss < UP_LOSS;
        if (!room) this.#roomSince = -1;
        else if (this.#roomSince < 0) this.#roomSince = nowMs;
        else if (nowMs - this.#roomSince >= this.#upWaitMs) {
          at++;
          this.ups++;
          this.#lastUpAtMs = nowMs;
          this.#roomSince = -1;
        }
      } else if (nowMs - this.#lastUpAtMs >= TRIAL_MS) {
        this.#upWaitMs = UP_WAIT_MS; // the top layer held: the next trial waits the base time
      }
    }
    this.#auto = layers[at]!.index;
    void current;
    return { layer: layers[at]!, reason: at === top ? 'auto' : 'link' };
  }

  /** Report the layer now playing (called by the forwarder; repeats are not passed on). */
  report(playing: Playing): void {
    const key = `${playing.height}/${playing.reason}/${playing.layers.map((l) => l.height).join(',')}`;
    if (key === this.#last) return;
    this.#last = key;
    this.onPlaying?.(playing);
  }
}
