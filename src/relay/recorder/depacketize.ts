/**
 * From RTP payloads back to the codec's frames, without decoding: VP8 (RFC 7741), H.264 in
 * packetization mode 1 (RFC 6184: single NAL units, STAP-A, FU-A; written out as Annex B) and
 * Opus (RFC 7587: one packet is one frame). Each takes the packets of one frame in sequence order
 * and says whether they made a whole frame; the recorder skips broken frames until a keyframe.
 */
import { parseSps } from './h264-sps.js';

export type VideoCodec = 'vp8' | 'h264';

export interface VideoFrameData {
  data: Uint8Array;
  key: boolean;
  /** Known from keyframes (VP8's frame header, H.264's SPS). */
  width?: number;
  height?: number;
  /** H.264: the codec string (avc1.PPCCLL) from the SPS. */
  codecString?: string;
}

/** A packet's payload, in sequence order within its frame. */
export type FramePayloads = readonly Uint8Array[];

/** The VP8 payload descriptor's length, and whether the packet starts partition 0 (a frame). */
function vp8Descriptor(p: Uint8Array): { length: number; frameStart: boolean } | undefined {
  if (p.length < 1) return undefined;
  let i = 1;
  const x = p[0] & 0x80;
  const frameStart = (p[0] & 0x10) !== 0 && (p[0] & 0x07) === 0;
  if (x) {
    if (p.length < 2) return undefined;
    const ext = p[1];
    i = 2;
    if (ext & 0x80) i += p[i] & 0x80 ? 2 : 1; // picture id, 7 or 15 bits
    if (ext & 0x40) i += 1; // TL0PICIDX
    if (ext & 0x30) i += 1; // TID/Y/KEYIDX
  }
  return i <= p.length ? { length: i, frameStart } : undefined;
}

export function depacketizeVp8(payloads: FramePayloads): VideoFrameData | undefined {
  const parts: Uint8Array[] = [];
  for (let n = 0; n < payloads.length; n++) {
    const d = vp8Descriptor(payloads[n]);
    if (!d || (n === 0) !== d.frameStart) return undefined; // a frame starts in its first packet only
    parts.push(payloads[n].subarray(d.length));
  }
  const data = concat(parts);
  if (data.length < 3) return undefined;
  const key = (data[0] & 0x01) === 0;
  if (!key) return { data, key };
  // A keyframe's header: 3 bytes of frame tag, start code 9d 01 2a, then 14-bit width and height.
  if (data.length < 10 || data[3] !== 0x9d || data[4] !== 0x01 || data[5] !== 0x2a) return undefined;
  return { data, key, width: (data[6] | (data[7] << 8)) & 0x3fff, height: (data[8] | (data[9] << 8)) & 0x3fff };
}

const START_CODE = new Uint8Array([0, 0, 0, 1]);

/** One frame's NAL units from its packets; undefined when a fragment is missing. */
function h264Nals(payloads: FramePayloads): Uint8Array[] | undefined {
  const nals: Uint8Array[] = [];
  let fragments: Uint8Array[] | undefined;
  for (const p of payloads) {
    if (p.length < 1) return undefined;
    const type = p[0] & 0x1f;
    if (type >= 1 && type <= 23) {
      if (fragments) return undefined;
      nals.push(p);
    } else if (type === 24) {
      if (fragments) return undefined;
      for (let i = 1; i + 2 <= p.length; ) {
        const size = (p[i] << 8) | p[i + 1];
        i += 2;
        if (size === 0 || i + size > p.length) return undefined;
        nals.push(p.subarray(i, i + size));
        i += size;
      }
    } else if (type === 28) {
      if (p.length < 2) return undefined;
      const start = (p[1] & 0x80) !== 0;
      const end = (p[1] & 0x40) !== 0;
      if (start === (fragments !== undefined)) return undefined; // a start inside a NAL, or a middle without one
      if (start) fragments = [new Uint8Array([(p[0] & 0xe0) | (p[1] & 0x1f)])];
      fragments!.push(p.subarray(2));
      if (end) {
        nals.push(concat(fragments!));
        fragments = undefined;
      }
    } else {
      return undefined; // STAP-B, MTAP, FU-B: not in packetization mode 1
    }
  }
  return fragments ? undefined : nals;
}

export function depacketizeH264(payloads: FramePayloads): VideoFrameData | undefined {
  const nals = h264Nals(payloads);
  if (!nals || nals.length === 0) return undefined;
  const out: Uint8Array[] = [];
  let key = false;
  let sps: ReturnType<typeof parseSps>;
  for (const nal of nals) {
    const type = nal[0] & 0x1f;
    if (type === 5) key = true;
    if (type === 7) sps = parseSps(nal) ?? sps;
    out.push(START_CODE, nal);
  }
  const frame: VideoFrameData = { data: concat(out), key };
  // A decodable start needs the parameter sets with the IDR (browsers send them together).
  if (key && !sps) frame.key = false;
  if (sps) Object.assign(frame, sps);
  return frame;
}

export function depacketizeVideo(codec: VideoCodec, payloads: FramePayloads): VideoFrameData | undefined {
  return codec === 'vp8' ? depacketizeVp8(payloads) : depacketizeH264(payloads);
}

/** Opus: the payload is the frame. Its TOC byte says how long it plays, in 48 kHz samples. */
export function opusSamples(packet: Uint8Array): number | undefined {
  if (packet.length < 1) return undefined;
  const toc = packet[0];
  const config = toc >> 3;
  // Frame sizes per configuration (RFC 6716 3.1), in samples at 48 kHz.
  const size =
    config < 12 ? [480, 960, 1920, 2880][config & 3] : config < 16 ? [480, 960][config & 1] : [120, 240, 480, 960][config & 3];
  const code = toc & 3;
  if (code === 0) return size;
  if (code === 1 || code === 2) return size * 2;
  if (packet.length < 2) return undefined;
  return size * (packet[1] & 0x3f);
}

export function concat(parts: readonly Uint8Array[]): Uint8Array {
  if (parts.length === 1) return parts[0];
  let length = 0;
  for (const p of parts) length += p.length;
  const out = new Uint8Array(length);
  let at = 0;
  for (const p of parts) {
    out.set(p, at);
    at += p.length;
  }
  return out;
}
