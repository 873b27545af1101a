/**
 * The RTCP header parser that replaces werift's gives exactly what werift's own gives for every
 * first byte, type and length, and refuses a buffer too short for a header as werift does.
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { RtcpHeader, RtcpPacketConverter, RtcpRrPacket } from 'werift';
import { deSerializeRtcpHeader, installWeriftPatches, replacements } from '../../src/relay/werift/index.js';

installWeriftPatches();
const patched = replacements.find((r) => r.target === 'RtcpHeader.deSerialize')!;
const weriftDeSerialize = (buf: Buffer) => patched.original.call(RtcpHeader, buf) as RtcpHeader;

test('every first byte, with any type and length, parses as werift parses it', () => {
  for (let b0 = 0; b0 < 256; b0++) {
    for (const [type, length] of [[200, 6], [201, 1], [205, 3], [206, 0xffff]] as const) {
      const buf = Buffer.from([b0, type, length >> 8, length & 0xff, 1, 2, 3, 4]);
      assert.deepEqual({ ...deSerializeRtcpHeader(buf) }, { ...weriftDeSerialize(buf) }, `first byte ${b0}, type ${type}`);
    }
  }
});

test('a buffer shorter than a header is refused, as werift refuses it', () => {
  for (const n of [0, 1, 2, 3]) {
    const buf = Buffer.alloc(n, 0x81);
    assert.throws(() => weriftDeSerialize(buf), RangeError);
    assert.throws(() => deSerializeRtcpHeader(buf), RangeError);
  }
});

test('werift runs the replacement: a receiver report parses through it', () => {
  assert.equal(RtcpHeader.deSerialize, deSerializeRtcpHeader);
  const rr = new RtcpRrPacket({ ssrc: 0x12345678, reports: [] }).serialize();
  const [parsed] = RtcpPacketConverter.deSerialize(rr);
  assert.ok(parsed instanceof RtcpRrPacket);
  assert.equal(parsed.ssrc, 0x12345678);
});
