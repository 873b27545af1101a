/**
 * Which simulcast layer a viewer gets (issue 15). The viewer may name a height (its quality menu)
 * or leave it to the relay ('auto'). Auto takes the highest layer that fits the viewer's link,
 * as its feedback measures it (link.ts), moving down at once and up only once the link has shown
 * room for the next layer for a while.
 */
import type { LayerInfo } from './layers.js';

import type { QualityChoice } from './api.js';

export type { QualityChoice };

/** Why the layer playing is the one it is: the viewer chose it, or auto chose it (with room to spare, or held back by the link). */
export type LayerReason = 'manual' | 'auto' | 'link';

export interface Playing {
  /** The publisher's layers, lowest first (heights 0 until their first keyframe). */
  layers: LayerInfo[];
  /** The layer being sent (its height), -1 while none is. */
  height: number;
  reason: LayerReason;
}

/** A viewer's side of layer choice: its wish in, what it gets out. */
export class ViewerQuality {
  choice: QualityChoice = 'auto';
  /** Bits per second the viewer's link is estimated to carry (Infinity: no sign of a limit). */
  budget = Infinity;
  /** Told when the layer playing or the reason changes. */
  onPlaying: ((playing: Playing) => void) | undefined;
  #last = '';

  /** Report the layer now playing (called by the forwarder; repeats are not passed on). */
  report(playing: Playing): void {
    const key = `${playing.height}/${playing.reason}/${playing.layers.map((l) => l.height).join(',')}`;
    if (key === this.#last) return;
    this.#last = key;
    this.onPlaying?.(playing);
  }
}

/**
 * The layer to send: for a height, the highest layer no taller than it (else the lowest); for
 * auto, the highest whose bitrate fits the budget (else the lowest, which always plays).
 */
export function pickLayer(layers: LayerInfo[], choice: QualityChoice, budget: number): { layer: LayerInfo; reason: LayerReason } | undefined {
  if (layers.length === 0) return undefined;
  if (choice !== 'auto') {
    const fitting = layers.filter((l) => l.height > 0 && l.height <= choice);
    return { layer: fitting[fitting.length - 1] ?? layers[0]!, reason: 'manual' };
  }
  const top = layers[layers.length - 1]!;
  if (!Number.isFinite(budget)) return { layer: top, reason: 'auto' };
  const fitting = layers.filter((l) => l.bitsPerSecond <= budget);
  const layer = fitting[fitting.length - 1] ?? layers[0]!;
  return { layer, reason: layer === top ? 'auto' : 'link' };
}
