/**
 * werift's receiver-report loop with lancast's `rtcp-loop` patch: a receiver werift makes, with a
 * remote stream's statistics and a sender report heard, sends receiver reports through its
 * transport (here into a list) at werift's pace, each built as werift builds it, and stops when
 * werift stops the receiver. (That the publisher's libwebrtc takes them, computing its round trip
 * from them, is test/integration/srtcp.test.ts.)
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import { RTCRtpReceiver, timestampSeconds, type RtcpRrPacket } from 'werift';
import { installWeriftPatches, replacements } from '../../src/relay/werift/index.js';

installWeriftPatches();

interface Receiver {
  rtcpSsrc: number;
  rtcpRunning: boolean;
  remoteStreams: Record<string, unknown>;
  lastSRtimestamp: Record<string, number>;
  receiveLastSRTimestamp: Record<string, number>;
  dtlsTransport: unknown;
  runRtcp(): Promise<void>;
  stop(): void;
}

function receiver(): { r: Receiver; sent: RtcpRrPacket[]; at: number[] } {
  const r = new RTCRtpReceiver({} as never, 'video', 777) as unknown as Receiver;
  const sent: RtcpRrPacket[] = [];
  const at: number[] = [];
  r.dtlsTransport = {
    sendRtcp: (packets: RtcpRrPacket[]) => {
      sent.push(...packets);
      at.push(performance.now());
      return Promise.resolve();
    },
  };
  r.remoteStreams['1111'] = { fraction_lost: 12, packets_lost: 34, max_seq: 70_000, jitter: 56 };
  r.lastSRtimestamp['1111'] = 0x1234_5678;
  r.receiveLastSRTimestamp['1111'] = timestampSeconds() - 0.25;
  return { r, sent, at };
}

test('the patch replaces werift\'s loop', () => {
  const own = replacements.find((x) => x.target === 'RTCRtpReceiver.prototype.runRtcp');
  assert.ok(own, 'runRtcp is replaced');
  assert.equal((RTCRtpReceiver.prototype as unknown as Receiver).runRtcp, own.replacement);
});

test("receiver reports at werift's pace, as werift builds them, until werift stops the receiver", async () => {
  const { r, sent, at } = receiver();
  const started = performance.now();
  await r.runRtcp();
  await r.runRtcp(); // a second call while it runs starts nothing more (werift calls it per packet)
  assert.equal(r.rtcpRunning, true);
  while (sent.length < 3 && performance.now() - started < 6_000) await sleep(20);
  assert.ok(sent.length >= 3, `reports sent in 6 s: ${sent.length}`);
  // 0.5-1.5 s apart (RFC 3550's randomisation); the host may be late, never early.
  const gaps = at.map((t, i) => t - (i === 0 ? started : at[i - 1]));
  for (const gap of gaps) assert.ok(gap >= 490, `a report ${gap.toFixed(0)} ms after the one before`);
  const rr = sent[0];
  assert.equal(rr.ssrc, 777);
  assert.equal(rr.reports.length, 1);
  const [block] = rr.reports;
  assert.deepEqual([block.ssrc, block.fractionLost, block.packetsLost, block.highestSequence, block.jitter, block.lsr], [1111, 12, 34, 70_000, 56, 0x1234_5678]);
  // DLSR: the time since the sender report in 1/65536 s, at least the 0.25 s set up.
  assert.ok(block.dlsr >= 0.25 * 65536 && block.dlsr < 10 * 65536, `dlsr ${block.dlsr}`);
  r.stop();
  assert.equal(r.rtcpRunning, false);
  const count = sent.length;
  await sleep(1_700);
  assert.equal(sent.length, count, 'nothing sent after stop');
});

test('a receiver stopped before its loop starts sends nothing', async () => {
  const { r, sent } = receiver();
  r.stop();
  await r.runRtcp();
  assert.equal(r.rtcpRunning, false);
  await sleep(1_600);
  assert.equal(sent.length, 0);
});
