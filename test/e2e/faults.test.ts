/**
 * Faults on the network path: the broadcaster's network is cut for 5 s (its browser runs in a
 * network namespace of its own, whose link the test pulls) and comes back. Viewers must resume
 * without anyone touching a page, in p2p and in relay mode.
 */
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { chromium as playwright, type Browser } from 'playwright-core';
import { assertMediaFlowing, CHROMIUM, CHROMIUM_ARGS, launchChromium, pageState, viewerCounters, waitFor, waitForState } from '../helpers/browser.js';
import { createTestHost, type TestHost } from '../helpers/netns.js';
import { startLancast, type Lancast } from '../helpers/server.js';

let host: TestHost;
let server: Lancast;
let viewers: Browser;
let broadcasters: Browser;

before(async () => {
  host = await createTestHost();
  server = await startLancast({ args: ['--host', host.hostAddress] });
  viewers = await launchChromium();
  broadcasters = await playwright.launch({ executablePath: host.exec(CHROMIUM), headless: true, args: CHROMIUM_ARGS });
});

after(async () => {
  await broadcasters?.close();
  await viewers?.close();
  await server?.stop();
  host?.remove();
});

describe("the broadcaster's network is cut for 5 s", () => {
  for (const mode of ['p2p', 'relay'] as const) {
    test(`${mode}: viewers resume by themselves when it comes back`, async (t) => {
      const base = `http://${host.hostAddress}:${server.port}`;
      // Off localhost a camera needs a secure page: the broadcaster uses https on the same port,
      // with lancast's self-signed certificate, as a phone on the LAN would.
      const b = await (await broadcasters.newContext({ ignoreHTTPSErrors: true })).newPage();
      await b.goto(`https://${host.hostAddress}:${server.port}/broadcast/cut-${mode}?key=test-key&autostart=1&mode=${mode}`);
      await waitForState(b, 'live');
      const v = await viewers.newPage();
      await v.goto(`${base}/watch/cut-${mode}`);
      await waitForState(v, 'live', 20_000);
      await assertMediaFlowing(v);

      host.cut();
      await new Promise((r) => setTimeout(r, 5_000));
      const during = await pageState(v);
      assert.equal(during, 'connecting', 'a frozen picture is not shown as live');
      assert.match((await v.textContent('#overlay')) ?? '', /picture stopped/);
      host.restore();
      const back = Date.now();

      // Live again, and new frames decoded, with no click anywhere.
      const atReturn = (await viewerCounters(v)).framesDecoded;
      await waitFor(() => pageState(v), (s) => s === 'live', 30_000, 'the viewer to be live again');
      await waitFor(() => viewerCounters(v), (c) => c.framesDecoded > atReturn + 30 || c.framesDecoded < atReturn, 30_000, 'frames to be decoded again');
      await assertMediaFlowing(v);
      t.diagnostic(`${mode}: viewer showed "${during}" during the cut; playing again ${Date.now() - back} ms after the network returned`);
      assert.equal(await pageState(b), 'live');
      await Promise.all([b.context().close(), v.close()]);
    });
  }
});
