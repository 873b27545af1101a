/**
 * The forwarder with a simulcast publisher (issue 15), through its one entry point `forward`,
 * with real egresses whose packets a werift SRTP session (the viewer's side) decrypts: each viewer
 * gets one layer; a switch waits for a keyframe of the target layer and asks for one; sequence
 * numbers, timestamps and VP8 picture ids / TL0PICIDX run on as one stream across the switch;
 * NACKs find the packet in its layer, and a packet resent a moment ago is not resent again; the
 * viewers' link estimates and Auto's moves are there for /metrics.
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { ReceiverEstimatedMaxBitrate, RtcpPayloadSpecificFeedback, RtcpReceiverInfo, RtcpRrPacket, RtpPacket } from 'werift';
import { Egress } from '../../src/relay/egress.js';
import { Forwarder, relayCounters } from '../../src/relay/forwarder.js';
import { ViewerQuality } from '../../src/relay/layer-selector.js';
import { vp8KeyframeSize } from '../../src/relay/layers.js';
import { LinkEstimate } from '../../src/relay/link.js';
import { RESEND_GAP_MS } from '../../src/relay/resend-pacer.js';
import { vp8Ids } from '../../src/relay/rewriter.js';
import type { Sink } from '../../src/relay/sink.js';
import { AEAD_AES_128_GCM } from '../../src/relay/srtp.js';
import { FakeClock, RecordingRtcp } from '../helpers/fake-clock.js';
import { srtpKeyPair } from '../helpers/srtp-keys.js';

/** A VP8 packet with X, I (15-bit picture id) and L (TL0PICIDX); a keyframe carries its size. */
function vp8(pid: number, tl0: number, key: boolean, height = 0, start = true): Uint8Array {
  const descriptor = [0x80 | (start ? 0x10 : 0), 0xc0, 0x80 | (pid >> 8), pid & 0xff, tl0];
  if (!start) return Uint8Array.from([...descriptor, 0xaa]);
  if (!key) return Uint8Array.from([...descriptor, 0x01, 0x00, 0x00]);
  const width = height * 2;
  return Uint8Array.from([...descriptor, 0x00, 0x00, 0x00, 0x9d, 0x01, 0x2a, width & 0xff, width >> 8, height & 0xff, height >> 8]);
}

function setup() {
  const clock = new FakeClock();
  const forwarder = new Forwarder(clock);
  forwarder.videoCodec = 'video/VP8';
  for (const rid of ['q', 'h', 'f']) forwarder.layers.indexOf(rid);
  forwarder.simulcastLayers = 3;
  const keyframeAsks: number[] = [];
  forwarder.requestKeyframe = (layer) => keyframeAsks.push(layer);
  const viewer = (rtx?: { ssrc: number; payloadType: number }) => {
    const { session, keys } = srtpKeyPair(AEAD_AES_128_GCM);
    const received: RtpPacket[] = [];
    const egress = new Egress(keys, { kind: 'function', send: (p) => received.push(RtpPacket.deSerialize(session.decrypt(p))) }, { ssrc: 7, payloadType: 96, seqOffset: 1000, tsOffset: 50_000 });
    const quality = new ViewerQuality();
    const sink: Sink & { rtcp: RecordingRtcp } = { kind: 'video', egress, rtcp: new RecordingRtcp(clock, rtx), quality };
    return { sink, received, quality };
  };
  /** One frame on every layer: layer i has its own sequence numbers, timestamps and picture ids. */
  let frame = 0;
  const frameOnAll = (keyOn: number[] = [], sending: number[] = [0, 1, 2]) => {
    for (const layer of sending) {
      const seq = (layer * 20_000 + frame * 2) & 0xffff;
      const ts = (layer * 1_000_000 + frame * 3000) >>> 0;
      const pid = (layer * 9000 + frame) & 0x7fff;
      const tl0 = (layer * 100 + frame) & 0xff;
      const key = keyOn.includes(layer);
      forwarder.forward('video', seq, ts, false, vp8(pid, tl0, key, [180, 360, 720][layer]), layer);
      forwarder.forward('video', (seq + 1) & 0xffff, ts, true, vp8(pid, tl0, key, 0, false), layer);
    }
    frame++;
    clock.advance(33);
  };
  return { clock, forwarder, viewer, frameOnAll, keyframeAsks };
}

