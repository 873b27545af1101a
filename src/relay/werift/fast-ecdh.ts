/**
 * werift's DTLS does its P-256 key exchange with @noble/curves in JavaScript (~9 ms of CPU per
 * handshake, much more in a thread whose JIT is cold), on the path of every viewer's first frame.
 * Node's OpenSSL does the same ECDH in ~0.2 ms. The three functions werift calls are pointed at
 * Node's crypto; byte formats stay noble's (uncompressed public keys, a shared secret behind a
 * one-byte prefix werift strips).
 */
import { p256 } from '@noble/curves/p256';
import { createECDH } from 'node:crypto';
import { replaceMethod, resolveImport, weriftEntry, type PatchTarget, type WeriftPatch } from './patch.js';

function ecdh(privateKey: Uint8Array) {
  const e = createECDH('prime256v1');
  e.setPrivateKey(privateKey);
  return e;
}

type Bytes = Uint8Array;
const randomPrivateKey: PatchTarget = { name: 'p256.utils.randomPrivateKey', owner: p256.utils, key: 'randomPrivateKey', arity: 0 };
const getPublicKey: PatchTarget = { name: 'p256.getPublicKey', owner: p256, key: 'getPublicKey', arity: 1 };
const getSharedSecret: PatchTarget = { name: 'p256.getSharedSecret', owner: p256, key: 'getSharedSecret', arity: 2 };

/** Where `@noble/curves/p256` resolves from werift and from here: patching another copy would change nothing. */
function sameCopyAsWerift(): string | undefined {
  const theirs = resolveImport('@noble/curves', '/p256', weriftEntry());
  const ours = resolveImport('@noble/curves', '/p256', import.meta.url);
  return theirs === ours ? undefined : `werift loads @noble/curves from ${theirs}, lancast patches ${ours}: align the versions in package.json`;
}

export const nativeEcdh: WeriftPatch = {
  name: 'native-ecdh',
  wrong: "werift's DTLS computes P-256 ECDH in JavaScript (@noble/curves): ~9 ms per handshake against ~0.2 ms in Node's OpenSSL",
  upstream: 'docs/upstream/werift-native-ecdh.md',
  targets: [randomPrivateKey, getPublicKey, getSharedSecret],
  precondition: sameCopyAsWerift,
  apply() {
    replaceMethod<() => Bytes>(this.name, randomPrivateKey, () => () => {
      const e = createECDH('prime256v1');
      e.generateKeys();
      // OpenSSL gives the scalar without leading zero bytes (31 bytes once in 256); noble's are 32.
      const key = e.getPrivateKey();
      const out = new Uint8Array(32);
      out.set(key, 32 - key.length);
      return out;
    });
    replaceMethod<(privateKey: Bytes, isCompressed?: boolean) => Bytes>(this.name, getPublicKey, () => (privateKey, isCompressed = true) =>
      new Uint8Array(ecdh(privateKey).getPublicKey(null, isCompressed ? 'compressed' : 'uncompressed')),
    );
    replaceMethod<(privateKey: Bytes, publicKey: Bytes, isCompressed?: boolean) => Bytes>(this.name, getSharedSecret, (original) => (privateKey, publicKey, isCompressed = true) => {
      if (!isCompressed) return original(privateKey, publicKey, isCompressed);
      // noble returns the shared point compressed; werift keeps its x coordinate (drops byte 0).
      // The prefix's parity bit is not known without y; nobody reads it.
      const x = ecdh(privateKey).computeSecret(Buffer.from(publicKey));
      const out = new Uint8Array(x.length + 1);
      out[0] = 0x02;
      out.set(x, 1);
      return out;
    });
  },
};
