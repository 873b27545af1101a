/**
 * Which simulcast layer a viewer gets (issue 15). The viewer may name a height (its quality menu)
 * or leave it to the relay ('auto'). Auto follows the viewer's own link (link.ts): down at once,
 * to the highest layer its budget holds, when the estimate falls below what it is sent or its
 * reports show loss; up one layer at a time, and only after the link has shown no sign of being
 * full for a while. A browser's estimate grows only a little past what it receives, so it cannot
 * vouch for a layer it has not been sent. So going up is first a probe, where the viewer can take
 * one (RTX negotiated): for PROBE_MS the relay sends it copies of packets it already has, on the
 * RTX stream, so that its link carries what the next layer would cost; only if the link holds it
 * (no fall of the estimate with packets missing, no loss) does the layer change. A probe costs a
 * full link a short queue of duplicates, which stop at once; a trial with the layer itself costs
 * it a stutter and a keyframe to come back down. Without RTX going up is such a trial. A probe or
 * trial that fails makes the next wait longer.
 */
import type { LayerReason, QualityChoice } from './api.js';
import type { LayerInfo } from './layers.js';
import type { LinkEstimate } from './link.js';

export type { QualityChoice };

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
/** A probe lasts this long; it brings the viewer's video to PROBE_OVER times the next layer's rate. */
const PROBE_MS = 1_000;
const PROBE_OVER = 1.1;
/** After a probe that held, the link has shown it carries the layer: the next step up waits this long. */
const AFTER_PROBE_WAIT_MS = 2_000;
/**
 * After a probe that failed, the next waits this long: longer than the base wait, but not growing
 * as a failed trial's does, since a probe that fails costs the viewer little (copies dropped, a
 * few of its own packets resent) and a link that comes back should be found soon.
 */
