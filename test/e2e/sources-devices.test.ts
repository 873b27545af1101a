/**
 * Devices a broadcaster lacks or may not use, in real browsers.
 *
 * - A machine with neither camera nor microphone: Firefox without its fake devices on this
 *   machine, which has none, so getUserMedia fails with NotFoundError as on such a computer.
 * - A camera whose microphone the site may not use: Chromium without its auto-accepting prompt,
 *   the camera granted and the microphone denied for the origin (as its site settings do), so
 *   getUserMedia({video, audio}) fails with NotAllowedError. The page goes live with the camera
 *   alone and says why there is no sound.
 *
 * (A camera without any microphone was Firefox's fake camera beside its real, absent microphones,
 * through `media.getusermedia.camera.fake.force`; Firefox 140.12 dropped that preference, and no
 * browser here builds that machine any more.)
 */
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import type { Browser as ChromiumBrowser } from 'playwright-core';
import type { Browser } from 'puppeteer-core';
import { launchAskingChromium, launchChromium, micBlockedContext, viewerCounters, waitFor, waitForState } from '../helpers/browser.js';
import { launchFirefox } from '../helpers/firefox.js';
import { startLancast, type Lancast } from '../helpers/server.js';

let server: Lancast;
let firefox: Browser;
let chromium: ChromiumBrowser;
/** Chromium that asks, as a browser does, instead of granting every device. */
let asking: ChromiumBrowser;

before(async () => {
  [server, chromium, asking, firefox] = await Promise.all([
    startLancast(),
    launchChromium(),
    launchAskingChromium(),
    launchFirefox({ prefs: { 'media.navigator.streams.fake': false } }),
  ]);
});

after(async () => {
  await firefox?.close();
  await asking?.close();
  await chromium?.close();
  await server?.stop();
});

interface Pickers {
  state: string | undefined;
  error: string | null;
  cameras: string[];
  microphones: string[];
  camera: string;
  microphone: string;
  tracks: string[];
}

function pickers(page: { evaluate(script: string): Promise<unknown> }): Promise<Pickers> {
  // A string: tsx's name-keeping helpers do not exist inside the page.
  return page.evaluate(`(() => {
    const options = (id) => [...document.getElementById(id).options].map((o) => o.value);
    const box = document.getElementById('error');
    const s = document.getElementById('preview').srcObject;
    return {
      state: document.body.dataset.state,
      error: box.hidden ? null : box.textContent,
      cameras: options('camera'),
      microphones: options('microphone'),
      camera: document.getElementById('camera').value,
      microphone: document.getElementById('microphone').value,
      tracks: s ? s.getTracks().map((t) => t.kind) : [],
    };
  })()`) as Promise<Pickers>;
}

describe('a machine without a camera or a microphone', () => {
  test('the machine really has none (the premise)', async () => {
    const page = await firefox.newPage();
    try {
      await page.goto(`${server.url}/`);
      const result = await page.evaluate(async () => {
        try {
          await navigator.mediaDevices.getUserMedia({ video: true, audio: true });
          return 'opened';
        } catch (err) {
          return (err as DOMException).name;
        }
      });
      assert.equal(result, 'NotFoundError');
    } finally {
      await page.close();
    }
  });

  test('?autostart=1 says no camera or microphone was found, and does not go live', async () => {
    const page = await firefox.newPage();
    try {
      await page.goto(`${server.url}/broadcast/nodevice?key=test-key&autostart=1&mode=p2p`);
      const seen = await waitFor(() => pickers(page), (p) => p.error !== null, 20_000, 'the page to say why');
      assert.equal(seen.error, 'No camera or microphone was found.');
      assert.notEqual(seen.state, 'live');
      assert.deepEqual(seen.tracks, []);
    } finally {
      await page.close();
    }
  });
});

