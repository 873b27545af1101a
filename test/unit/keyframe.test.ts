/** Finding where a keyframe starts in VP8 and H.264 RTP payloads, without decoding. */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { h264KeyframeStart, keyframeDetector, KeyframeTracker, vp8KeyframeStart } from '../../src/relay/keyframe.js';

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

const VP8_KEY = b(0x10, 0x00, 0x9d);
const VP8_START = b(0x10, 0x01, 0x9d);
const VP8_MORE = b(0x00, 0x00);

test("the tracker finds where the newest keyframe's frame began, and forgets it once it is old", () => {
  const t = new KeyframeTracker();
  t.codec = 'video/VP8';
  assert.equal(t.startSince(0, 1_000), undefined, 'none yet');
  // Frame ts 3000 (seq 10-12) is an interframe; frame ts 6000 starts at seq 13 with a keyframe.
  t.note(10, 3000, VP8_START, 100);
  t.note(11, 3000, VP8_MORE, 100);
  t.note(12, 3000, VP8_MORE, 100);
  assert.equal(t.startSince(100, 1_000), undefined, 'an interframe is no start');
  t.note(13, 6000, VP8_KEY, 133);
  t.note(14, 6000, VP8_MORE, 133);
  assert.equal(t.startSince(133, 1_000), 13);
  assert.equal(t.startSince(1_133, 1_000), 13, 'exactly as old as allowed');
  assert.equal(t.startSince(1_134, 1_000), undefined, 'older');
  t.note(15, 9000, VP8_START, 166);
  assert.equal(t.startSince(166, 1_000), 13, 'interframes since do not move it');
  t.clear();
  assert.equal(t.startSince(166, 1_000), undefined);
});

test("an H.264 keyframe's start is its frame's first packet, even when the IDR comes after the SPS", () => {
  const t = new KeyframeTracker();
  t.codec = 'video/H264';
  t.note(65535, 90, b(0x09, 0x10), 5); // an access unit delimiter first, then the SPS in the next packet
  t.note(0, 90, b(0x67, 0x42), 5);
  t.note(1, 90, b(0x65, 0x88), 5);
  assert.equal(t.startSince(5, 1_000), 65535);
});

test('without a known video codec the tracker finds nothing', () => {
  const t = new KeyframeTracker();
  t.note(1, 1, VP8_KEY, 0);
  assert.equal(t.startSince(0, 1_000), undefined);
  t.codec = 'video/AV1';
  t.note(2, 2, VP8_KEY, 0);
  assert.equal(t.startSince(0, 1_000), undefined);
});
