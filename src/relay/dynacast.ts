/**
 * Dynacast (as LiveKit calls it): a simulcast publisher stops sending the layers no viewer wants.
 * Receiving a layer costs the relay its ICE, SRTP and werift work per packet whether or not it is
 * forwarded, and the publisher its encoding and upload; with every viewer on the top layer, the two
 * lower ones were most of the relay's extra cost of simulcast (docs/performance.md).
 *
 * A layer is paused once no viewer has been on it or switching to it for IDLE_MS, and resumed the
 * moment one wants it (the layer selector picks it, the viewer picks it on the menu): the viewer
 * plays on where it is until the resumed layer's first keyframe, as at any switch. Only the
 * broadcast page can be told (a WHIP encoder cannot), and only layers the publisher is sending
 * are paused: a layer it holds back itself (its uplink estimate still growing, its CPU short) is
 * its own business, and pausing it would keep it off once the publisher could send it again.
 */

/**
 * How long a layer must go unwanted before it is paused. Longer than a viewer's way back up
 * (UP_WAIT_MS and a PROBE_MS in layer-selector.ts: 4 s) so that a dip of its link does not cost
 * the publisher an encoder restart and the viewer a wait for it; short, because until then the
 * relay receives what nobody watches.
 */
export const LAYER_IDLE_MS = 4_000;

/** What the relay knows of one publisher's layers now; bit i of each mask is layer i. */
export interface LayerFacts {
  /** Layers a viewer is on or switching to, on any thread. */
  wanted: number;
  /** Layers the publisher is sending (packets lately). */
  sending: number;
  /** Layers that must keep coming whether watched or not (the one a recording takes). */
  kept: number;
}

/** One publisher's paused layers: feed it facts (on every change and now and then), read `paused`. */
export class LayerPauses {
  readonly #idleMs: number;
  /** Paused layers (bit i: layer i). */
  #paused = 0;
  /** Per layer: since when it has been sent and unwanted. */
  readonly #idleSince = new Map<number, number>();

  constructor(idleMs = LAYER_IDLE_MS) {
    this.#idleMs = idleMs;
  }

  get paused(): number {
    return this.#paused;
  }

  /** Take the facts as of `nowMs`; true when the paused layers changed. */
  step(facts: LayerFacts, nowMs: number): boolean {
    const before = this.#paused;
    const wanted = facts.wanted | facts.kept;
    // Wanted again: resume at once.
    this.#paused &= ~wanted;
    if (wanted === 0) {
      // Nobody on any layer: nobody watches (the whole publisher pauses: pause-policy.ts), or the
      // first viewers are still connecting. Nothing to learn from that about the layers.
      this.#idleSince.clear();
      return this.#paused !== before;
    }
    for (let layer = 0; layer < 31; layer++) {
      const bit = 1 << layer;
      if (this.#paused & bit) continue;
      if (wanted & bit || !(facts.sending & bit)) {
        this.#idleSince.delete(layer);
        continue;
      }
      const since = this.#idleSince.get(layer);
      if (since === undefined) this.#idleSince.set(layer, nowMs);
      else if (nowMs - since >= this.#idleMs) {
        this.#paused |= bit;
        this.#idleSince.delete(layer);
      }
    }
    return this.#paused !== before;
  }
}
