/**
 * Auto's choice of layer from a viewer's own RTCP (issue 15): down at once when the estimate falls
 * below what is sent or the reports show loss, up one layer at a time after the link has shown
 * room for a while, and a failed trial up makes the next wait longer. Real werift RTCP packets go
 * in, as the viewer's browser would send them.
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { GenericNack, ReceiverEstimatedMaxBitrate, RtcpPayloadSpecificFeedback, RtcpReceiverInfo, RtcpRrPacket, RtcpTransportLayerFeedback } from 'werift';
import { ViewerQuality } from '../../src/relay/layer-selector.js';
import type { LayerInfo } from '../../src/relay/layers.js';
import { LinkEstimate } from '../../src/relay/link.js';

const SSRC = 42;
const layers: LayerInfo[] = [
  { index: 0, rid: 'q', width: 320, height: 180, bitsPerSecond: 150_000, active: true },
  { index: 1, rid: 'h', width: 640, height: 360, bitsPerSecond: 500_000, active: true },
  { index: 2, rid: 'f', width: 1280, height: 720, bitsPerSecond: 1_800_000, active: true },
];

const remb = (bps: number) => new RtcpPayloadSpecificFeedback({ feedback: new ReceiverEstimatedMaxBitrate({ senderSsrc: 1, mediaSsrc: 0, ssrcNum: 1, brExp: 0, brMantissa: 0, bitrate: BigInt(bps), ssrcFeedbacks: [SSRC] }) });
const rr = (fractionLost: number) => new RtcpRrPacket({ ssrc: 1, reports: [new RtcpReceiverInfo({ ssrc: SSRC, fractionLost: Math.round(fractionLost * 256), packetsLost: 0, highestSequence: 0, jitter: 0, lsr: 0, dlsr: 0 })] });

const nack = () => new RtcpTransportLayerFeedback({ feedback: new GenericNack({ senderSsrc: 1, mediaSourceSsrc: SSRC, lost: [1, 2] }) });

function viewer(canProbe = false) {
  const quality = new ViewerQuality();
  quality.canProbe = canProbe;
  const link = new LinkEstimate(() => SSRC);
  quality.link = link;
  let now = 1_000_000;
  let current = -1;
  const step = (ms: number) => {
    now += ms;
    const pick = quality.decide(layers, current, now)!;
    current = pick.layer.index;
    return pick;
  };
  return { quality, link, step, hear: (p: Parameters<LinkEstimate['note']>[0]) => link.note(p, now) };
}

test('the top layer while the link says nothing; down at once to the layer the estimate holds when it falls', () => {
  const v = viewer();
  assert.deepEqual([v.step(0).layer.height, v.step(0).reason], [720, 'auto']);
  v.hear(remb(2_000_000));
  v.hear(remb(300_000));
  v.hear(nack());
  assert.equal(v.step(250).layer.height, 720, 'the first 2 s: a fall of the estimate does not count yet');
  v.step(2_000);
  v.hear(remb(400_000));
  assert.equal(v.step(250).layer.height, 720, 'a low estimate that did not fall is the browser not knowing yet, not a full link');
  v.hear(remb(2_000_000));
  v.hear(remb(600_000));
  assert.equal(v.step(250).layer.height, 720, 'a fall with nothing missing: the relay\'s own batching read as a queue');
  v.hear(nack());
  const down = v.step(250);
  assert.deepEqual([down.layer.height, down.reason], [360, 'link']);
  v.hear(remb(200_000));
  assert.equal(v.step(250).layer.height, 180);
  assert.equal(v.quality.downs, 2);
});

test('loss in the receiver reports moves down even when the estimate is high; one bad report alone does not', () => {
  const v = viewer();
  v.step(0);
  v.hear(remb(5_000_000));
  v.hear(rr(0.1));
  assert.equal(v.step(250).layer.height, 720);
  v.hear(rr(0.2));
  assert.equal(v.step(250).layer.height, 360);
});

/** A viewer held at 180p by its link, with room seen since: the wait to go up has started. */
function heldLow(canProbe: boolean) {
  const v = viewer(canProbe);
  v.step(0);
  v.step(2_000);
  v.hear(remb(2_000_000));
  v.hear(remb(200_000));
  v.hear(nack());
  assert.equal(v.step(250).layer.height, 180);
  v.hear(remb(250_000));
  v.hear(rr(0));
  assert.equal(v.step(3_000).layer.height, 180, 'no room while the fall is recent');
  assert.equal(v.step(250).layer.height, 180, 'room seen: the wait starts');
  return v;
}

