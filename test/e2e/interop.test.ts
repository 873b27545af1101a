/**
 * lancast with a WebRTC stack that is not ours (libwebrtc in Node, @roamhq/wrtc) on one end and
 * Chromium on the other: WHIP in, watch page out; broadcast page in, WHEP out.
 */
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import type { Browser } from 'playwright-core';
import { assertMediaFlowing, launchChromium, waitFor, waitForState } from '../helpers/browser.js';
import { startLancast, type Lancast } from '../helpers/server.js';
import { whepPlay, whipPublish } from '../helpers/wrtc.js';

let server: Lancast;
let chromium: Browser;

before(async () => {
  [server, chromium] = await Promise.all([startLancast(), launchChromium()]);
});

after(async () => {
  await chromium?.close();
  await server?.stop();
});

describe('interop with libwebrtc (@roamhq/wrtc)', () => {
  test('a WHIP publisher is watchable on /watch/<room> in Chromium', async () => {
    const viewer = await chromium.newPage();
    await viewer.goto(`${server.url}/watch/whip-in`);
    await waitForState(viewer, 'waiting');
    const pub = await whipPublish(server.url, 'whip-in', 'test-key');
    try {
      assert.equal(pub.status, 201, pub.body);
      await waitForState(viewer, 'live', 20_000);
      const { second } = await assertMediaFlowing(viewer);
      assert.equal(second.width, 640);

      // DELETE on the WHIP resource ends the broadcast for the viewer.
      assert.equal(await pub.stop(), 200);
      await waitForState(viewer, 'offline', 10_000);
    } finally {
      await pub.stop().catch(() => undefined);
      await viewer.close();
    }
  });

  test('a Chromium broadcaster is played by a WHEP client, alongside a watch page', async () => {
    const b = await chromium.newPage();
    await b.goto(`${server.url}/broadcast/whep-out?key=test-key&autostart=1`);
    await waitForState(b, 'live');
    const page = await chromium.newPage();
    await page.goto(`${server.url}/watch/whep-out`);
    await waitForState(page, 'live', 20_000);
    // The room was p2p; the WHEP player moves it to the relay, and the page moves with it.
    const player = await whepPlay(server.url, 'whep-out');
    try {
      assert.equal(player.status, 201, player.body);
      const first = await waitFor(async () => player.frames(), (f) => f.count > 10, 15_000, 'WHEP frames');
      assert.ok(first.width >= 320, `WHEP frames are ${first.width} wide`);
      await waitFor(() => player.audioBytes(), (n) => n > 1_000, 10_000, 'WHEP audio');
      await assertMediaFlowing(page);
      assert.match((await b.textContent('#mode')) ?? '', /relay: WHEP players are watching/);
    } finally {
      await player.stop();
      await Promise.all([b.close(), page.close()]);
    }
  });
});
