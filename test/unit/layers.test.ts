/**
 * A simulcast layer's picture size comes from its keyframes (issue 15): H.264 SPS (made by x264,
 * cropping and high profile included, alone and in a STAP-A), and the order of layers from it.
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { h264KeyframeSize, h264SpsSize, SimulcastLayers } from '../../src/relay/layers.js';

// SPS NAL units written by ffmpeg/libx264 for these sizes and profiles.
const SPS: [string, number, number][] = [
  ['6742c01fd9005005bb011000000300100000030320f1832480', 1280, 720],
  ['6742c00cd901419f9f011000000300100000030320f142a480', 320, 180],
  ['6764001eacd940a02ff97011000003000100000300320f162d96', 640, 360],
  ['674d4028eca03c0113f2e022000003000200000300641e30632c', 1920, 1080],
];

test('the picture size of an H.264 SPS, cropping applied, for baseline, main and high profiles', () => {
  for (const [hex, width, height] of SPS) assert.deepEqual(h264SpsSize(Buffer.from(hex, 'hex')), { width, height }, hex);
  assert.equal(h264SpsSize(Buffer.from('6742c0', 'hex')), undefined, 'cut short: no size, no throw');
});

test('an SPS alone or in a STAP-A gives the size; other packets do not', () => {
  const sps = Buffer.from(SPS[0][0], 'hex');
  const pps = Buffer.from('68ce3c80', 'hex');
  const stap = Buffer.concat([Buffer.of(24), Buffer.of(0, pps.length), pps, Buffer.of(0, sps.length), sps]);
  assert.deepEqual(h264KeyframeSize(sps), { width: 1280, height: 720 });
  assert.deepEqual(h264KeyframeSize(stap), { width: 1280, height: 720 });
  assert.equal(h264KeyframeSize(pps), undefined);
  assert.equal(h264KeyframeSize(Buffer.of(0x65, 0x88)), undefined, 'an IDR slice carries no size');
});

test('layers are ordered by the height their keyframes carry, whatever order their rids came in', () => {
  const layers = new SimulcastLayers(['f', 'q', 'h']);
  layers.codec = 'video/H264';
  layers.note(0, Buffer.from(SPS[0][0], 'hex'));
  layers.note(1, Buffer.from(SPS[1][0], 'hex'));
  layers.note(2, Buffer.from(SPS[2][0], 'hex'));
  assert.deepEqual(layers.ordered().map((l) => [l.rid, l.height]), [['q', 180], ['h', 360], ['f', 720]]);
  assert.equal(layers.top(), 0);
});
