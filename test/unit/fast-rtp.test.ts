/**
 * The RTP header parser that replaces werift's must give exactly what werift's own gives: every
 * field, every extension (one-byte, two-byte, other profiles, padding bytes, the ID 15 stop), the
 * payload offset and padding size, and the same refusal of a packet too short for its header.
 */
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { test } from 'node:test';
import { RtpHeader, RtpPacket } from 'werift';
import { deSerializeRtpHeader, installWeriftPatches, replacements } from '../../src/relay/werift/index.js';

installWeriftPatches();
const patched = replacements.find((r) => r.target === 'RtpHeader.deSerialize')!;
/** werift's own parser, as it was before the patch. */
const weriftDeSerialize = (raw: Buffer) => patched.original.call(RtpHeader, raw) as RtpHeader;

/** A random RTP packet: any CSRC count, extension profile and contents, padding or not. */
function randomPacket(i: number): Buffer {
  const cc = i % 3 === 0 ? i % 16 : 0;
  const extension = i % 2 === 0;
  const padding = i % 5 === 0;
  const parts: Buffer[] = [];
  const head = randomBytes(12);
  head[0] = 0x80 | (padding ? 0x20 : 0) | (extension ? 0x10 : 0) | cc;
  parts.push(head, randomBytes(cc * 4));
  if (extension) {
    const words = 1 + (i % 4);
    const profile = [0xbede, 0x1000, 0x1234][i % 3];
    const body = randomBytes(words * 4);
    // Sprinkle the padding bytes and (one-byte profile) the ID-15 stop that parsers must honour.
    if (i % 7 === 0) body[0] = 0;
    if (profile === 0xbede && i % 11 === 0) body[body.length - 2] = 0xf0;
    const ext = Buffer.alloc(4);
    ext.writeUInt16BE(profile, 0);
    ext.writeUInt16BE(words, 2);
    parts.push(ext, body);
  }
  parts.push(randomBytes(i % 40));
  if (padding) parts.push(Buffer.from([0, 0, 3]));
  return Buffer.concat(parts);
}

const plain = (h: RtpHeader) => ({ ...h, extensions: h.extensions.map((e) => ({ id: e.id, payload: Buffer.from(e.payload).toString('hex') })) });

test("the replacement is what werift calls, and it reads every header as werift's own parser does", () => {
  assert.equal(RtpHeader.deSerialize, deSerializeRtpHeader);
  for (let i = 0; i < 5_000; i++) {
    const packet = randomPacket(i);
    let theirs: RtpHeader | Error;
    try {
      theirs = weriftDeSerialize(packet);
    } catch (err) {
      theirs = err as Error;
    }
    if (theirs instanceof Error) {
      assert.throws(() => deSerializeRtpHeader(packet), RangeError, `packet ${i}: werift refused it (${theirs.message})`);
      continue;
    }
    assert.deepEqual(plain(deSerializeRtpHeader(packet)), plain(theirs), `packet ${i}: ${packet.toString('hex')}`);
  }
});

test('a whole packet through werift: header and payload', () => {
  const packet = randomPacket(10);
  const p = RtpPacket.deSerialize(packet);
  const h = weriftDeSerialize(packet);
  assert.equal(p.header.sequenceNumber, h.sequenceNumber);
  assert.deepEqual(Buffer.from(p.payload), packet.subarray(h.payloadOffset, packet.length - h.paddingSize));
});

test('packets too short for a header are refused', () => {
  for (const n of [0, 1, 4, 11]) assert.throws(() => deSerializeRtpHeader(randomBytes(n)), RangeError, `${n} bytes`);
});
