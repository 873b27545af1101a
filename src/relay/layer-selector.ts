/**
 * Which simulcast layer a viewer gets (issue 15). The viewer may name a height (its quality menu)
 * or leave it to the relay ('auto'). Auto follows the viewer's own link (link.ts): down at once,
 * to the highest layer its budget holds, when the estimate falls below what it is sent or its
 * reports show loss; up one layer at a time, and only after the link has shown no sign of being
 * full for a while. A browser's estimate grows only a little past what it receives, so it cannot
 * vouch for a layer it has not been sent: going up is a trial, and a trial that fails (down again
 * soon) makes the next wait longer.
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

/**
 * A budget (link.ts) below this share of what is sent: the link is full. A browser that sees its
 * queue grow cuts its estimate to ~85 % of what arrives, which a busy machine's scheduling can
 * trigger on a fine link; a full link cuts it to 85 % of what the link carries, far lower.
 */
const DOWN_BELOW = 0.7;
/** A layer fits a budget with this much to spare. */
const HEADROOM = 0.9;
/** Room to go up: a budget this far above the next layer (no recent fall of the estimate), and loss under UP_LOSS, for UP_WAIT_MS. */
const UP_ABOVE = 1.2;
const UP_LOSS = 0.05;
const UP_WAIT_MS = 3_000;
/** A trial up that ends in a move down within this long failed: the next wait doubles, to UP_WAIT_MAX_MS. */
const TRIAL_MS = 4_000;
const UP_WAIT_MAX_MS = 6_000;
/**
 * After a move up, the viewer's estimate still speaks of the smaller layer, and the burst of the
 * new layer's keyframe can read as a queue: for this long only loss moves it down again.
 */
const UP_GRACE_MS = 2_000;

/**
 * The layer to send for a height: the highest layer no taller than it (else the lowest). For
 * auto with a budget: the highest that fits it (else the lowest, which always plays).
 */
export function pickLayer(layers: LayerInfo[], choice: QualityChoice, budget: number): { layer: LayerInfo; reason: LayerReason } | undefined {
  if (layers.length === 0) return undefined;
  if (choice !== 'auto') {
    const fitting = layers.filter((l) => l.height > 0 && l.height <= choice);
    return { layer: fitting[fitting.length - 1] ?? layers[0], reason: 'manual' };
  }
  const top = layers[layers.length - 1];
  if (!Number.isFinite(budget)) return { layer: top, reason: 'auto' };
  const fitting = layers.filter((l) => l.bitsPerSecond <= budget * HEADROOM);
  const layer = fitting[fitting.length - 1] ?? layers[0];
  return { layer, reason: layer === top ? 'auto' : 'link' };
}

/** A viewer's side of layer choice: its wish and its link in, what it gets out. */
export class ViewerQuality {
  #choice: QualityChoice = 'auto';
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
  /** Auto is below the top because of the viewer's link (not because higher layers were not sent). */
  #heldByLink = false;
  /** When auto last moved up (or started again at the top). */
  #upAtMs = -Infinity;
  /** Moves down and up auto made, for /metrics and the benchmark. */
  downs = 0;
  ups = 0;

  get choice(): QualityChoice {
    return this.#choice;
  }

  /** The viewer's wish; back to auto starts again from the top. */
  set choice(choice: QualityChoice) {
    if (choice === 'auto' && this.#choice !== 'auto') this.#auto = -1;
    this.#choice = choice;
  }

  /**
   * The layer to send now, given the layers (lowest first) and the one being sent (-1: none).
   * Only layers the publisher is sending count (all of them when it sends none).
   */
  decide(all: LayerInfo[], current: number, nowMs: number): { layer: LayerInfo; reason: LayerReason } | undefined {
    const active = all.filter((l) => l.active);
    const layers = active.length > 0 ? active : all;
    if (layers.length === 0) return undefined;
    if (this.choice !== 'auto') return pickLayer(layers, this.choice, Infinity);
    const top = layers.length - 1;
    let at = layers.findIndex((l) => l.index === this.#auto);
    const link = this.link;
    if (at < 0 || !link || (!this.#heldByLink && at < top)) {
      // First choice, a link we know nothing of, or higher layers the publisher sends again: the top.
      if (at !== top) this.#upAtMs = nowMs;
      at = top;
      this.#heldByLink = false;
    } else {
      const sending = layers[at].bitsPerSecond;
      const budget = link.budget(sending, nowMs, nowMs - this.#upAtMs >= UP_GRACE_MS);
      if (budget < sending * DOWN_BELOW && at > 0) {
        const fit = pickLayer(layers, 'auto', budget)!.layer;
        const to = Math.min(at - 1, layers.indexOf(fit));
        if (nowMs - this.#lastUpAtMs < TRIAL_MS) this.#upWaitMs = Math.min(UP_WAIT_MAX_MS, this.#upWaitMs * 2);
        at = to;
        this.downs++;
        this.#roomSince = -1;
        this.#heldByLink = true;
      } else if (at < top) {
        const room = budget >= layers[at + 1].bitsPerSecond * UP_ABOVE && link.loss < UP_LOSS;
        if (!room) this.#roomSince = -1;
        else if (this.#roomSince < 0) this.#roomSince = nowMs;
        else if (nowMs - this.#roomSince >= this.#upWaitMs) {
          at++;
          this.#upAtMs = nowMs;
          if (at === top) this.#heldByLink = false;
          this.ups++;
          this.#lastUpAtMs = nowMs;
          this.#roomSince = -1;
        }
      } else if (nowMs - this.#lastUpAtMs >= TRIAL_MS) {
        this.#upWaitMs = UP_WAIT_MS; // the top layer held: the next trial waits the base time
      }
    }
    this.#auto = layers[at].index;
    void current;
    // The best the publisher sends now is 'auto', even when it is not its top layer.
    return { layer: layers[at], reason: at === top ? 'auto' : 'link' };
  }

  /** Report the layer now playing (called by the forwarder; repeats are not passed on). */
  report(playing: Playing): void {
    const key = `${playing.height}/${playing.reason}/${playing.layers.map((l) => l.height).join(',')}`;
    if (key === this.#last) return;
    this.#last = key;
    this.onPlaying?.(playing);
  }
}