describe('a camera whose microphone the site may not use', () => {
  test('?autostart=1 goes live with the camera alone, says the microphone is blocked, the picker shows "None"; a viewer plays it', async () => {
    const context = await micBlockedContext(asking, server.url);
    const page = context.pages()[0];
    const viewer = await chromium.newPage();
    try {
      await page.goto(`${server.url}/broadcast/nomic?key=test-key&autostart=1&mode=p2p`);
      const seen = await waitFor(() => pickers(page), (p) => p.state === 'live' || p.state === 'error', 20_000, 'the page to go live or fail');
      assert.equal(seen.state, 'live');
      assert.match(seen.error ?? '', /blocks the microphone on this site, so the broadcast has no sound/);
      const ready = await waitFor(() => pickers(page), (p) => p.cameras.length >= 2, 10_000, 'the camera picker to fill');
      assert.equal(ready.microphone, 'none');
      assert.notEqual(ready.camera, 'none');
      assert.deepEqual(ready.tracks, ['video']);

      await viewer.goto(`${server.url}/watch/nomic`);
      await waitForState(viewer, 'live', 20_000);
      const first = await waitFor(() => viewerCounters(viewer), (c) => c.width > 0 && c.framesDecoded > 0, 20_000, 'a decoded frame');
      await waitFor(() => viewerCounters(viewer), (c) => c.framesDecoded > first.framesDecoded + 10, 10_000, 'frames to keep coming');
      const counters = await viewerCounters(viewer);
      assert.equal(counters.audioBytes, 0, 'no sound is sent');
    } finally {
      await viewer.close();
      await context.close();
    }
  });

  test('without autostart the page shows the camera at once, in Chinese too', async () => {
    const context = await micBlockedContext(asking, server.url);
    const page = context.pages()[0];
    try {
      await page.setExtraHTTPHeaders({ 'Accept-Language': 'zh-CN' });
      await page.goto(`${server.url}/broadcast/nomic2?key=test-key`);
      const ready = await waitFor(() => pickers(page), (p) => p.tracks.length > 0 || p.error !== null, 20_000, 'the preview or an error');
      assert.deepEqual(ready.tracks, ['video']);
      assert.match(ready.error ?? '', /浏览器在此网站屏蔽了麦克风/);
      const filled = await waitFor(() => pickers(page), (p) => p.cameras.length >= 2, 10_000, 'the pickers to fill');
      assert.equal(filled.microphone, 'none');
      assert.equal(filled.state, 'idle');
    } finally {
      await context.close();
    }
  });
});

describe('a browser that shares a screen only after a click', () => {
  test('?autostart=1&source=screen: Firefox refuses without a click; the page offers "Share your screen", focused, and a click asks again', async () => {
    const page = await firefox.newPage();
    try {
      await page.goto(`${server.url}/broadcast/click?key=test-key&autostart=1&mode=p2p&source=screen`);
      await page.waitForFunction(() => !(document.getElementById('share-screen') as HTMLButtonElement).hidden, { timeout: 20_000 });
      const shown = (await page.evaluate(`({
        state: document.body.dataset.state,
        status: document.getElementById('source-status').textContent,
        focused: document.activeElement && document.activeElement.id,
        error: document.getElementById('error').hidden ? null : document.getElementById('error').textContent,
      })`)) as { state: string; status: string; focused: string; error: string | null };
      assert.equal(shown.state, 'idle', 'not live, not failed');
      assert.match(shown.status, /only after a click: press "Share your screen"/);
      assert.equal(shown.focused, 'share-screen');
      assert.equal(shown.error, null);
      // A real click (a user gesture). This headless Firefox has no screen to give, and says so.
      await page.click('#share-screen');
      await page.waitForFunction(() => !document.getElementById('error')!.hidden, { timeout: 20_000 });
      assert.equal(await page.evaluate(`document.getElementById('error').textContent`), 'This browser cannot share a screen.');
      assert.notEqual(await page.evaluate(`document.body.dataset.state`), 'live');
    } finally {
      await page.close();
    }
  });
});
