/**
 * The VP8 payload descriptor's picture id and TL0PICIDX (RFC 7741 4.2): where they are, and a
 * payload with offsets added to them. A simulcast viewer's layers each number their pictures on
 * their own; rewriter.ts picks the offsets that make them one run, and the egress (egress.ts,
 * and native/fanout.c's `vp8_rewrite`, the same rewrite in C) applies them to every packet.
 */

export interface Vp8Ids {
  pidAt: number;
  /** 7 or 15 bits. */
  pidBits: 7 | 15;
  tl0At: number;
}

export function vp8Ids(p: Uint8Array): Vp8Ids | undefined {
  if (p.length < 3 || (p[0] & 0x80) === 0) return undefined;
  const x = p[1];
  let i = 2;
  let pidAt = -1;
  let pidBits: 7 | 15 = 7;
  if (x & 0x80) {
    pidAt = i;
    pidBits = p[i] & 0x80 ? 15 : 7;
    i += pidBits === 15 ? 2 : 1;
  }
  const tl0At = x & 0x40 ? i : -1;
  if (pidAt < 0 && tl0At < 0) return undefined;
  if (Math.max(pidAt + (pidBits === 15 ? 1 : 0), tl0At) >= p.length) return undefined;
  return { pidAt, pidBits, tl0At };
}

export function readPid(p: Uint8Array, ids: Vp8Ids): number {
  return ids.pidBits === 15 ? ((p[ids.pidAt] & 0x7f) << 8) | p[ids.pidAt + 1] : p[ids.pidAt] & 0x7f;
}

/** The payload with `pidOffset` added to its picture id (mod its width) and `tl0Offset` to its TL0PICIDX (mod 2^8): a copy when they change. */
export function offsetVp8Ids(payload: Uint8Array, pidOffset: number, tl0Offset: number): Uint8Array {
  if (pidOffset === 0 && tl0Offset === 0) return payload;
  const ids = vp8Ids(payload);
  if (!ids) return payload;
  const out = Uint8Array.from(payload);
  if (ids.pidAt >= 0) {
    if (ids.pidBits === 15) {
      const pid = (readPid(payload, ids) + pidOffset) & 0x7fff;
      out[ids.pidAt] = 0x80 | (pid >> 8);
      out[ids.pidAt + 1] = pid & 0xff;
    } else out[ids.pidAt] = (readPid(payload, ids) + pidOffset) & 0x7f;
  }
  if (ids.tl0At >= 0) out[ids.tl0At] = (payload[ids.tl0At] + tl0Offset) & 0xff;
  return out;
}
