/**
 * The TypeScript SRTP fallback on its own, against werift's SRTP session (an independent
 * implementation): packets it protects decrypt and authenticate for both profiles, across a
 * sequence-number wrap, and the rollover counter follows RFC 3711's rule for late packets.
 */
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { test } from 'node:test';
import { RtpPacket } from 'werift';
import { AEAD_AES_128_GCM, AES_CM_128_HMAC_SHA1_80, protect, RolloverCounter } from '../../src/relay/srtp.js';
import { srtpKeyPair } from '../helpers/srtp-keys.js';

function rtpHeader(seq: number, ts: number, ssrc: number, marker: boolean): Buffer {
  const h = Buffer.alloc(12);
  h[0] = 0x80;
  h[1] = (marker ? 0x80 : 0) | 96;
  h.writeUInt16BE(seq, 2);
  h.writeUInt32BE(ts, 4);
  h.writeUInt32BE(ssrc, 8);
  return h;
}

test('the rollover counter counts wraps and keeps the old count for a late packet from before one', () => {
  const roc = new RolloverCounter();
  assert.deepEqual([65533, 65534, 65535].map((s) => roc.for(s)), [0, 0, 0]);
  assert.equal(roc.for(0), 1, 'the wrap');
  assert.equal(roc.for(65535), 0, 'late, from before the wrap');
  assert.equal(roc.for(1), 1);
  assert.equal(roc.for(1), 1, 'a repeat');
  assert.equal(roc.for(30000), 1, 'a jump forward under half the space');
  assert.equal(roc.for(1), 1, 'a jump back under half the space is a late packet');
  assert.equal(roc.for(60000), 1);
  assert.equal(roc.for(100), 2, 'the next wrap');
});

for (const [name, profile] of [['AEAD_AES_128_GCM', AEAD_AES_128_GCM], ['AES_CM_128_HMAC_SHA1_80', AES_CM_128_HMAC_SHA1_80]] as const) {
  test(`${name}: werift decrypts what protect() made, across a wrap; a flipped bit fails`, () => {
    const { session, keys } = srtpKeyPair(profile);
    const roc = new RolloverCounter();
    for (let i = 0; i < 6; i++) {
      const seq = (65533 + i) & 0xffff;
      const payload = randomBytes(100 + i * 200);
      const packet = protect(keys, rtpHeader(seq, 3000 * i, 0xabcdef01, i === 5), payload, roc.for(seq));
      const rtp = RtpPacket.deSerialize(session.decrypt(packet));
      assert.equal(rtp.header.sequenceNumber, seq);
      assert.equal(rtp.header.timestamp, 3000 * i);
      assert.equal(rtp.header.ssrc, 0xabcdef01);
      assert.equal(rtp.header.marker, i === 5);
      assert.deepEqual(rtp.payload, payload);
    }
    const tampered = protect(keys, rtpHeader(3, 0, 0xabcdef01, false), randomBytes(300), roc.for(3));
    tampered[30] ^= 1;
    assert.throws(() => session.decrypt(tampered));
  });
}
