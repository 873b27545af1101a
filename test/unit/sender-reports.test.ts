/**
 * Sender reports at libwebrtc's pace, driven by a fake clock in milliseconds: the first at the
 * next tick, then video about every second and audio about every five, each interval randomised
 * to 0.5-1.5 times; the clock and counts they carry; the ticker runs only while it has streams.
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import type { MediaKind } from '../../src/relay/codecs.js';
import { Egress } from '../../src/relay/egress.js';
import { PacketHistory } from '../../src/relay/packet-history.js';
import { ntpFromMs, SenderReports, TICK_MS } from '../../src/relay/sender-reports.js';
import type { Sink } from '../../src/relay/sink.js';
import { AEAD_AES_128_GCM } from '../../src/relay/srtp.js';
import { FakeClock, RecordingRtcp } from '../helpers/fake-clock.js';
import { srtpKeyPair } from '../helpers/srtp-keys.js';

function setup(random = () => 0.5) {
  const clock = new FakeClock();
  const history: Record<MediaKind, PacketHistory> = { audio: new PacketHistory(), video: new PacketHistory() };
  const reports = new SenderReports(history, clock, random);
  const { keys } = srtpKeyPair(AEAD_AES_128_GCM);
  const sink = (kind: MediaKind, tsOffset = 0): Sink & { rtcp: RecordingRtcp } => ({
    kind,
    egress: new Egress(keys, { kind: 'function', send: () => undefined }, { ssrc: 1, payloadType: 96, seqOffset: 0, tsOffset }),
    rtcp: new RecordingRtcp(clock),
  });
  return { clock, history, reports, sink, t0: clock.now() };
}

/** The gaps between report times. */
const gaps = (times: number[]) => times.slice(1).map((t, i) => t - times[i]);

test('the first report at the next tick, then video every second and audio every five (random 0.5: x1)', () => {
  const { clock, history, reports, sink, t0 } = setup();
  const video = sink('video');
  const audio = sink('audio');
  for (const s of [video, audio]) {
    reports.add(s);
    s.egress.send(Buffer.alloc(100), false, 1, 1);
    history[s.kind].put(1, 1, false, Buffer.alloc(100), t0);
  }
  clock.advance(TICK_MS);
  assert.deepEqual(video.rtcp.reports, [t0 + 500]);
  assert.deepEqual(audio.rtcp.reports, [t0 + 500]);
  clock.advance(10_000);
  assert.deepEqual(gaps(video.rtcp.reports), Array(10).fill(1_000));
  assert.deepEqual(gaps(audio.rtcp.reports), [5_000, 5_000]);
});

test('intervals are randomised between half and one and a half times, at the tick after they fall due', () => {
  for (const [random, gap] of [[0, 500], [0.999, 1_500], [0.7, 1_500]] as const) {
    const { clock, history, reports, sink, t0 } = setup(() => random);
    const video = sink('video');
    reports.add(video);
    video.egress.send(Buffer.alloc(10), false, 1, 1);
    history.video.put(1, 1, false, Buffer.alloc(10), t0);
    clock.advance(6_000);
    assert.deepEqual(new Set(gaps(video.rtcp.reports)), new Set([gap]), `random ${random}`);
  }
});

test('no report before the stream has sent media; the counters follow the newest packet and what was sent', () => {
  const { clock, history, reports, sink, t0 } = setup();
  const video = sink('video', 0x200);
  reports.add(video);
  clock.advance(TICK_MS);
  assert.deepEqual(video.rtcp.updates, [], 'no packet from the publisher yet: nothing to say');
  history.video.put(7, 0xffffff00, false, Buffer.alloc(10), t0 + 123);
  clock.advance(TICK_MS);
  assert.equal(video.rtcp.updates.length, 1);
  assert.deepEqual(video.rtcp.reports, [], 'nothing sent to the viewer yet');
  video.egress.send(Buffer.alloc(300), false, 7, 0xffffff00);
  video.egress.send(Buffer.alloc(200), true, 8, 0xffffff00);
  clock.advance(TICK_MS);
  assert.deepEqual(video.rtcp.reports, [t0 + 1_500]);
  assert.deepEqual(video.rtcp.updates.at(-1), { ntpTimestamp: ntpFromMs(t0 + 123), rtpTimestamp: 0x100, packetCount: 2, octetCount: 500 });
});

test('the ticker runs only while it has a stream with an RTCP side', () => {
  const { clock, reports, sink } = setup();
  reports.add({ ...sink('video'), rtcp: undefined });
  assert.equal(clock.tickers, 0);
  const a = sink('audio');
  const v = sink('video');
  reports.add(a);
  reports.add(v);
  assert.equal(clock.tickers, 1);
  reports.delete(a);
  assert.equal(clock.tickers, 1);
  reports.delete(v);
  assert.equal(clock.tickers, 0);
  reports.delete(v);
  reports.add(v);
  assert.equal(clock.tickers, 1);
});

test('NTP timestamps: seconds since 1900 and a 32-bit fraction', () => {
  assert.equal(ntpFromMs(0), 2_208_988_800n << 32n);
  assert.equal(ntpFromMs(1_500), (2_208_988_801n << 32n) | (1n << 31n));
  assert.equal(ntpFromMs(1_750_000_000_250), ((1_750_000_000n + 2_208_988_800n) << 32n) | (1n << 30n));
});
