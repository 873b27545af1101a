/**
 * Is this RTP payload part of a keyframe's start? The relay does not decode, but it must know
 * where the last keyframe began so a viewer whose leg just connected can be sent that keyframe
 * from the forwarder's history at once, instead of waiting for the publisher to encode a new one.
 */

/**
 * VP8 (RFC 7741): where the VP8 payload header starts, when this packet opens a frame (S bit set,
 * partition 0); undefined for any other packet.
 */
export function vp8FrameStart(p: Uint8Array): number | undefined {
  if (p.length < 2) return undefined;
  const b0 = p[0];
  if ((b0 & 0x10) === 0 || (b0 & 0x07) !== 0) return undefined;
  let i = 1;
  if (b0 & 0x80) {
    // Extension byte: I (picture id), L (TL0PICIDX), T/K (TID/KEYIDX).
    const x = p[i++];
    if (x & 0x80) i += p[i] & 0x80 ? 2 : 1;
    if (x & 0x40) i++;
    if (x & 0x30) i++;
  }
  return i < p.length ? i : undefined;
}

/** VP8: the first packet of a frame's first partition, with the key-frame bit clear. */
export function vp8KeyframeStart(p: Uint8Array): boolean {
  const i = vp8FrameStart(p);
  return i !== undefined && (p[i] & 0x01) === 0; // VP8 payload header: P = 0 is a key frame
}

/** H.264 (RFC 6184): an SPS or an IDR slice's start, alone, in a STAP-A, or opening an FU-A. */
export function h264KeyframeStart(p: Uint8Array): boolean {
  if (p.length < 2) return false;
  const type = p[0] & 0x1f;
  if (type === 5 || type === 7) return true;
  if (type === 24) {
    for (let i = 1; i + 2 < p.length; ) {
      const size = (p[i] << 8) | p[i + 1];
      const nal = p[i + 2] & 0x1f;
      if (nal === 5 || nal === 7) return true;
      i += 2 + size;
    }
    return false;
  }
  if (type === 28) return (p[1] & 0x80) !== 0 && ((p[1] & 0x1f) === 5 || (p[1] & 0x1f) === 7);
  return false;
}

export function keyframeDetector(mimeType: string | undefined): ((payload: Uint8Array) => boolean) | undefined {
  switch (mimeType?.toLowerCase()) {
    case 'video/vp8':
      return vp8KeyframeStart;
    case 'video/h264':
      return h264KeyframeStart;
    default:
      return undefined;
  }
}

/** Where the newest keyframe of a video stream began, from the newest packets as they arrive. */
export class KeyframeTracker {
  #isKeyframe: ((payload: Uint8Array) => boolean) | undefined;
  /** The frame being received: its timestamp and first sequence number. */
  #frame: { ts: number; seq: number } | undefined;
  #keyframe: { seq: number; ts: number; atMs: number } | undefined;

  /** The stream's codec (its MIME type); none known: no keyframes are found. */
  set codec(mimeType: string | undefined) {
    this.#isKeyframe = keyframeDetector(mimeType);
  }

  /** A packet newer than any before it, arrived at `atMs`; true when it begins a new keyframe. */
  note(seq: number, ts: number, payload: Uint8Array, atMs: number): boolean {
    if (!this.#isKeyframe) return false;
    if (this.#frame?.ts !== ts) this.#frame = { ts, seq };
    if (this.#keyframe?.ts === ts || !this.#isKeyframe(payload)) return false;
    this.#keyframe = { seq: this.#frame.seq, ts, atMs };
    return this.#frame.seq === seq;
  }

  /** The first sequence number of the newest keyframe, if it arrived no more than `maxAgeMs` before `nowMs`. */
  startSince(nowMs: number, maxAgeMs: number): number | undefined {
    const kf = this.#keyframe;
    return kf && nowMs - kf.atMs <= maxAgeMs ? kf.seq : undefined;
  }

  clear(): void {
    this.#frame = undefined;
    this.#keyframe = undefined;
  }
}