test('up one layer at a time, after 3 s of room; a trial that fails doubles the next wait', () => {
  const v = heldLow(false);
  assert.equal(v.step(2_500).layer.height, 180);
  assert.equal(v.step(600).layer.height, 360, 'after 3 s of room: one layer up');
  v.hear(remb(150_000));
  v.hear(nack());
  assert.equal(v.step(250).layer.height, 360, 'just after a move up, a fall of the estimate does not count');
  v.hear(rr(0.3)); // the trial fails: loss counts at once
  v.hear(rr(0.3));
  assert.equal(v.step(250).layer.height, 180);
  v.hear(rr(0));
  v.hear(rr(0));
  v.hear(rr(0));
  v.hear(rr(0));
  v.hear(remb(250_000));
  v.step(3_000);
  assert.equal(v.step(3_100).layer.height, 180, 'the wait is longer now');
  assert.equal(v.step(3_000).layer.height, 360);
  assert.equal(v.step(250).layer.height, 360);
  v.step(250);
  v.step(6_100);
  assert.equal(v.step(250).layer.height, 720, 'and on up to the top');
});

test('a layer the publisher stopped sending is left for the highest it still sends', () => {
  const quality = new ViewerQuality();
  const paused = layers.map((l) => (l.index === 2 ? { ...l, active: false, bitsPerSecond: 0 } : l));
  assert.deepEqual([quality.decide(layers, -1, 0)!.layer.height, quality.decide(paused, 2, 250)!.layer.height], [720, 360]);
  assert.equal(quality.decide(paused, 1, 500)!.reason, 'auto', 'the best there is now: not the viewer\'s link');
  assert.equal(quality.decide(layers, 1, 600)!.layer.height, 720, 'sent again: back up at once (the link never held it back)');
  quality.choice = 720;
  assert.equal(quality.decide(paused, 1, 750)!.layer.height, 360, 'a chosen layer that stopped: the nearest below it');
});

test('a chosen height wins over the link', () => {
  const v = viewer();
  v.quality.choice = 720;
  v.hear(remb(100_000));
  assert.deepEqual([v.step(250).layer.height, v.step(250).reason], [720, 'manual']);
});

test('with RTX, going up is first a probe at the next layer\'s rate; the layer changes only after the link carried it for 1 s', () => {
  const v = heldLow(true);
  assert.equal(v.step(3_000).layer.height, 180, 'the wait is over: a probe, not yet the layer');
  assert.equal(v.quality.probes, 1);
  assert.ok(Math.abs(v.quality.probeBps - (500_000 * 1.1 - 150_000)) < 1, `probe of ${v.quality.probeBps} bit/s: the next layer's rate and a tenth, less what is sent`);
  v.hear(remb(700_000)); // the estimate grows: no fall
  assert.equal(v.step(500).layer.height, 180);
  assert.equal(v.step(500).layer.height, 360, 'the link held the probe: up');
  assert.equal(v.quality.probeBps, 0);
  assert.deepEqual([v.quality.ups, v.quality.probesHeld, v.quality.probesFailed], [1, 1, 0]);
});

test('a probe stops at once when the viewer NACKs what it lost to it; the layer stays, the next probe waits longer, and the probe\'s own loss moves nothing down', () => {
  const v = heldLow(true);
  v.step(3_000);
  assert.ok(v.quality.probeBps > 0);
  v.quality.lost(2, 0);
  assert.ok(v.quality.probeBps > 0, 'two packets lost: not yet');
  v.quality.lost(2, 0);
  assert.equal(v.quality.probeBps, 0, 'stopped at the NACK, before the next decision');
  assert.equal(v.quality.probesFailed, 1);
  v.hear(rr(0.3));
  v.hear(rr(0.3));
  assert.equal(v.step(250).layer.height, 180);
  v.hear(rr(0));
  v.hear(rr(0));
  v.hear(rr(0));
  v.hear(rr(0));
  v.step(2_000);
  v.step(250); // room again: the wait starts
  v.step(4_000);
  assert.equal(v.quality.probes, 1, 'the wait after a failed probe is longer than 4 s');
  v.step(600);
  assert.equal(v.quality.probes, 2, 'and shorter than 5 s');
});

