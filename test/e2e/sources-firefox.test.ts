/**
 * Screen sharing from Firefox (issue 14), for real: Firefox captures a screen only when it has one,
 * so it runs on a virtual display (Xvfb) and shares that screen, which shows the broadcast page
 * itself under a full-window green panel the test lays over it. Firefox refuses getDisplayMedia
 * that no click started: with `?autostart=1&source=screen` the page asks for a click and the test
 * clicks, as a person would. A Chromium viewer reads what it decodes: the screen (green, the
 * display's 5:4 shape), then Firefox's fake camera after a switch (a coloured picture at the camera
preset's 16:9), then the screen again, on
 * one connection throughout; in a p2p room and in a relay room.
 */
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import type { Browser as ChromiumBrowser, Page } from 'playwright-core';
import type { Browser, Page as FirefoxPage } from 'puppeteer-core';
import { launchChromium, waitFor, waitForState } from '../helpers/browser.js';
import { launchFirefox } from '../helpers/firefox.js';
import { startLancast, type Lancast } from '../helpers/server.js';
import { startXvfb, type Display } from '../helpers/xvfb.js';
import { colourOf, connectionLog, seen, watchConnection, type Seen } from './sources-kit.js';

const SCREEN: [number, number] = [1280, 1024];

let server: Lancast;
let display: Display;
let chromium: ChromiumBrowser;

before(async () => {
  display = await startXvfb(...SCREEN);
  [server, chromium] = await Promise.all([startLancast(), launchChromium()]);
});

after(async () => {
  await chromium?.close();
  await server?.stop();
  display?.stop();
});

/** Cover the broadcast page with a green panel: what the shared screen shows from then on. */
function paintScreenGreen(page: FirefoxPage): Promise<void> {
  return page.evaluate(`(() => {
    const panel = document.createElement('div');
    panel.style.cssText = 'position:fixed;inset:0;background:rgb(0,176,0);z-index:2147483647;pointer-events:none';
    document.body.append(panel);
  })()`) as Promise<void>;
}

const bodyState = (page: FirefoxPage) => page.evaluate(() => document.body.dataset.state);
const aspect = (s: Seen) => s.width / s.height;

function waitForScreen(viewer: Page): Promise<Seen> {
  // The screen's shape (5:4), whatever size the preset sends it at; green in the middle.
  return waitFor(() => seen(viewer), (s) => s.width > 0 && Math.abs(aspect(s) - SCREEN[0] / SCREEN[1]) < 0.02 && colourOf(s.centre) === 'screen', 20_000, 'the viewer to show the green screen at 5:4');
}

function waitForCamera(viewer: Page): Promise<Seen> {
  // Firefox's fake camera follows the camera preset (1280x720) and is not green.
  return waitFor(() => seen(viewer), (s) => s.width > 0 && Math.abs(aspect(s) - 16 / 9) < 0.02 && colourOf(s.centre) !== 'screen', 20_000, 'the viewer to show the 16:9 camera');
}

for (const mode of ['p2p', 'relay'] as const) {
  describe(`Firefox shares its screen (${mode})`, () => {
    // A Firefox for each: after a share, Firefox 140.12's WebDriver BiDi opens a new tab in the
    // most recent window of any kind, which is then not a browser window (the sharing indicator),
    // and fails ("TabManager.getTabBrowser(...) is undefined").
    let firefox: Browser;
    before(async () => {
      firefox = await launchFirefox({ display: display.name });
    });
    after(() => firefox?.close());

    test('?autostart=1&source=screen asks for a click, then viewers see the screen; camera and back while live, on one connection', async (t) => {
      const room = `firefox-${mode}`;
      const page = await firefox.newPage();
      const viewer = await (await chromium.newContext()).newPage();
      try {
        await page.goto(`${server.url}/broadcast/${room}?key=test-key&autostart=1&source=screen&mode=${mode}`);
        // Firefox wants a click before it shares a screen: the page says so and offers the button.
        await waitFor(() => page.evaluate(() => ({ visible: !document.getElementById('share-screen')!.hidden, status: document.getElementById('source-status')!.textContent })), (s) => s.visible, 15_000, 'the page to ask for a click');
        await page.click('#share-screen');
        await waitFor(() => bodyState(page), (s) => s === 'live', 20_000, 'the broadcast to go live');
        await paintScreenGreen(page);

        await viewer.goto(`${server.url}/watch/${room}`);
        await waitForState(viewer, 'live', 30_000);
        const screen = await waitForScreen(viewer);
        t.diagnostic(`screen: ${screen.width}x${screen.height}`);
        await watchConnection(viewer);

        await page.click('input[name=source][value="camera"]');
        const camera = await waitForCamera(viewer);
        t.diagnostic(`camera: ${camera.width}x${camera.height}`);
        // The radio's click is the gesture Firefox wants for the screen again.
        await page.click('input[name=source][value="screen"]');
        await waitForScreen(viewer);

        const log = await connectionLog(viewer);
        assert.ok(log.samePc, 'the viewer kept its connection');
        assert.equal(log.offers, 0, 'no new offer reached the viewer');
        assert.deepEqual(log.states, ['live'], 'the viewer stayed live');
        assert.equal(await page.evaluate(() => document.getElementById('error')!.hidden), true, 'no error on the broadcast page');
      } finally {
        await viewer.context().close();
        await page.close();
      }
    });
  });
}
