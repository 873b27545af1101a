/**
 * The DTLS key exchange runs on Node's OpenSSL instead of noble's JavaScript: the functions werift
 * calls must give what noble's own math gives, or no browser could finish a handshake.
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { p256 } from '@noble/curves/p256';

test('patched P-256 key generation and ECDH agree with noble and with each other', async () => {
  const noble = { getPublicKey: p256.getPublicKey, getSharedSecret: p256.getSharedSecret };
  await import('../../src/relay/fast-ecdh.js');
  assert.notEqual(p256.getSharedSecret, noble.getSharedSecret, 'the patch is in place');
  for (let i = 0; i < 5; i++) {
    const a = p256.utils.randomPrivateKey();
    const b = p256.utils.randomPrivateKey();
    assert.equal(a.length, 32);
    const A = p256.getPublicKey(a, false);
    const B = p256.getPublicKey(b, false);
    assert.deepEqual(Buffer.from(A), Buffer.from(noble.getPublicKey(a, false)), 'same public key as noble');
    const ab = Buffer.from(p256.getSharedSecret(a, B)).subarray(1);
    const ba = Buffer.from(p256.getSharedSecret(b, A)).subarray(1);
    assert.deepEqual(ab, ba, 'both sides derive one secret');
    assert.deepEqual(ab, Buffer.from(noble.getSharedSecret(a, B)).subarray(1), "noble's secret (x coordinate)");
  }
});

test('private keys are always 32 bytes, and one with a leading zero byte works like noble', async () => {
  await import('../../src/relay/fast-ecdh.js');
  // OpenSSL drops leading zero bytes of the scalar: one key in 256 came out 31 bytes long.
  for (let i = 0; i < 3_000; i++) assert.equal(p256.utils.randomPrivateKey().length, 32);
  let a = p256.utils.randomPrivateKey();
  while (a[0] !== 0) a = p256.utils.randomPrivateKey();
  const b = p256.utils.randomPrivateKey();
  const B = p256.getPublicKey(b, false);
  const noblePublic = Buffer.from(p256.ProjectivePoint.fromPrivateKey(a).toRawBytes(false));
  assert.deepEqual(Buffer.from(p256.getPublicKey(a, false)), noblePublic);
  const nobleShared = Buffer.from(p256.ProjectivePoint.fromHex(B).multiply(p256.utils.normPrivateKeyToScalar(a)).toRawBytes(true)).subarray(1);
  assert.deepEqual(Buffer.from(p256.getSharedSecret(a, B)).subarray(1), nobleShared);
});