test('the VP8 descriptor and keyframe header are read where they are', () => {
  assert.deepEqual(vp8KeyframeSize(vp8(5, 1, true, 360)), { width: 720, height: 360 });
  assert.equal(vp8KeyframeSize(vp8(5, 1, false)), undefined);
  assert.deepEqual(vp8Ids(vp8(300, 9, false)), { pidAt: 2, pidBits: 15, tl0At: 4 });
});

test('a viewer gets one layer (the highest on auto) from its keyframe, then switches down only at a keyframe of the lower layer, as one continuous stream', () => {
  const { forwarder, viewer, frameOnAll, keyframeAsks } = setup();
  frameOnAll([0, 1, 2]); // sizes known: layer 2 is 720p
  const v = viewer();
  forwarder.add(v.sink);
  assert.equal(v.received.length, 4 - 2, 'the top layer keyframe from history: its two packets');
  frameOnAll();
  frameOnAll();
  assert.equal(v.received.length, 6);
  v.quality.choice = 180;
  forwarder.reselect(v.sink);
  assert.deepEqual(keyframeAsks.slice(-1), [0], 'a keyframe is asked of the 180p layer');
  frameOnAll(); // no keyframe yet on layer 0: still the top layer
  assert.equal(v.received.length, 8);
  frameOnAll([0]);
  frameOnAll();
  const r = v.received;
  assert.equal(r.length, 12);
  // One stream: sequence numbers by one, timestamps always forward, picture ids and TL0PICIDX by one per frame.
  for (let i = 1; i < r.length; i++) {
    assert.equal(r[i].header.sequenceNumber, (r[i - 1].header.sequenceNumber + 1) & 0xffff, `seq at ${i}`);
    assert.ok(r[i].header.timestamp >= r[i - 1].header.timestamp, `timestamp at ${i}`);
  }
  const ids = r.map((p) => [((p.payload[2] & 0x7f) << 8) | p.payload[3], p.payload[4]]);
  for (let i = 2; i < ids.length; i += 2) {
    assert.deepEqual(ids[i], [ids[i - 2][0] + 1, ids[i - 2][1] + 1], `picture id / tl0 of frame ${i / 2}`);
  }
  // The switch: the first packet of layer 0's keyframe, 33 ms of 90 kHz after the last top-layer frame.
  assert.equal(vp8KeyframeSize(r[8].payload)?.height, 180);
  assert.equal(r[8].header.timestamp - r[6].header.timestamp, 33 * 90);
  assert.equal(r[0].header.ssrc, 7);
});

test('NACKs are answered from the layer each packet came from, and not again within the resend gap', () => {
  const { clock, forwarder, viewer, frameOnAll } = setup();
  frameOnAll([0, 1, 2]);
  const v = viewer();
  v.quality.choice = 180;
  forwarder.add(v.sink);
  frameOnAll();
  v.quality.choice = 'auto';
  forwarder.reselect(v.sink);
  frameOnAll([2]); // layer 0 goes first in each frame: its packets, then the switch to layer 2's keyframe
  const sent = v.received.map((p) => p.header.sequenceNumber);
  assert.equal(sent.length, 8);
  const [lowSeq, topSeq] = [sent[2], sent[6]];
  v.sink.rtcp.nackHandler!([lowSeq, topSeq]);
  const resent = v.received.slice(8);
  assert.equal(resent.length, 2);
  assert.deepEqual(resent.map((p) => p.header.sequenceNumber), [lowSeq, topSeq]);
  assert.deepEqual(resent.map((p) => p.header.timestamp), [v.received[2].header.timestamp, v.received[6].header.timestamp]);
  assert.deepEqual(resent[0].payload, v.received[2].payload, 'rewritten the same way as when first sent');
  assert.deepEqual(resent[1].payload, v.received[6].payload, 'rewritten the same way as when first sent');
  v.sink.rtcp.nackHandler!([lowSeq]);
  assert.equal(v.received.length, 10, 'resent a moment ago: not again');
  clock.advance(RESEND_GAP_MS);
  v.sink.rtcp.nackHandler!([lowSeq]);
  assert.equal(v.received.length, 11);
});

