/**
 * The forwarder as one piece, through its one entry point `forward`, with real egresses whose
 * packets a werift SRTP session (the viewer's side) decrypts, and a fake clock: fan-out by kind,
 * padding left out, a new viewer started from the newest keyframe while it is recent, NACKs
 * answered until the sink is removed and paced within the viewer's link budget (a storm of them
 * asks for a keyframe instead), sender reports from the forwarder's own clock.
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { GenericNack, ReceiverEstimatedMaxBitrate, RtcpPayloadSpecificFeedback, RtcpTransportLayerFeedback, RtpPacket } from 'werift';
import type { MediaKind } from '../../src/relay/codecs.js';
import { Egress } from '../../src/relay/egress.js';
import { Forwarder, relayCounters } from '../../src/relay/forwarder.js';
import { ViewerQuality } from '../../src/relay/layer-selector.js';
import { LinkEstimate } from '../../src/relay/link.js';
import { RESEND_GAP_MS } from '../../src/relay/resend-pacer.js';
import { TICK_MS } from '../../src/relay/sender-reports.js';
import type { Sink } from '../../src/relay/sink.js';
import { AEAD_AES_128_GCM } from '../../src/relay/srtp.js';
import { FakeClock, RecordingRtcp } from '../helpers/fake-clock.js';
import { srtpKeyPair } from '../helpers/srtp-keys.js';

const VP8_KEY = Uint8Array.of(0x10, 0x00, 0x9d, 0x01);
const VP8_DELTA = Uint8Array.of(0x10, 0x01, 0x9d, 0x02);
const VP8_MORE = Uint8Array.of(0x00, 0x00, 0x03);

function setup() {
  const clock = new FakeClock();
  const forwarder = new Forwarder(clock);
  forwarder.videoCodec = 'video/VP8';
  let ssrc = 1;
  /** A viewer's stream of one kind: what it received (decrypted), its RTCP side. */
  const viewer = (kind: MediaKind) => {
    const { session, keys } = srtpKeyPair(AEAD_AES_128_GCM);
    const received: RtpPacket[] = [];
    const egress = new Egress(keys, { kind: 'function', send: (p) => received.push(RtpPacket.deSerialize(session.decrypt(p))) }, { ssrc: ssrc++, payloadType: 96, seqOffset: 10, tsOffset: 0 });
    const quality = new ViewerQuality();
    const sink: Sink & { rtcp: RecordingRtcp } = { kind, egress, rtcp: new RecordingRtcp(clock), quality };
    return { sink, received, quality, seqs: () => received.map((p) => (p.header.sequenceNumber - 10) & 0xffff) };
  };
  return { clock, forwarder, viewer };
}

test('each packet goes to every sink of its kind, once; padding-only packets go nowhere', () => {
  const { forwarder, viewer } = setup();
  const [v1, v2, a] = [viewer('video'), viewer('video'), viewer('audio')];
  for (const v of [v1, v2, a]) forwarder.add(v.sink);
  const before = { ...relayCounters };
  forwarder.forward('video', 100, 9000, true, VP8_DELTA);
  forwarder.forward('audio', 7, 960, false, Uint8Array.of(1, 2, 3));
  forwarder.forward('video', 101, 9000, false, new Uint8Array(0));
  assert.deepEqual([v1.seqs(), v2.seqs(), a.seqs()], [[100], [100], [7]]);
  assert.equal(v1.received[0].header.marker, true);
  assert.deepEqual(v1.received[0].payload, Buffer.from(VP8_DELTA));
  assert.equal(relayCounters.packetsIn - before.packetsIn, 3);
  assert.equal(relayCounters.packetsOut - before.packetsOut, 3);
  assert.equal(relayCounters.bytesOut - before.bytesOut, 2 * VP8_DELTA.length + 3);
});

