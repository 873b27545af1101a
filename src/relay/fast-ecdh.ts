/**
 * werift's DTLS does its P-256 key exchange with @noble/curves, in JavaScript: about 9 ms of CPU
 * per handshake on this project's machines (and much more in a thread whose JIT is still cold),
 * on the path of every viewer's first frame. Node's own OpenSSL does the same ECDH in ~0.2 ms.
 * This module points the three functions werift calls at Node's crypto; byte formats stay
 * noble's (uncompressed public keys, a shared secret behind a one-byte prefix werift strips).
 * Imported for its effect by every module that makes werift peer connections.
 */
import { p256 } from '@noble/curves/p256';
import { createECDH } from 'node:crypto';

function ecdh(privateKey: Uint8Array) {
  const e = createECDH('prime256v1');
  e.setPrivateKey(privateKey);
  return e;
}

let patched = false;
export function useNativeEcdh(): void {
  if (patched) return;
  patched = true;
  p256.utils.randomPrivateKey = () => {
    const e = createECDH('prime256v1');
    e.generateKeys();
    // OpenSSL gives the scalar without leading zero bytes (31 bytes once in 256); noble's are 32.
    const key = e.getPrivateKey();
    const out = new Uint8Array(32);
    out.set(key, 32 - key.length);
    return out;
  };
  p256.getPublicKey = (privateKey, isCompressed = true) =>
    new Uint8Array(ecdh(privateKey as Uint8Array).getPublicKey(null, isCompressed ? 'compressed' : 'uncompressed'));
  const original = p256.getSharedSecret;
  p256.getSharedSecret = (privateKey, publicKey, isCompressed = true) => {
    if (!isCompressed) return original(privateKey, publicKey, isCompressed);
    // noble returns the shared point compressed; werift keeps its x coordinate (drops byte 0).
    // The prefix's parity bit is not known without y; nobody reads it.
    const x = ecdh(privateKey as Uint8Array).computeSecret(Buffer.from(publicKey as Uint8Array));
    const out = new Uint8Array(x.length + 1);
    out[0] = 0x02;
    out.set(x, 1);
    return out;
  };
}

useNativeEcdh();