test("resends are paced within a share of the viewer's budget; past that, a keyframe of its layer is asked for instead", () => {
  const { clock, forwarder, viewer, frameOnAll, keyframeAsks } = setup();
  frameOnAll([0, 1, 2]);
  const v = viewer();
  v.quality.choice = 180;
  forwarder.add(v.sink);
  for (let i = 0; i < 60; i++) frameOnAll();
  const sent = v.received.map((p) => p.header.sequenceNumber);
  const first = v.received.length;
  // A link budget of 80 kbit/s: resends may take 20 kbit/s, 500 bytes per 200 ms burst; the
  // packets here are 6-8 bytes, so about 70 of 120 go and the rest are refused.
  const link = { budget: () => 80_000, loss: 0, remb: 80_000 } as unknown as NonNullable<typeof v.quality.link>;
  v.quality.link = link;
  const asksBefore = keyframeAsks.length;
  v.sink.rtcp.nackHandler!(sent.slice(0, 120));
  const resent = v.received.length - first;
  assert.ok(resent > 40 && resent < 100, `${resent} of 120 resent within the budget`);
  assert.deepEqual(keyframeAsks.slice(asksBefore), [0], 'the rest: a keyframe of the 180p layer instead');
  clock.advance(RESEND_GAP_MS);
  v.sink.rtcp.nackHandler!(sent.slice(0, 1));
  assert.equal(v.received.length - first, resent + 1, 'the budget fills again with time');
});

test('a probe brings what the viewer is sent up by its rate, with copies of packets it has, on its RTX stream; none without a probe', () => {
  const { forwarder, viewer, frameOnAll } = setup();
  frameOnAll([0, 1, 2]);
  const v = viewer({ ssrc: 99, payloadType: 97 });
  v.quality.choice = 180;
  forwarder.add(v.sink);
  assert.equal(v.quality.canProbe, true, 'an RTX stream: the link can be probed');
  for (let i = 0; i < 30; i++) frameOnAll();
  assert.equal(v.received.filter((p) => p.header.ssrc === 99).length, 0, 'no probe: nothing on the RTX stream');
  const media = v.received.filter((p) => p.header.ssrc === 7);
  // A probe of 40 kbit/s for 30 frames of 33 ms: ~5 kB of copies.
  v.quality.probeBps = 40_000;
  for (let i = 0; i < 30; i++) frameOnAll();
  v.quality.probeBps = 0;
  const copies = v.received.filter((p) => p.header.ssrc === 99);
  const bytes = copies.reduce((n, p) => n + p.payload.length + 12, 0);
  const expected = (40_000 / 8) * (29 * 0.033);
  assert.ok(bytes >= expected * 0.8 && bytes <= expected * 1.2, `${bytes} bytes of copies for ${Math.round(expected)} owed`);
  const sentBySeq = new Map(v.received.filter((p) => p.header.ssrc === 7).map((p) => [p.header.sequenceNumber, p]));
  for (const copy of copies) {
    assert.equal(copy.header.payloadType, 97);
    const original = sentBySeq.get(copy.payload.readUInt16BE(0));
    assert.ok(original, 'a copy of a packet the viewer was sent');
    assert.deepEqual(copy.payload.subarray(2), original.payload, 'rewritten as when it was sent');
  }
  const seqs = copies.map((p) => p.header.sequenceNumber);
  for (let i = 1; i < seqs.length; i++) assert.equal(seqs[i], (seqs[i - 1] + 1) & 0xffff, 'the RTX stream runs on by one');
  const after = v.received.length;
  for (let i = 0; i < 5; i++) frameOnAll();
  assert.equal(v.received.length - after, 10, 'the probe over: the layer alone');
  assert.ok(media.length > 0);
});

