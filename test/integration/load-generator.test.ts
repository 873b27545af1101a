/**
 * The load generator's browser-like viewers (bench/relay/subscribers.ts, through the rooms bench's
 * GeneratorCrowd) must load the relay as libwebrtc viewers do, or the benchmarks built on them
 * measure something else. On a lossless loopback room: every viewer receives, the relay hears
 * their bandwidth estimates (REMB) and loss reports, and nobody asks for packets again. The
 * generator once NACKed, every 5 ms, the ~255 packets between two it sampled (werift's own NACK
 * generator, left on by a lancast werift patch): the relay then skipped thousands of resends a
 * second. Real server, libwebrtc (@roamhq/wrtc) WHIP publisher, the generator's own process.
 */
import assert from 'node:assert/strict';
import { after, test } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import { GeneratorCrowd } from '../../bench/generator-crowd.js';
import { waitFor } from '../helpers/browser.js';
import { metricFrom, roomInfo, startLancast, type Lancast } from '../helpers/server.js';
import { whipPublish, type HttpSession } from '../helpers/wrtc.js';

let server: Lancast | undefined;
let pub: HttpSession | undefined;
let crowd: GeneratorCrowd | undefined;

after(async () => {
  await crowd?.stop();
  await pub?.stop().catch(() => undefined);
  await server?.stop();
});

test("the generator's browser-like viewers receive, report their estimate and loss, and NACK nothing on a lossless room", async (t) => {
  server = await startLancast({});
  const publisher = await whipPublish(server.url, 'gen', server.publishKey, {});
  pub = publisher;
  assert.equal(publisher.status, 201, publisher.body);
  await waitFor(() => roomInfo(server!.url, 'gen'), (r) => r?.live === true && (r.bitrate?.in ?? 0) > 0, 15_000, 'the room live at the relay');
  crowd = new GeneratorCrowd(server.url, 'gen');
  await crowd.grow(3);
  const metrics = async () => {
    const text = await (await fetch(`${server!.url}/metrics`)).text();
    return {
      forwarded: metricFrom(text, 'lancast_relay_packets_forwarded_total') ?? NaN,
      retransmitted: metricFrom(text, 'lancast_relay_packets_retransmitted_total') ?? NaN,
      skipped: metricFrom(text, 'lancast_relay_resends_skipped_total') ?? NaN,
      estimate: metricFrom(text, 'lancast_relay_viewer_estimate_bps{quantile="0.5"}'),
      loss: metricFrom(text, 'lancast_relay_viewer_loss_ratio{quantile="0.5"}'),
      checks: metricFrom(text, 'lancast_relay_consent_answered_natively_total') ?? NaN,
    };
  };
  // Their receiver reports and REMB come about once a second.
  await waitFor(metrics, (m) => (m.estimate ?? 0) > 0, 10_000, 'the viewers’ estimate at the relay');
  const [c0, m0] = [await crowd.counts(), await metrics()];
  await sleep(4_000);
  const [c1, m1] = [await crowd.counts(), await metrics()];
  assert.equal(c1.counts.length, 3);
  c1.counts.forEach((n, i) => assert.ok(n - c0.counts[i] >= 100, `viewer ${i} received ${n - c0.counts[i]} packets in 4 s`));
  assert.ok(m1.forwarded - m0.forwarded >= 300, `forwarded ${m1.forwarded - m0.forwarded}`);
  assert.ok((m1.estimate ?? 0) >= 1_000_000, `the viewers' REMB as the relay heard it: ${m1.estimate}`);
  assert.ok(m1.loss !== undefined && m1.loss < 0.01, `loss the viewers report: ${m1.loss}`);
  // A lossless loopback: libwebrtc viewers ask for next to nothing again here (a packet now and
  // then when a loaded machine overflows a socket); neither may these.
  const asked = m1.skipped - m0.skipped + (m1.retransmitted - m0.retransmitted);
  const forwarded = m1.forwarded - m0.forwarded;
  assert.ok(asked <= forwarded * 0.02, `resends asked for in 4 s: ${m1.retransmitted - m0.retransmitted} sent, ${m1.skipped - m0.skipped} skipped, of ${forwarded} packets forwarded`);
  // Consent checks at libwebrtc's rate (a stable pair every 2.5 s: 0.4 a second), on the pair the
  // relay selected, so that the relay answers them natively as it answers a browser's. werift's
  // own checks came every 4-6 s, on loopback from a pair the relay had not selected: none native.
  await sleep(8_000);
  const m2 = await metrics();
  const perViewerPerSecond = (m2.checks - m0.checks) / 3 / 12;
  t.diagnostic(`consent checks answered natively: ${perViewerPerSecond.toFixed(2)} a second per viewer`);
  assert.ok(perViewerPerSecond >= 0.3, `consent checks the relay answered: ${perViewerPerSecond.toFixed(2)} a second per viewer`);
});