test('a viewer who joins gets the newest keyframe and the frames since, while that keyframe is under a second old', () => {
  const { clock, forwarder, viewer } = setup();
  forwarder.forward('video', 1, 3000, true, VP8_DELTA);
  forwarder.forward('video', 2, 6000, false, VP8_KEY);
  forwarder.forward('video', 3, 6000, true, VP8_MORE);
  clock.advance(33);
  forwarder.forward('audio', 40, 960, false, VP8_KEY); // audio is never a video keyframe, whatever its bytes
  forwarder.forward('video', 5, 9000, true, VP8_DELTA); // 4 was lost on the way in
  const early = viewer('video');
  assert.equal(forwarder.add(early.sink), true);
  assert.deepEqual(early.seqs(), [2, 3, 5]);
  clock.advance(1_000 - 33);
  const onTime = viewer('video');
  assert.equal(forwarder.add(onTime.sink), true, 'exactly a second old');
  clock.advance(1);
  const late = viewer('video');
  assert.equal(forwarder.add(late.sink), false, 'too old: the caller asks the publisher for a new one');
  assert.deepEqual(late.seqs(), []);
  assert.equal(forwarder.add(viewer('audio').sink), false, 'audio has no keyframes');
});

test("after forget() (the publisher's media was gated), a new viewer is not started from a keyframe from before the gap; packets gated count as received", () => {
  const { forwarder, viewer } = setup();
  forwarder.forward('video', 2, 6000, false, VP8_KEY);
  forwarder.forward('video', 3, 6000, true, VP8_MORE);
  const before = { ...relayCounters };
  forwarder.gated(true, 700, undefined);
  assert.equal(relayCounters.packetsIn - before.packetsIn, 1);
  assert.equal(relayCounters.bytesIn - before.bytesIn, 700);
  forwarder.forget();
  // The gate opens soon after (the keyframe is still under a second old); a delta frame arrives.
  forwarder.forward('video', 40, 90_000, true, VP8_DELTA);
  const v = viewer('video');
  assert.equal(forwarder.add(v.sink), false, 'no keyframe to start from: the caller asks the publisher for one');
  assert.deepEqual(v.seqs(), []);
  forwarder.forward('video', 41, 93_000, false, VP8_KEY);
  assert.deepEqual(v.seqs(), [41]);
});

test("a sink's NACKs are answered from history until it is removed; removing closes its egress", () => {
  const { forwarder, viewer } = setup();
  const v = viewer('video');
  forwarder.add(v.sink);
  for (let seq = 65534; seq < 65534 + 4; seq++) forwarder.forward('video', seq & 0xffff, 100, false, VP8_DELTA);
  const before = relayCounters.retransmitted;
  v.sink.rtcp.nackHandler!([(65535 + 10) & 0xffff, (1 + 10) & 0xffff, 500]);
  assert.deepEqual(v.seqs(), [65534, 65535, 0, 1, 65535, 1]);
  assert.equal(relayCounters.retransmitted - before, 2);
  forwarder.remove(v.sink);
  assert.equal(v.sink.rtcp.nackHandler, undefined, 'unsubscribed');
  assert.equal(v.sink.egress.closed, true);
  forwarder.forward('video', 2, 100, false, VP8_DELTA);
  assert.equal(v.received.length, 6, 'nothing more after removal');
});

