/**
 * The DTLS key exchange runs on Node's OpenSSL instead of noble's JavaScript: the functions werift
 * calls must give what noble's own math gives, or no browser could finish a handshake. The p256
 * checked is the one werift itself loads (resolved from werift's own location, `import`
 * condition), not whichever copy sits at the top of node_modules.
 */
import assert from 'node:assert/strict';
import { existsSync, readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import { test } from 'node:test';
import { pathToFileURL } from 'node:url';
import { installWeriftPatches, replacements } from '../../src/relay/werift/index.js';

/** `import '@noble/curves/p256'` as written inside werift. */
async function weriftsP256(): Promise<typeof import('@noble/curves/p256').p256> {
  const fromWerift = createRequire(createRequire(import.meta.url).resolve('werift'));
  let dir = dirname(fromWerift.resolve('@noble/curves/p256'));
  const isRoot = (d: string) => existsSync(join(d, 'package.json')) && (JSON.parse(readFileSync(join(d, 'package.json'), 'utf8')) as { name?: string }).name === '@noble/curves';
  while (!isRoot(dir)) dir = dirname(dir);
  const exports = (JSON.parse(readFileSync(join(dir, 'package.json'), 'utf8')) as { exports: Record<string, { import: string }> }).exports;
  return ((await import(pathToFileURL(join(dir, exports['./p256'].import)).href)) as typeof import('@noble/curves/p256')).p256;
}

const p256 = await weriftsP256();
const noble = { getPublicKey: p256.getPublicKey, getSharedSecret: p256.getSharedSecret };
installWeriftPatches();

test("werift's own p256 now runs lancast's functions", () => {
  for (const key of ['getPublicKey', 'getSharedSecret'] as const) {
    const r = replacements.find((x) => x.target === `p256.${key}`);
    assert.ok(r, `no replacement recorded for p256.${key}`);
    assert.equal(p256[key], r.replacement, `werift's p256.${key} is lancast's`);
  }
  assert.equal(p256.utils.randomPrivateKey, replacements.find((x) => x.target === 'p256.utils.randomPrivateKey')?.replacement);
});

test('patched P-256 key generation and ECDH agree with noble and with each other', () => {
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

test('private keys are always 32 bytes, and one with a leading zero byte works like noble', () => {
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
