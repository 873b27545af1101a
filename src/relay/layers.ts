/**
 * A publisher's simulcast layers (RFC 8853): one RTP stream per `rid`, each a picture of its own
 * size. A layer's number is fixed when its rid is first seen (0, 1, 2 in the order of the
 * publisher's offer); its place from lowest to highest comes from the picture size its keyframes
 * carry (VP8, H.264 SPS), or from its bitrate while no size is known, since publishers list
 * their rids in any order.
 */
import { vp8FrameStart } from './keyframe.js';
import { RateMeter } from './rate.js';

export interface LayerInfo {
  /** The layer's number, as packets carry it. */
  index: number;
  rid: string;
  width: number;
  height: number;
  bitsPerSecond: number;
  /** Packets arrived lately: a publisher short of CPU or bandwidth stops its top layers for a while. */
  active: boolean;
  /**
   * The relay asked the publisher to stop sending it, since no viewer wanted it (dynacast.ts): it
   * is not active, yet still there to be chosen (choosing it resumes it), at its last rate.
   */
  paused?: boolean;
  /** Resumed by the relay a moment ago, its packets not here yet: to be chosen as a paused one is. */
  resuming?: boolean;
}

/** A layer the relay has paused, as the main thread tells the relay workers (their own meters saw it stop). */
export interface PausedLayer {
  index: number;
  /** Its rate when it was paused: what choosing it again will cost. */
  bitsPerSecond: number;
  width: number;
  height: number;
}

/** A layer with no packet for this long is not being sent. */
const ACTIVE_MS = 500;
/**
 * Nor is one that another layer has sent this many frames past: a publisher whose picture shrank
 * (a screen shared, then a smaller camera) stops its top layers at once, while the others go on,
 * and its viewers should not wait ACTIVE_MS of black to be moved to the one below.
 */
const BEHIND_FRAMES = 4;
/**
 * A layer resumed after a pause counts at least at its rate from before for this long: its meter
 * starts again from nothing, and the selector must not take a layer at a fraction of its cost. As
 * long, until its packets come, it is 'resuming': the viewers who wanted it keep wanting it,
 * though the publisher has not started it yet.
 */
const RESUMED_FLOOR_MS = 2_000;

/** The picture size a VP8 keyframe's first packet carries (RFC 6386 9.1), if this is one. */
export function vp8KeyframeSize(p: Uint8Array): { width: number; height: number } | undefined {
  const i = vp8FrameStart(p);
  if (i === undefined) return undefined;
  // Frame tag (3 bytes, P bit clear for a keyframe), start code 9d 01 2a, then 14-bit sizes.
  if (i + 10 > p.length || (p[i] & 0x01) !== 0) return undefined;
  if (p[i + 3] !== 0x9d || p[i + 4] !== 0x01 || p[i + 5] !== 0x2a) return undefined;
  const width = (p[i + 6] | (p[i + 7] << 8)) & 0x3fff;
  const height = (p[i + 8] | (p[i + 9] << 8)) & 0x3fff;
  return width > 0 && height > 0 ? { width, height } : undefined;
}