test("without simulcast, a congested viewer's NACKs are paced within its link budget, not resent within the gap, and a storm asks for a keyframe", () => {
  const { clock, forwarder, viewer } = setup();
  const keyframeAsks: number[] = [];
  forwarder.requestKeyframe = (layer) => keyframeAsks.push(layer);
  const v = viewer('video');
  const ssrc = v.sink.egress.header.ssrc;
  forwarder.add(v.sink);
  const payload = new Uint8Array(500).fill(0x10);
  for (let seq = 0; seq < 100; seq++) forwarder.forward('video', seq, 3000 * seq, true, payload);
  const viewerSeqs = v.received.map((p) => p.header.sequenceNumber);
  const first = v.received.length;
  // The viewer's own RTCP, as werift parses it: its estimate falls from 2 Mbit/s to 200 kbit/s
  // while it NACKs: its link is full, its budget 200 kbit/s, of which resends may take a quarter.
  const link = new LinkEstimate(() => ssrc);
  v.quality.link = link;
  const remb = (bps: number) => new RtcpPayloadSpecificFeedback({ feedback: new ReceiverEstimatedMaxBitrate({ senderSsrc: 1, mediaSsrc: 0, ssrcNum: 1, brExp: 0, brMantissa: 0, bitrate: BigInt(bps), ssrcFeedbacks: [ssrc] }) });
  link.note(remb(2_000_000), clock.now());
  clock.advance(500);
  link.note(remb(200_000), clock.now());
  const nack = new RtcpTransportLayerFeedback({ feedback: new GenericNack({ senderSsrc: 1, mediaSourceSsrc: ssrc, lost: viewerSeqs }) });
  link.note(nack, clock.now());
  const before = { ...relayCounters };
  v.sink.rtcp.nackHandler!(viewerSeqs);
  // 50 kbit/s in bursts of 200 ms: 1250 bytes, two packets of 500 of the hundred NACKed and a
  // third into debt (250 bytes).
  const resent = v.received.slice(first);
  assert.equal(resent.length, 3, `${resent.length} of 100 resent`);
  assert.equal(relayCounters.retransmitted - before.retransmitted, 3);
  assert.equal(relayCounters.resendsSkipped - before.resendsSkipped, 97);
  assert.deepEqual(keyframeAsks, [0], 'a keyframe of the one stream instead of the rest');
  // The same NACK again at once: the three resent are within the gap, the budget is spent.
  v.sink.rtcp.nackHandler!(viewerSeqs.slice(0, 3));
  assert.equal(v.received.length, first + 3);
  clock.advance(RESEND_GAP_MS);
  v.sink.rtcp.nackHandler!(viewerSeqs.slice(0, 3));
  assert.equal(v.received.length, first + 4, '100 ms of budget (625 bytes) pays the debt and lets one more packet go');
  assert.deepEqual(keyframeAsks, [0], 'one storm a second asks once');
});

test('without simulcast, resends never take more than a quarter of the stream, even when the link reports nothing', async () => {
  const { forwarder, viewer } = setup();
  const keyframeAsks: number[] = [];
  forwarder.requestKeyframe = (layer) => keyframeAsks.push(layer);
  const v = viewer('video');
  v.quality.link = new LinkEstimate(() => v.sink.egress.header.ssrc); // no estimate, no loss: no budget of its own
  forwarder.add(v.sink);
  const payload = new Uint8Array(500).fill(0x10);
  for (let seq = 0; seq < 100; seq++) forwarder.forward('video', seq, 3000 * seq, true, payload);
  // The stream's rate is measured over a second of real time: ~400 kbit/s here.
  await new Promise((r) => setTimeout(r, 1_050));
  const first = v.received.length;
  v.sink.rtcp.nackHandler!(v.received.map((p) => p.header.sequenceNumber));
  // A quarter of ~400 kbit/s in bursts of 200 ms: ~2.5 kB, four or five packets of 500 bytes.
  const resent = v.received.length - first;
  assert.ok(resent >= 3 && resent <= 6, `${resent} of 100 resent`);
  assert.deepEqual(keyframeAsks, [0]);
});

test("an audio sink's NACKs have no budget: all go, none twice within the gap", () => {
  const { forwarder, viewer } = setup();
  const keyframeAsks: number[] = [];
  forwarder.requestKeyframe = (layer) => keyframeAsks.push(layer);
  const a = viewer('audio');
  forwarder.add(a.sink);
  for (let seq = 0; seq < 50; seq++) forwarder.forward('audio', seq, 960 * seq, false, new Uint8Array(200));
  const seqs = a.received.map((p) => p.header.sequenceNumber);
  a.sink.rtcp.nackHandler!([...seqs, ...seqs]);
  assert.equal(a.received.length, 100);
  assert.deepEqual(keyframeAsks, []);
});

test("sender reports run on the forwarder's clock, from its first sink to its clear()", () => {
  const { clock, forwarder, viewer } = setup();
  const v = viewer('video');
  forwarder.add(v.sink);
  assert.equal(clock.tickers, 1);
  forwarder.forward('video', 1, 3000, true, VP8_KEY);
  clock.advance(TICK_MS);
  assert.deepEqual(v.sink.rtcp.reports, [clock.now()]);
  assert.equal(v.sink.rtcp.updates.at(-1)!.packetCount, 1);
  forwarder.clear();
  assert.equal(clock.tickers, 0);
  assert.equal(v.sink.egress.closed, true);
  const next = viewer('video');
  assert.equal(forwarder.add(next.sink), false, 'clear() forgot the history');
});