test('a probe fails when the estimate falls with packets missing while it runs', () => {
  const v = heldLow(true);
  v.step(3_000);
  v.hear(remb(200_000));
  v.hear(nack());
  assert.equal(v.step(250).layer.height, 180);
  assert.deepEqual([v.quality.probeBps, v.quality.probesFailed], [0, 1]);
});

test('without RTX, going up is a trial with the layer itself', () => {
  const v = heldLow(true);
  v.quality.canProbe = false;
  assert.equal(v.step(3_000).layer.height, 360);
  assert.equal(v.quality.probes, 0);
});

/** The layers with some paused by the relay (dynacast.ts): not sent, still offered, at their rate from before. */
const pausedExcept = (sent: number[]): LayerInfo[] => layers.map((l) => (sent.includes(l.index) ? l : { ...l, active: false, paused: true }));

test('a layer the relay paused can still be chosen: by the menu, and by auto going down or up at its rate from before', () => {
  const manual = new ViewerQuality();
  manual.choice = 180;
  assert.equal(manual.decide(pausedExcept([2]), 2, 0)!.layer.height, 180, 'picked on the menu: the paused layer itself, not the nearest sent');

  const v = viewer();
  v.step(0);
  v.step(2_000);
  v.hear(remb(2_000_000));
  v.hear(remb(600_000));
  v.hear(nack());
  const onlyTop = pausedExcept([2]);
  const down = v.quality.decide(onlyTop, 2, 1_000_000 + 2_250)!;
  assert.deepEqual([down.layer.height, down.reason], [360, 'link'], 'down to the paused layer the budget holds (500 kbit/s before its pause)');
});

test('a new viewer while the top is paused starts on the highest layer sent, then is moved to the top', () => {
  const quality = new ViewerQuality();
  const lowOnly = pausedExcept([0]);
  assert.equal(quality.decide(lowOnly, -1, 0)!.layer.height, 180, 'its first frame from a layer being sent');
  assert.equal(quality.decide(lowOnly, 0, 250)!.layer.height, 720, 'then the top, which resumes');
  const resuming = layers.map((l) => (l.index === 1 ? l : { ...l, active: l.index === 0, resuming: l.index === 2 }));
  assert.equal(quality.decide(resuming, 0, 500)!.layer.height, 720, 'the top resuming, its packets not here yet: still wanted');
});

test("auto sends no larger layer than the viewer's player shows; a player made larger climbs back; the menu and a weak link still rule", () => {
  const v = viewer();
  const pick = (ms: number) => {
    const p = v.step(ms);
    return [p.layer.height, p.reason];
  };
  v.quality.shown = 300;
  assert.deepEqual(pick(0), [360, 'size'], 'a 300-pixel player: the smallest layer at least that tall');
  v.quality.shown = 150;
  assert.deepEqual(pick(250), [180, 'size']);
  v.quality.shown = 1080;
  assert.deepEqual(pick(250), [180, 'link'], 'full screen: not at once, the link has carried 180p only');
  const climb: number[] = [];
  for (let ms = 0; ms < 10_000 && climb.at(-1) !== 720; ms += 250) climb.push(v.step(250).layer.height);
  assert.deepEqual([...new Set(climb)], [180, 360, 720], 'up a layer at a time, as when a link recovers');
  assert.deepEqual(pick(250), [720, 'auto']);
  v.quality.shown = 720;
  assert.deepEqual(pick(250), [720, 'auto'], 'exactly as tall as the top: the top');
  v.quality.shown = 0;
  assert.deepEqual(pick(250), [720, 'auto'], 'a player that says nothing (WHEP): the top');

  v.quality.shown = 300;
  assert.deepEqual(pick(250), [360, 'size']);
  v.step(2_000);
  v.hear(remb(2_000_000));
  v.hear(remb(200_000));
  v.hear(nack());
  assert.deepEqual(pick(250), [180, 'link'], "below the player's layer when the link holds it back");

  const manual = new ViewerQuality();
  manual.shown = 150;
  manual.choice = 720;
  const chosen = manual.decide(layers, -1, 0)!;
  assert.deepEqual([chosen.layer.height, chosen.reason], [720, 'manual'], 'picked on the menu: what was picked, whatever the player');

  const unknown = new ViewerQuality();
  unknown.shown = 300;
  const sizes = layers.map((l) => ({ ...l, height: 0 }));
  assert.equal(unknown.decide(sizes, -1, 0)!.layer.index, 2, 'layers whose size is not known yet: the top, as without a size');
});