const AFTER_PROBE_FAILED_WAIT_MS = 4_500;
/** Packets the viewer NACKs during a probe, past which the probe has failed (its link dropped them: the queue is full). */
const PROBE_LOST = 3;
/** After a probe that failed, the link's signs of being full are the probe's own: they do not move the layer down for this long. */
const PROBE_SETTLE_MS = 2_000;

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
  #shown = 0;
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
  /**
   * Auto is, or was until the player grew, at the top of what the player needs: a player made
   * larger climbs as a link that recovers does (probes), since the link has only carried the
   * smaller layer so far.
   */
  #heldByPlayer = false;
  /** When auto last moved up (or started again at the top). */
  #upAtMs = -Infinity;
  /** Moves down and up auto made, and probes started, held and failed, for /metrics and the benchmark. */
  downs = 0;
  ups = 0;
  probes = 0;
  probesHeld = 0;
  probesFailed = 0;
  /** The viewer's link can be probed: the relay has an RTX stream to it (set by the forwarder). */
  canProbe = false;
  /** Bits per second to send the viewer on top of its layer now (a probe is on), else 0. */
  probeBps = 0;
  /** The probe on: for which layer (by number), since when. */
  #probe: { to: number; fromMs: number; lost: number } | undefined;
  #probeFailedAtMs = -Infinity;

  get choice(): QualityChoice {
    return this.#choice;
  }

  /**
   * How tall the viewer's player shows the picture, in device pixels (0: not said, as from a WHEP
   * player). Auto sends no layer above the smallest that is at least this tall: a phone's small
   * player gets the half-size layer; a player going full screen climbs back to the top.
   */
  get shown(): number {
    return this.#shown;
  }

  set shown(height: number) {
    if (height === this.#shown) return;
    this.#shown = height;
    this.#endProbe();
  }

  /** Auto's layers for the viewer's player: up to the smallest at least as tall as it shows the picture (all when it did not say, or none is known to be). */
  #forPlayer(layers: LayerInfo[]): LayerInfo[] {
    if (this.#shown <= 0) return layers;
    const fills = layers.findIndex((l) => l.height >= this.#shown);
    return fills < 0 ? layers : layers.slice(0, fills + 1);
  }

  /** The viewer's wish; back to auto starts again from the top. */
  set choice(choice: QualityChoice) {
    if (choice === 'auto' && this.#choice !== 'auto') this.#auto = -1;
    this.#choice = choice;
    this.#endProbe();
  }

  /**
   * The layer to send now, given the layers (lowest first) and the one being sent (-1: none).
   * Only layers the publisher is sending count (all of them when it sends none), and those the
   * relay paused because nobody wanted them (dynacast.ts): choosing one resumes it, and its
   * rate from before the pause stands for what it will cost.
   */
  decide(all: LayerInfo[], current: number, nowMs: number): { layer: LayerInfo; reason: LayerReason } | undefined {
    const available = all.filter((l) => l.active || l.paused || l.resuming);
    const offered = available.length > 0 ? available : all;
    if (offered.length === 0) return undefined;
    if (this.choice !== 'auto') return pickLayer(offered, this.choice, Infinity);
    const layers = this.#forPlayer(offered);
    const top = layers.length - 1;
    let at = layers.findIndex((l) => l.index === this.#auto);
    const link = this.link;
    if (at < 0 || !link || (!this.#heldByLink && !this.#heldByPlayer && at < top)) {
      // First choice, a link we know nothing of, or higher layers the publisher sends again: the
      // top. Except a first choice while the top is paused: the viewer starts on the highest layer
      // being sent, whose keyframe is at hand (its first frame does not wait for the publisher to
      // start the top again), and is moved to the top at the next decision, as the top resumes.
      const sent = layers.findLastIndex((l) => l.active);
      const first = at < 0 && !layers[top].active && sent >= 0 ? sent : top;
      if (at !== first) this.#upAtMs = nowMs;
      at = first;
      this.#heldByLink = false;
      this.#endProbe();
    } else if (this.#probe) {
      at = this.#probing(layers, at, link, nowMs);
    } else {
      const sending = layers[at].bitsPerSecond;
      const budget = link.budget(sending, nowMs, nowMs - this.#upAtMs >= UP_GRACE_MS);
      if (budget < sending * DOWN_BELOW && at > 0 && nowMs - this.#probeFailedAtMs >= PROBE_SETTLE_MS) {
        const fit = pickLayer(layers, 'auto', budget)!.layer;
        const to = Math.min(at - 1, layers.indexOf(fit));
        if (nowMs - this.#lastUpAtMs < TRIAL_MS) this.#upWaitMs = Math.min(UP_WAIT_MAX_MS, this.#upWaitMs * 2);
        at = to;
        this.downs++;
        this.#roomSince = -1;
        this.#heldByLink = true;
      } else if (at < top) {
        const next = layers[at + 1];
        const room = budget >= next.bitsPerSecond * UP_ABOVE && link.loss < UP_LOSS;
        if (!room) this.#roomSince = -1;
        else if (this.#roomSince < 0) this.#roomSince = nowMs;
        else if (nowMs - this.#roomSince >= this.#upWaitMs) {
          if (this.canProbe && next.bitsPerSecond > sending) {
            this.#probe = { to: next.index, fromMs: nowMs, lost: 0 };
            this.probeBps = next.bitsPerSecond * PROBE_OVER - sending;
            this.probes++;
          } else at = this.#up(layers, at, nowMs);
        }
      } else if (nowMs - this.#lastUpAtMs >= TRIAL_MS) {
        this.#upWaitMs = UP_WAIT_MS; // the top layer held: the next trial waits the base time
      }
    }
    this.#auto = layers[at].index;
    const capped = layers.length < offered.length;
    this.#heldByPlayer = (capped && at === top) || (this.#heldByPlayer && at < top);
    void current;
    // The best the publisher sends now is 'auto', even when it is not its top layer.
    return { layer: layers[at], reason: at < top ? 'link' : capped ? 'size' : 'auto' };
  }

  /** While a probe is on: the link must keep room for the next layer while it carries the probe, for PROBE_MS; then up. */
  #probing(layers: LayerInfo[], at: number, link: LinkEstimate, nowMs: number): number {
    const probe = this.#probe!;
    const next = layers[at + 1];
    if (next?.index !== probe.to) {
      this.#endProbe(); // the layers changed under it: start again
      return at;
    }
    const budget = link.budget(layers[at].bitsPerSecond + this.probeBps, nowMs);
    const held = !link.filledSince(probe.fromMs, nowMs) && link.loss < UP_LOSS && budget >= next.bitsPerSecond * UP_ABOVE;
    if (!held) {
      this.#probeFailed(nowMs);
      return at;
    }
    if (nowMs - probe.fromMs < PROBE_MS) return at;
    this.#endProbe();
    this.probesHeld++;
    this.#upWaitMs = AFTER_PROBE_WAIT_MS;
    return this.#up(layers, at, nowMs);
  }

  /**
   * The viewer NACKed `count` packets: during a probe, its link is dropping what it is sent, and
   * the probe stops at once (not at the next decision) so that the queue it built drains.
   */
  lost(count: number, nowMs: number): void {
    if (this.#probe && (this.#probe.lost += count) >= PROBE_LOST) this.#probeFailed(nowMs);
  }

  #probeFailed(nowMs: number): void {
    this.#endProbe();
    this.probesFailed++;
    this.#probeFailedAtMs = nowMs;
    this.#upWaitMs = AFTER_PROBE_FAILED_WAIT_MS;
    this.#roomSince = -1;
  }

  #up(layers: LayerInfo[], at: number, nowMs: number): number {
    at++;
    this.#upAtMs = nowMs;
    if (at === layers.length - 1) this.#heldByLink = false;
    this.ups++;
    this.#lastUpAtMs = nowMs;
    this.#roomSince = -1;
    return at;
  }

  #endProbe(): void {
    this.#probe = undefined;
    this.probeBps = 0;
  }

  /** Report the layer now playing (called by the forwarder; repeats are not passed on). */
  report(playing: Playing): void {
    const key = `${playing.height}/${playing.reason}/${playing.layers.map((l) => l.height).join(',')}`;
    if (key === this.#last) return;
    this.#last = key;
    this.onPlaying?.(playing);
  }
}
