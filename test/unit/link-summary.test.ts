/**
 * Relay viewers' links as /metrics sums them up (issue 15): quantiles over the viewers' estimates
 * and losses, and a viewer whose estimate has gone stale left out. Real werift REMB and receiver
 * report packets go into the link estimate, as a viewer's browser would send them.
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { ReceiverEstimatedMaxBitrate, RtcpPayloadSpecificFeedback, RtcpReceiverInfo, RtcpRrPacket } from 'werift';
import { LinkEstimate } from '../../src/relay/link.js';
import { quantile, summarizeLinks } from '../../src/relay/link-summary.js';

test('quantile interpolates between the two nearest values, and has none of nothing', () => {
  assert.equal(quantile([], 0.5), undefined);
  assert.equal(quantile([7], 0.1), 7);
  assert.equal(quantile([1, 2, 3, 4, 5], 0.5), 3);
  assert.equal(quantile([10, 20], 0.5), 15);
  assert.equal(quantile([0, 10, 20, 30, 40, 50, 60, 70, 80, 90, 100], 0.9), 90);
  assert.ok(Math.abs(quantile([100, 200, 300, 400], 0.1)! - 130) < 1e-9);
  assert.equal(quantile([1, 2], 1), 2);
});

test('summarizeLinks: the viewers counted, estimates and losses at 0.1, 0.5 and 0.9 whatever their order', () => {
  const samples = [5, 1, 4, 2, 3].map((n) => ({ bps: n * 1_000_000, loss: n / 100 }));
  const s = summarizeLinks(samples);
  assert.equal(s.viewers, 5);
  assert.deepEqual([...s.bps], [[0.1, 1_400_000], [0.5, 3_000_000], [0.9, 4_600_000]]);
  assert.deepEqual([...s.loss].map(([q, v]) => [q, Math.round(v * 1000) / 1000]), [[0.1, 0.014], [0.5, 0.03], [0.9, 0.046]]);
});

test('summarizeLinks of no viewer: a count of 0 and no quantiles (absent from /metrics)', () => {
  const s = summarizeLinks([]);
  assert.deepEqual([s.viewers, s.bps.size, s.loss.size], [0, 0, 0]);
});

const SSRC = 42;
const remb = (bps: number) => new RtcpPayloadSpecificFeedback({ feedback: new ReceiverEstimatedMaxBitrate({ senderSsrc: 1, mediaSsrc: 0, ssrcNum: 1, brExp: 0, brMantissa: 0, bitrate: BigInt(bps), ssrcFeedbacks: [SSRC] }) });
const rr = (fractionLost: number) => new RtcpRrPacket({ ssrc: 1, reports: [new RtcpReceiverInfo({ ssrc: SSRC, fractionLost: Math.round(fractionLost * 256), packetsLost: 0, highestSequence: 0, jitter: 0, lsr: 0, dlsr: 0 })] });

test("a link's sample is its latest REMB and smoothed loss, and none once no REMB came for 5 s", () => {
  const link = new LinkEstimate(() => SSRC);
  assert.equal(link.sample(1_000), undefined, 'no REMB yet');
  link.note(rr(0.5), 1_000);
  assert.equal(link.sample(1_000), undefined, 'loss alone is not an estimate');
  link.note(remb(2_000_000), 1_000);
  link.note(remb(1_500_000), 2_000);
  assert.deepEqual(link.sample(2_000), { bps: 1_500_000, loss: 0.25 });
  assert.deepEqual(link.sample(6_999), { bps: 1_500_000, loss: 0.25 });
  assert.equal(link.sample(7_000), undefined, 'stale after 5 s');
});
