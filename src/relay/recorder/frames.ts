/**
 * Packets (in sequence order, from the Reorderer) to whole frames. A video frame is the packets of
 * one RTP timestamp up to the marker bit; one with a packet missing, or that does not parse, is
 * broken, and every frame after it is dropped until a whole keyframe comes (decoders cannot use
 * them, and a player would show their smeared pictures): `onBroken` asks the publisher for one.
 * An audio packet is a frame; a lost one is simply not there.
 */
import { depacketizeVideo, type VideoCodec, type VideoFrameData } from './depacketize.js';
import type { RtpIn } from './reorder.js';

export interface Frame {
  kind: 'audio' | 'video';
  /** The RTP timestamp of the frame. */
  ts: number;
  /** Arrival of its last packet, ms. */
  at: number;
  data: Uint8Array;
  key: boolean;
  video?: VideoFrameData;
}

export class VideoAssembler {
  readonly #codec: VideoCodec;
  readonly #emit: (frame: Frame) => void;
  readonly #onBroken: () => void;
  #ts: number | undefined;
  #payloads: Uint8Array[] = [];
  #broken = false;
  #gapBefore = false;
  #at = 0;
  /** Frames are dropped until a whole keyframe arrives (true at the start, too). */
  #waitingForKey = true;
  /** Frames dropped as broken or undecodable, for the stats. */
  dropped = 0;

  constructor(codec: VideoCodec, emit: (frame: Frame) => void, onBroken: () => void) {
    this.#codec = codec;
    this.#emit = emit;
    this.#onBroken = onBroken;
  }

  get waitingForKey(): boolean {
    return this.#waitingForKey;
  }

  push(p: RtpIn, afterLoss: boolean): void {
    if (p.ts !== this.#ts) {
      // A new timestamp before the marker: the previous frame's tail is missing.
      if (this.#ts !== undefined) this.#finish(false);
      this.#ts = p.ts;
      this.#payloads = [];
      this.#broken = false;
      // Packets lost before this frame: a keyframe that parses whole still stands; a delta frame's reference is gone.
      this.#gapBefore = afterLoss;
    } else if (afterLoss) {
      this.#broken = true;
    }
    if (p.payload.length === 0) return; // padding
    this.#payloads.push(p.payload);
    this.#at = p.at;
    if (p.marker) this.#finish(true);
  }

  #finish(complete: boolean): void {
    const payloads = this.#payloads;
    const ts = this.#ts!;
    this.#payloads = [];
    this.#ts = complete ? ts : undefined; // stragglers of a finished frame are not a new frame
    if (payloads.length === 0) return;
    let frame = complete && !this.#broken ? depacketizeVideo(this.#codec, payloads) : undefined;
    if (frame && this.#gapBefore && !frame.key) frame = undefined;
    this.#broken = complete; // anything more with this timestamp after the marker is noise
    if (!frame || (this.#waitingForKey && !frame.key)) {
      this.dropped++;
      if (!frame && !this.#waitingForKey) {
        this.#waitingForKey = true;
        this.#onBroken();
      }
      return;
    }
    this.#waitingForKey = false;
    this.#emit({ kind: 'video', ts, at: this.#at, data: frame.data, key: frame.key, video: frame });
  }
}

export class AudioAssembler {
  readonly #emit: (frame: Frame) => void;

  constructor(emit: (frame: Frame) => void) {
    this.#emit = emit;
  }

  push(p: RtpIn): void {
    if (p.payload.length === 0) return;
    this.#emit({ kind: 'audio', ts: p.ts, at: p.at, data: p.payload, key: true });
  }
}
