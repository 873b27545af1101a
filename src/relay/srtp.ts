/**
 * SRTP for the packets the relay sends, in TypeScript: the fallback for machines without the
 * native addon and for legs that go through a TURN server. The native addon (native/fanout.c)
 * follows the same rules; test/unit/egress.test.ts holds both to werift's own SRTP session.
 */
import { createCipheriv, createHmac } from 'node:crypto';

/** SRTP protection profiles (RFC 5764, RFC 7714). */
export const AES_CM_128_HMAC_SHA1_80 = 1;
export const AEAD_AES_128_GCM = 7;

export interface SrtpKeys {
  profile: number;
  key: Buffer;
  salt: Buffer;
  /** HMAC-SHA1 key (AES_CM profile only). */
  authKey: Buffer;
}

/**
 * Rollover counter for a stream we send (RFC 3711 3.3.1), the same rule as the native code: it
 * counts sequence-number wraps, and a late packet from before the newest wrap keeps the old count.
 */
export class RolloverCounter {
  #roc = 0;
  #highest = -1;

  for(seq: number): number {
    if (this.#highest < 0) {
      this.#highest = seq;
      return this.#roc;
    }
    const diff = (seq - this.#highest) & 0xffff;
    if (diff !== 0 && diff < 0x8000) {
      if (seq < this.#highest) this.#roc = (this.#roc + 1) >>> 0;
      this.#highest = seq;
      return this.#roc;
    }
    return seq > this.#highest && this.#roc > 0 ? this.#roc - 1 : this.#roc;
  }
}

/** Protect one RTP packet: RFC 7714 GCM or RFC 3711 AES-CM + HMAC-SHA1-80. */
export function protect(keys: SrtpKeys, header: Buffer, payload: Uint8Array, roc: number): Buffer {
  const ssrc = header.readUInt32BE(8);
  const seq = header.readUInt16BE(2);
  if (keys.profile === AEAD_AES_128_GCM) {
    const iv = Buffer.alloc(12);
    iv.writeUInt32BE(ssrc, 2);
    iv.writeUInt32BE(roc, 6);
    iv.writeUInt16BE(seq, 10);
    for (let i = 0; i < 12; i++) iv[i] ^= keys.salt[i];
    const cipher = createCipheriv('aes-128-gcm', keys.key, iv);
    cipher.setAAD(header);
    const body = cipher.update(payload);
    cipher.final();
    return Buffer.concat([header, body, cipher.getAuthTag()]);
  }
  const iv = Buffer.alloc(16);
  keys.salt.copy(iv, 0, 0, 14);
  iv.writeUInt32BE((iv.readUInt32BE(4) ^ ssrc) >>> 0, 4);
  iv.writeUInt32BE((iv.readUInt32BE(8) ^ roc) >>> 0, 8);
  iv.writeUInt16BE(iv.readUInt16BE(12) ^ seq, 12);
  const body = createCipheriv('aes-128-ctr', keys.key, iv).update(payload);
  const rocBytes = Buffer.alloc(4);
  rocBytes.writeUInt32BE(roc);
  const tag = createHmac('sha1', keys.authKey).update(header).update(body).update(rocBytes).digest().subarray(0, 10);
  return Buffer.concat([header, body, tag]);
}
