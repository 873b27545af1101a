/**
 * What a recording needs from an H.264 sequence parameter set (ITU-T H.264 7.3.2.1.1): the picture
 * size (the container's track size) and the profile/level (the codec string, avc1.PPCCLL).
 */

class Bits {
  #bytes: Uint8Array;
  #pos = 0;
  constructor(bytes: Uint8Array) {
    this.#bytes = bytes;
  }
  bit(): number {
    const byte = this.#bytes[this.#pos >> 3];
    if (byte === undefined) throw new RangeError('SPS ends early');
    const b = (byte >> (7 - (this.#pos & 7))) & 1;
    this.#pos++;
    return b;
  }
  bits(n: number): number {
    let v = 0;
    for (let i = 0; i < n; i++) v = v * 2 + this.bit();
    return v;
  }
  ue(): number {
    let zeros = 0;
    while (this.bit() === 0) if (++zeros > 31) throw new RangeError('bad Exp-Golomb code');
    return 2 ** zeros - 1 + this.bits(zeros);
  }
  se(): number {
    const k = this.ue();
    return k & 1 ? (k + 1) / 2 : -k / 2;
  }
}

/** The NAL unit's payload without its emulation-prevention bytes (00 00 03 -> 00 00). */
function unescape(nal: Uint8Array): Uint8Array {
  const out: number[] = [];
  let zeros = 0;
  for (const b of nal) {
    if (zeros >= 2 && b === 3) {
      zeros = 0;
      continue;
    }
    out.push(b);
    zeros = b === 0 ? zeros + 1 : 0;
  }
  return Uint8Array.from(out);
}

const HIGH_PROFILES = new Set([100, 110, 122, 244, 44, 83, 86, 118, 128, 138, 139, 134, 135]);

/** Width, height and codec string of an SPS NAL unit (with its one-byte NAL header); undefined if unreadable. */
export function parseSps(nal: Uint8Array): { width: number; height: number; codecString: string } | undefined {
  if (nal.length < 4 || (nal[0] & 0x1f) !== 7) return undefined;
  const hex = (b: number) => b.toString(16).padStart(2, '0');
  const codecString = `avc1.${hex(nal[1])}${hex(nal[2])}${hex(nal[3])}`;
  try {
    const r = new Bits(unescape(nal.subarray(1)));
    const profile = r.bits(8);
    r.bits(16); // constraint flags, level
    r.ue(); // seq_parameter_set_id
    let chroma = 1;
    if (HIGH_PROFILES.has(profile)) {
      chroma = r.ue();
      if (chroma === 3) r.bit(); // separate_colour_plane_flag
      r.ue(); // bit_depth_luma
      r.ue(); // bit_depth_chroma
      r.bit(); // qpprime_y_zero_transform_bypass
      if (r.bit()) {
        for (let i = 0; i < (chroma === 3 ? 12 : 8); i++) {
          if (!r.bit()) continue;
          let last = 8;
          let next = 8;
          for (let j = 0; j < (i < 6 ? 16 : 64) && next !== 0; j++) {
            next = (last + r.se() + 256) % 256;
            last = next === 0 ? last : next;
          }
        }
      }
    }
    r.ue(); // log2_max_frame_num
    const pocType = r.ue();
    if (pocType === 0) r.ue();
    else if (pocType === 1) {
      r.bit();
      r.se();
      r.se();
      const n = r.ue();
      for (let i = 0; i < n; i++) r.se();
    }
    r.ue(); // max_num_ref_frames
    r.bit(); // gaps_in_frame_num_allowed
    const widthMbs = r.ue() + 1;
    const heightUnits = r.ue() + 1;
    const frameMbsOnly = r.bit();
    if (!frameMbsOnly) r.bit();
    r.bit(); // direct_8x8_inference
    let [left, right, top, bottom] = [0, 0, 0, 0];
    if (r.bit()) [left, right, top, bottom] = [r.ue(), r.ue(), r.ue(), r.ue()];
    const cropX = chroma === 0 || chroma === 3 ? 1 : 2;
    const cropY = (2 - frameMbsOnly) * (chroma === 1 ? 2 : 1);
    const width = widthMbs * 16 - (left + right) * cropX;
    const height = (2 - frameMbsOnly) * heightUnits * 16 - (top + bottom) * cropY;
    if (width <= 0 || height <= 0) return undefined;
    return { width, height, codecString };
  } catch {
    return undefined;
  }
}
