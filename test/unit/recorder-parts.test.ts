/** The recorder's small parts: putting packets back in order, unwrapping RTP time, reading an SPS. */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { StreamClock, ntpSeconds } from '../../src/relay/recorder/clock.js';
import { opusSamples } from '../../src/relay/recorder/depacketize.js';
import { parseSps } from '../../src/relay/recorder/h264-sps.js';
import { Reorderer, type RtpIn } from '../../src/relay/recorder/reorder.js';

const pkt = (seq: number, at: number): RtpIn => ({ seq: seq & 0xffff, ts: seq * 10, marker: false, payload: new Uint8Array(1), at });

function run(arrivals: [number, number][], waitMs = 100) {
  const out: string[] = [];
  const r = new Reorderer(waitMs, (p, lost) => out.push(`${p.seq}${lost ? '!' : ''}`));
  for (const [seq, at] of arrivals) r.push(pkt(seq, at));
  return { out, r };
}

test('packets come out in sequence order across the 16-bit wrap', () => {
  const { out } = run([[65534, 0], [0, 1], [65535, 2], [1, 3]]);
  assert.deepEqual(out, ['65534', '65535', '0', '1']);
});

test('a gap is waited for, then given up on; the packet after it is marked', () => {
  const { out, r } = run([[1, 0], [3, 10], [4, 50], [5, 120]]);
  assert.deepEqual(out, ['1', '3!', '4', '5']);
  assert.equal(r.lost, 1);
});

test('a retransmission inside the wait fills the gap; duplicates and late packets are dropped', () => {
  const { out, r } = run([[1, 0], [3, 10], [2, 60], [2, 61], [3, 62], [4, 70]]);
  assert.deepEqual(out, ['1', '2', '3', '4']);
  assert.equal(r.lost, 0);
});

test('a jump of thousands is a new sender: no waiting', () => {
  const { out } = run([[1, 0], [2, 1], [20_000, 2], [20_001, 3]]);
  assert.deepEqual(out, ['1', '2', '20000!', '20001']);
});

test('RTP time unwraps past 2^32 both ways and maps through an anchor', () => {
  const c = new StreamClock(90_000);
  assert.equal(c.extend(2 ** 32 - 900), 2 ** 32 - 900);
  assert.equal(c.extend(900), 2 ** 32 + 900);
  assert.equal(c.extend(2 ** 32 - 1800), 2 ** 32 - 1800); // a late one from before the wrap
  c.anchor(100, 2 ** 32 - 900);
  assert.equal(c.seconds(c.extend(900)), 100 + 1800 / 90_000);
  assert.equal(ntpSeconds((5n << 32n) | 0x80000000n), 5.5);
});

test('an SPS gives the picture size and the codec string', () => {
  // Chromium's SPS for 640x480 (level 3.1) and for 320x240 (level 2.1), from the capture.
  assert.deepEqual(parseSps(Buffer.from('6742c01f8c8d40501ed35060606078442350', 'hex')), { width: 640, height: 480, codecString: 'avc1.42c01f' });
  assert.deepEqual(parseSps(Buffer.from('6742c0158c8d40a0f9350606060784423500', 'hex')), { width: 320, height: 240, codecString: 'avc1.42c015' });
  assert.equal(parseSps(Buffer.from('68ce3c80', 'hex')), undefined); // a PPS
});

test('Opus frame lengths from the TOC byte', () => {
  assert.equal(opusSamples(new Uint8Array([0xf8, 0xff, 0xfe])), 960); // CELT FB 20 ms
  assert.equal(opusSamples(new Uint8Array([0x78])), 960); // hybrid FB 20 ms
  assert.equal(opusSamples(new Uint8Array([0x79])), 1920); // two of them
  assert.equal(opusSamples(new Uint8Array([0x7b, 0x03])), 2880); // code 3: three frames
});