test('a viewer without an RTX stream is not probed', () => {
  const { forwarder, viewer, frameOnAll } = setup();
  frameOnAll([0, 1, 2]);
  const v = viewer();
  forwarder.add(v.sink);
  assert.equal(v.quality.canProbe, false);
  v.quality.probeBps = 40_000;
  const before = v.received.length;
  for (let i = 0; i < 10; i++) frameOnAll();
  assert.equal(v.received.length - before, 20, 'the layer alone');
});

test("the forwarder lists its viewers' recent link estimates, and counts Auto's moves in the process's counters", async () => {
  const { clock, forwarder, viewer, frameOnAll } = setup();
  frameOnAll([0, 1, 2]);
  const v = viewer();
  const link = new LinkEstimate(() => 7);
  v.quality.link = link;
  forwarder.add(v.sink);
  for (let i = 0; i < 30; i++) frameOnAll();
  // The layers' rates are measured over a second of real time.
  await new Promise((r) => setTimeout(r, 1_100));
  frameOnAll();
  assert.ok(forwarder.layers.ordered().every((l) => l.bitsPerSecond > 0));
  assert.deepEqual(forwarder.links(), [], 'no REMB heard: no estimate');
  const downs = relayCounters.layerDowns;
  const remb = new RtcpPayloadSpecificFeedback({ feedback: new ReceiverEstimatedMaxBitrate({ senderSsrc: 1, mediaSsrc: 0, ssrcNum: 1, brExp: 0, brMantissa: 0, bitrate: 900_000n, ssrcFeedbacks: [7] }) });
  const rr = new RtcpRrPacket({ ssrc: 1, reports: [new RtcpReceiverInfo({ ssrc: 7, fractionLost: 77, packetsLost: 0, highestSequence: 0, jitter: 0, lsr: 0, dlsr: 0 })] });
  link.note(remb, clock.now());
  link.note(rr, clock.now());
  link.note(rr, clock.now());
  clock.advance(250); // the next choice of layer
  assert.equal(relayCounters.layerDowns, downs + 1, "the reports' loss moved the viewer down a layer");
  const [sample, ...rest] = forwarder.links();
  assert.deepEqual([sample.bps, Math.round(sample.loss * 100), rest.length], [900_000, 23, 0]);
  clock.advance(5_000);
  assert.deepEqual(forwarder.links(), [], 'the estimate is stale after 5 s');
});

test('a layer the publisher stops while the others go on (its picture shrank): its viewers move to the next one within a few frames, from that layer\'s last keyframe', () => {
  const { forwarder, viewer, frameOnAll } = setup();
  frameOnAll([0, 1, 2]);
  const v = viewer();
  forwarder.add(v.sink);
  for (let i = 0; i < 5; i++) frameOnAll();
  const before = v.received.length;
  // The picture shrinks: layers 0 and 1 start again with a keyframe, layer 2 sends no more.
  frameOnAll([0, 1], [0, 1]);
  for (let i = 0; i < 2; i++) frameOnAll([], [0, 1]);
  assert.equal(v.received.length, before, 'three frames of the others: not yet');
  frameOnAll([], [0, 1]);
  const moved = v.received.slice(before);
  assert.equal(vp8KeyframeSize(moved[0].payload)?.height, 360, 'the 360p layer, from its keyframe');
  assert.equal(moved.length, 8, 'its four frames since that keyframe, at once');
  const seqs = v.received.map((p) => p.header.sequenceNumber);
  for (let i = 1; i < seqs.length; i++) assert.equal(seqs[i], (seqs[i - 1] + 1) & 0xffff, `one stream: seq at ${i}`);
  frameOnAll([], [0, 1]);
  assert.equal(v.received.length, before + 10, 'and on with the 360p layer');
});