/** Reads Exp-Golomb codes from an H.264 NAL unit (emulation prevention bytes removed). */
class Bits {
  #bit = 0;
  readonly #b: Uint8Array;
  constructor(nal: Uint8Array) {
    const out: number[] = [];
    for (let i = 0; i < nal.length; i++) {
      if (i >= 2 && nal[i] === 3 && nal[i - 1] === 0 && nal[i - 2] === 0) continue;
      out.push(nal[i]);
    }
    this.#b = Uint8Array.from(out);
  }
  u(n: number): number {
    let v = 0;
    for (let k = 0; k < n; k++) {
      const byte = this.#b[this.#bit >> 3];
      if (byte === undefined) throw new RangeError('SPS ends early');
      v = v * 2 + ((byte >> (7 - (this.#bit & 7))) & 1);
      this.#bit++;
    }
    return v;
  }
  ue(): number {
    let zeros = 0;
    while (this.u(1) === 0) if (++zeros > 31) throw new RangeError('bad Exp-Golomb code');
    return zeros === 0 ? 0 : 2 ** zeros - 1 + this.u(zeros);
  }
  se(): number {
    const k = this.ue();
    return k & 1 ? (k + 1) / 2 : -k / 2;
  }
}

/** Picture size from an H.264 SPS NAL unit (ITU-T H.264 7.3.2.1.1), cropping applied. */
export function h264SpsSize(sps: Uint8Array): { width: number; height: number } | undefined {
  try {
    const r = new Bits(sps.subarray(1));
    const profile = r.u(8);
    r.u(16); // constraint flags, level
    r.ue(); // seq_parameter_set_id
    let chromaFormat = 1;
    if ([100, 110, 122, 244, 44, 83, 86, 118, 128, 138, 139, 134, 135].includes(profile)) {
      chromaFormat = r.ue();
      if (chromaFormat === 3) r.u(1);
      r.ue();
      r.ue();
      r.u(1);
      if (r.u(1)) {
        for (let i = 0; i < (chromaFormat === 3 ? 12 : 8); i++) {
          if (!r.u(1)) continue;
          let last = 8;
          let next = 8;
          for (let j = 0; j < (i < 6 ? 16 : 64) && next !== 0; j++) {
            next = (last + r.se() + 256) % 256;
            if (next !== 0) last = next;
          }
        }
      }
    }
    r.ue(); // log2_max_frame_num_minus4
    const pocType = r.ue();
    if (pocType === 0) r.ue();
    else if (pocType === 1) {
      r.u(1);
      r.se();
      r.se();
      const n = r.ue();
      for (let i = 0; i < n; i++) r.se();
    }
    r.ue(); // max_num_ref_frames
    r.u(1);
    const widthMbs = r.ue() + 1;
    const heightMapUnits = r.ue() + 1;
    const frameMbsOnly = r.u(1);
    if (!frameMbsOnly) r.u(1);
    r.u(1);
    let [left, right, top, bottom] = [0, 0, 0, 0];
    if (r.u(1)) [left, right, top, bottom] = [r.ue(), r.ue(), r.ue(), r.ue()];
    const cropX = chromaFormat === 0 || chromaFormat === 3 ? 1 : 2;
    const cropY = (chromaFormat === 1 ? 2 : 1) * (2 - frameMbsOnly);
    const width = widthMbs * 16 - cropX * (left + right);
    const height = (2 - frameMbsOnly) * heightMapUnits * 16 - cropY * (top + bottom);
    return width > 0 && height > 0 ? { width, height } : undefined;
  } catch {
    return undefined;
  }
}

/** The picture size an H.264 packet's SPS carries (alone or in a STAP-A), if it has one. */
export function h264KeyframeSize(p: Uint8Array): { width: number; height: number } | undefined {
  if (p.length < 2) return undefined;
  const type = p[0] & 0x1f;
  if (type === 7) return h264SpsSize(p);
  if (type !== 24) return undefined;
  for (let i = 1; i + 2 < p.length; ) {
    const size = (p[i] << 8) | p[i + 1];
    if ((p[i + 2] & 0x1f) === 7) return h264SpsSize(p.subarray(i + 2, i + 2 + size));
    i += 2 + size;
  }
  return undefined;
}

export function keyframeSizer(mimeType: string | undefined): ((p: Uint8Array) => { width: number; height: number } | undefined) | undefined {
  switch (mimeType?.toLowerCase()) {
    case 'video/vp8':
      return vp8KeyframeSize;
    case 'video/h264':
      return h264KeyframeSize;
    default:
      return undefined;
  }
}

class Layer {
  readonly rate = new RateMeter();
  lastAtMs = 0;
  /** Its last packet, and where its last BEHIND_FRAMES frames ended (marker bits), oldest first, counted in packets of all layers. */
  lastPacket = 0;
  readonly frameEnds: number[] = [];
  width = 0;
  height = 0;
  /** Paused by the relay: its rate when paused (undefined: not paused). */
  pausedBps: number | undefined;
  /** Resumed: its rate from before, and until when that still counts. */
  floorBps = 0;
  floorUntilMs = 0;
  constructor(
    readonly index: number,
    readonly rid: string,
  ) {}

  bitsPerSecond(now: number): number {
    const measured = this.rate.bitsPerSecond;
    if (this.pausedBps !== undefined) return Math.max(measured, this.pausedBps);
    return now < this.floorUntilMs ? Math.max(measured, this.floorBps) : measured;
  }
}

/** The layers one publisher sends, as its packets show them. */
export class SimulcastLayers {
  readonly #byRid = new Map<string, Layer>();
  readonly #byIndex: Layer[] = [];
  #sizer: ((p: Uint8Array) => { width: number; height: number } | undefined) | undefined;
  /** Packets of all layers noted: the order they came in. */
  #packets = 0;

  /** The rids the publisher offered, in the offer's order: numbered 0, 1, 2 in that order. */
  constructor(rids: string[] = []) {
    for (const rid of rids) this.indexOf(rid);
  }

  set codec(mimeType: string | undefined) {
    this.#sizer = keyframeSizer(mimeType);
  }

  get count(): number {
    return this.#byIndex.length;
  }

  /** A rid's layer number (a new rid gets the next). */
  indexOf(rid: string): number {
    let layer = this.#byRid.get(rid);
    if (!layer) {
      layer = new Layer(this.#byIndex.length, rid);
      this.#byRid.set(rid, layer);
      this.#byIndex.push(layer);
    }
    return layer.index;
  }

  /** At least `count` layers (a relay worker knows its publisher's layers by number only). */
  ensure(count: number): void {
    while (this.#byIndex.length < count) this.indexOf(`#${this.#byIndex.length}`);
  }

  /** A packet of layer `index`: its size counts toward the layer's rate, a keyframe tells its picture size. */
  note(index: number, payload: Uint8Array, marker = false): void {
    const layer = this.#byIndex[index];
    if (!layer) return;
    this.noteBytes(index, payload.length, marker);
    const size = this.#sizer?.(payload);
    if (size) {
      layer.width = size.width;
      layer.height = size.height;
    }
  }

  /** A packet of layer `index` seen only by its size (nobody watches: ingress-gate.ts): its rate and activity, not its picture. */
  noteBytes(index: number, bytes: number, marker: boolean): void {
    const layer = this.#byIndex[index];
    if (!layer) return;
    layer.rate.add(bytes + 12);
    layer.lastAtMs = Date.now();
    layer.lastPacket = ++this.#packets;
    if (marker) {
      layer.frameEnds.push(layer.lastPacket);
      if (layer.frameEnds.length > BEHIND_FRAMES) layer.frameEnds.shift();
    }
  }

  /** The highest layer's number (0 without simulcast). */
  top(): number {
    return this.ordered().pop()?.index ?? 0;
  }

  /** The highest layer being sent (else the highest): where a new viewer starts (layer-selector.ts). */
  topSent(): number {
    return this.ordered()
      .filter((l) => l.active)
      .pop()?.index ?? this.top();
  }

  /**
   * The layers the relay has paused now (dynacast.ts); the others are not. A layer paused here
   * keeps the rate it had (or the one given, measured where all its packets were seen), and its
   * size when it has none of its own.
   */
  setPaused(paused: readonly PausedLayer[]): void {
    const now = Date.now();
    for (const layer of this.#byIndex) {
      const p = paused.find((q) => q.index === layer.index);
      if (p) {
        layer.pausedBps ??= Math.max(layer.rate.bitsPerSecond, p.bitsPerSecond);
        if (!layer.height && p.height) [layer.width, layer.height] = [p.width, p.height];
      } else if (layer.pausedBps !== undefined) {
        [layer.floorBps, layer.floorUntilMs] = [layer.pausedBps, now + RESUMED_FLOOR_MS];
        layer.pausedBps = undefined;
      }
    }
  }

  /** What the relay receives of layer `index` now, in bits per second (0 for a paused layer, once stopped). */
  received(index: number): number {
    return this.#byIndex[index]?.rate.bitsPerSecond ?? 0;
  }

  /** The layers paused now, with their rate from before and size. */
  paused(): PausedLayer[] {
    return this.#byIndex.filter((l) => l.pausedBps !== undefined).map((l) => ({ index: l.index, bitsPerSecond: l.pausedBps!, width: l.width, height: l.height }));
  }

  /** Layer `index` has stopped while another goes on: another has sent BEHIND_FRAMES frames since its last packet. */
  stopped(index: number): boolean {
    const layer = this.#byIndex[index];
    if (!layer || layer.lastPacket === 0) return false;
    return this.#byIndex.some((other) => other !== layer && other.frameEnds.length === BEHIND_FRAMES && other.frameEnds[0] > layer.lastPacket);
  }

  /** The layers from lowest to highest: by picture height where known, else by bitrate. */
  ordered(): LayerInfo[] {
    const now = Date.now();
    const infos = this.#byIndex.map((l) => {
      const paused = l.pausedBps !== undefined;
      const active = !paused && now - l.lastAtMs < ACTIVE_MS && !this.stopped(l.index);
      const resuming = !paused && !active && now < l.floorUntilMs;
      return { index: l.index, rid: l.rid, width: l.width, height: l.height, bitsPerSecond: l.bitsPerSecond(now), active, ...(paused ? { paused } : {}), ...(resuming ? { resuming } : {}) };
    });
    return infos.sort((a, b) => (a.height && b.height && a.height !== b.height ? a.height - b.height : a.bitsPerSecond - b.bitsPerSecond || a.index - b.index));
  }
}
