/**
 * A congested relay viewer of a broadcast without simulcast gets fewer packets, not more (issue
 * 15). A 640x480 camera broadcast with `simulcast=0` and the saver preset (sent as 640x360, up to
 * 600 kbit/s: a stream a little over the capped link, as in the issue; the default preset's
 * 1.5-2.5 Mbit/s no 350 kbit/s link decodes at all); one viewer on this machine and one in a test host
 * whose link is capped at 350 kbit/s (a userspace wire, test/helpers/impair.py, that counts what
 * it is sent and drops). Over 10 s of the cap: the relay's resends to the capped viewer are paced
 * (/metrics counts resends skipped), so what it sends that viewer, as the wire counts it, stays
 * close to what it sends the uncapped one, rather than several times the stream in resends; the
 * uncapped viewer never freezes over 1 s; the capped one still gets frames (slowly: that is its link).
 */
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import type { Page } from 'playwright-core';
import { frameGaps, recordFrames, viewerCounters, waitFor, waitForState } from '../helpers/browser.js';
import { metricFrom } from '../helpers/server.js';
import { weakLinkRig } from '../helpers/weak-link.js';

const CAP_BPS = 350_000;
const MEASURE_MS = 10_000;
/**
 * What the relay may send the capped viewer, as a multiple of what it sends the uncapped one: the
 * stream plus resends within a quarter of the capped link's budget comes to well under this; the
 * unpaced relay of issue 15 sent it several times the stream.
 */
const OVER_STREAM = 1.6;

const rig = weakLinkRig(640, 480);

const height = (page: Page) => page.evaluate(() => document.querySelector<HTMLVideoElement>('video[data-testid="remote-video"]')!.videoHeight);

/** What a watch page has received over its peer connection: IP bytes (UDP payload plus 28 bytes of headers a packet), as the wire counts them. */
function receivedIpBytes(page: Page): Promise<number> {
  return page.evaluate(async () => {
    const pc = (window as unknown as { lancast?: { viewer: { peerConnection?: RTCPeerConnection } } }).lancast?.viewer.peerConnection;
    let bytes = 0;
    (await pc?.getStats())?.forEach((s: Record<string, number | string>) => {
      if (s.type === 'transport') bytes += Number(s.bytesReceived ?? 0) + 28 * Number(s.packetsReceived ?? 0);
    });
    return bytes;
  });
}

describe('a relay viewer of a broadcast without simulcast, behind a 350 kbit/s link', () => {
  test("is resent within its link's budget: sent little more than an uncapped viewer, which never freezes; it still gets frames", async (t) => {
    const base = `http://${rig.host.hostAddress}:${rig.server.port}`;
    const metrics = async () => (await fetch(`${base}/metrics`)).text();
    const skippedTotal = async () => metricFrom(await metrics(), 'lancast_relay_resends_skipped_total') ?? NaN;
    const resentTotal = async () => metricFrom(await metrics(), 'lancast_relay_packets_retransmitted_total') ?? NaN;
    const b = await (await rig.here.newContext({ ignoreHTTPSErrors: true })).newPage();
    await b.goto(`https://${rig.host.hostAddress}:${rig.server.port}/broadcast/paced?key=test-key&autostart=1&mode=relay&simulcast=0&preset=saver`);
    const uncapped = await rig.here.newPage();
    await uncapped.goto(`${base}/watch/paced`);
    const capped = await rig.there.newPage();
    await capped.goto(`${base}/watch/paced`);
    try {
      for (const v of [uncapped, capped]) await waitForState(v, 'live', 30_000);
      // The saver preset sends the 640x480 camera as 640x360, at up to 600 kbit/s.
      for (const v of [uncapped, capped]) await waitFor(() => height(v), (h) => h === 360, 20_000, 'the 640x360 picture on both viewers');

      const free0 = await receivedIpBytes(uncapped);
      await new Promise((r) => setTimeout(r, 3_000));
      const uncappedBefore = (await receivedIpBytes(uncapped)) - free0;
      t.diagnostic(`before the cap: the viewers were sent ${Math.round((uncappedBefore * 8) / 3_000)} kbit/s`);
      rig.host.setRate(CAP_BPS);
      // The link fills; the capped viewer's NACKs, loss reports and estimate tell the relay so.
      await new Promise((r) => setTimeout(r, 3_000));
      for (const v of [uncapped, capped]) await recordFrames(v);
      const wire0 = (await rig.host.wireStats()).toGuest;
      const skipped0 = await skippedTotal();
      const resent0 = await resentTotal();
      const uncapped0 = await receivedIpBytes(uncapped);
      const frames0 = (await viewerCounters(capped)).framesDecoded;
      await new Promise((r) => setTimeout(r, MEASURE_MS));
      const wire1 = (await rig.host.wireStats()).toGuest;
      const uncappedBytes = (await receivedIpBytes(uncapped)) - uncapped0;
      const framesDecoded = (await viewerCounters(capped)).framesDecoded - frames0;
      // Workers report their counters each second: wait for the last second's.
      const skipped = (await waitFor(skippedTotal, (n) => n > skipped0, 3_000, 'resends skipped in /metrics').catch(() => skippedTotal())) - skipped0;

      const resent = (await resentTotal()) - resent0;
      const sentCapped = wire1.bytes - wire0.bytes;
      const carried = sentCapped - (wire1.droppedBytes - wire0.droppedBytes);
      const kbps = (bytes: number) => Math.round((bytes * 8) / MEASURE_MS);
      const gaps = await frameGaps(uncapped);
      t.diagnostic(
        `over ${MEASURE_MS / 1000} s: the uncapped viewer was sent ${kbps(uncappedBytes)} kbit/s, the capped one ${kbps(sentCapped)} kbit/s of which its link carried ${kbps(carried)} ` +
          `(${wire1.packets - wire0.packets} packets, ${wire1.droppedPackets - wire0.droppedPackets} dropped); ${resent} packets resent, ${skipped} skipped; the capped viewer decoded ${framesDecoded} frames; ` +
          `the uncapped one's longest gap ${gaps.longestGapMs} ms`,
      );
      assert.ok(skipped > 0, `resends to the congested viewer are paced: ${skipped} skipped`);
      assert.ok(sentCapped <= uncappedBytes * OVER_STREAM, `the capped viewer was sent ${kbps(sentCapped)} kbit/s, the uncapped one ${kbps(uncappedBytes)}`);
      assert.ok(carried > 0 && carried <= (CAP_BPS / 8) * (MEASURE_MS / 1000) * 1.2, `the link carried ${kbps(carried)} kbit/s: the cap holds`);
      assert.ok(gaps.frames > 0 && gaps.longestGapMs < 1_000, `the uncapped viewer froze ${gaps.longestGapMs} ms (${gaps.frames} frames)`);
      assert.ok(framesDecoded > 0, 'the capped viewer still gets frames');
    } finally {
      await Promise.all([b.context().close(), capped.close(), uncapped.close()]);
    }
  });
});
