/** Finding where a keyframe starts in VP8 and H.264 RTP payloads, without decoding. */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { h264KeyframeStart, keyframeDetector, vp8KeyframeStart } from '../../src/relay/keyframe.js';

const b = (...bytes: number[]) => Uint8Array.from(bytes);

test('VP8: a partition-0 start with the key-frame bit clear, with or without extensions', () => {
  assert.equal(vp8KeyframeStart(b(0x10, 0x00, 0x9d)), true);
  assert.equal(vp8KeyframeStart(b(0x10, 0x01, 0x9d)), false, 'interframe (P = 1)');
  assert.equal(vp8KeyframeStart(b(0x00, 0x00, 0x9d)), false, 'not the start of a partition');
  assert.equal(vp8KeyframeStart(b(0x11, 0x00)), false, 'partition 1');
  // X: I with a 15-bit picture id, L, T/K: four extension bytes before the VP8 header.
  assert.equal(vp8KeyframeStart(b(0x90, 0xe0, 0x80, 0x01, 0x05, 0x20, 0x00)), true);
  assert.equal(vp8KeyframeStart(b(0x90, 0xe0, 0x80, 0x01, 0x05, 0x20, 0x01)), false);
  assert.equal(vp8KeyframeStart(b(0x90, 0x80, 0x05, 0x00)), true, '7-bit picture id');
  assert.equal(vp8KeyframeStart(b(0x90, 0x80)), false, 'truncated');
});

test('H.264: SPS or IDR alone, inside a STAP-A, or opening an FU-A', () => {
  assert.equal(h264KeyframeStart(b(0x67, 0x42, 0xe0)), true, 'SPS');
  assert.equal(h264KeyframeStart(b(0x65, 0x88)), true, 'IDR slice');
  assert.equal(h264KeyframeStart(b(0x41, 0x9a)), false, 'non-IDR slice');
  assert.equal(h264KeyframeStart(b(0x78, 0x00, 0x02, 0x67, 0x42, 0x00, 0x02, 0x68, 0xce)), true, 'STAP-A with SPS and PPS');
  assert.equal(h264KeyframeStart(b(0x78, 0x00, 0x02, 0x41, 0x9a)), false, 'STAP-A without');
  assert.equal(h264KeyframeStart(b(0x7c, 0x85, 0x88)), true, 'FU-A start of an IDR');
  assert.equal(h264KeyframeStart(b(0x7c, 0x05, 0x88)), false, 'FU-A middle of an IDR');
  assert.equal(h264KeyframeStart(b(0x7c, 0x81, 0x88)), false, 'FU-A start of a non-IDR');
});

test('a detector per codec; none for audio', () => {
  assert.equal(keyframeDetector('video/VP8'), vp8KeyframeStart);
  assert.equal(keyframeDetector('video/H264'), h264KeyframeStart);
  assert.equal(keyframeDetector('audio/opus'), undefined);
});
