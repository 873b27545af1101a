/**
 * A machine with a camera and no microphone. Firefox can be that machine for real: with
 * `media.getusermedia.camera.fake.force` its camera is the fake one while its microphones are the
 * system's, and this machine has none, so `getUserMedia({video, audio})` fails with NotFoundError
 * exactly as on such a laptop. The broadcast page must still go live with the camera alone and
 * show the devices it has.
 */
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import type { Browser as ChromiumBrowser } from 'playwright-core';
import type { Browser, Page } from 'puppeteer-core';
import { launchChromium, viewerCounters, waitFor, waitForState } from '../helpers/browser.js';
import { launchFirefox } from '../helpers/firefox.js';
import { startLancast, type Lancast } from '../helpers/server.js';

let server: Lancast;
let firefox: Browser;
let chromium: ChromiumBrowser;

before(async () => {
  [server, chromium, firefox] = await Promise.all([
    startLancast(),
    launchChromium(),
    launchFirefox({ prefs: { 'media.navigator.streams.fake': false, 'media.getusermedia.camera.fake.force': true } }),
  ]);
});

after(async () => {
  await firefox?.close();
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

function pickers(page: Page): Promise<Pickers> {
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

describe('a camera without a microphone', () => {
  test('the machine really has no microphone (the premise of the other tests)', async () => {
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

  test('?autostart=1 goes live with the camera alone; the pickers list the camera and "None" for the microphone; a viewer plays it', async () => {
    const page = await firefox.newPage();
    const viewer = await chromium.newPage();
    try {
      await page.goto(`${server.url}/broadcast/nomic?key=test-key&autostart=1&mode=p2p`);
      const seen = await waitFor(() => pickers(page), (p) => p.state === 'live' || p.state === 'error', 20_000, 'the page to go live or fail');
      assert.equal(seen.error, null, `the page showed an error: ${seen.error}`);
      assert.equal(seen.state, 'live');
      const ready = await waitFor(() => pickers(page), (p) => p.cameras.length >= 2, 10_000, 'the camera picker to fill');
      assert.deepEqual(ready.microphones, ['none']);
      assert.equal(ready.microphone, 'none');
      assert.notEqual(ready.camera, 'none');
      assert.deepEqual(ready.tracks, ['video']);

      await viewer.goto(`${server.url}/watch/nomic`);
      await waitForState(viewer, 'live', 20_000);
      const first = await waitFor(() => viewerCounters(viewer), (c) => c.width > 0 && c.framesDecoded > 0, 20_000, 'a decoded frame');
      await waitFor(() => viewerCounters(viewer), (c) => c.framesDecoded > first.framesDecoded + 10, 10_000, 'frames to keep coming');
    } finally {
      await viewer.close();
      await page.close();
    }
  });

  test('without autostart the page shows the camera at once and fills both pickers', async () => {
    const page = await firefox.newPage();
    try {
      await page.goto(`${server.url}/broadcast/nomic2?key=test-key`);
      const ready = await waitFor(() => pickers(page), (p) => p.tracks.length > 0 || p.error !== null, 20_000, 'the preview or an error');
      assert.equal(ready.error, null, `the page showed an error: ${ready.error}`);
      const filled = await waitFor(() => pickers(page), (p) => p.cameras.length >= 2 && p.microphones.length >= 1, 10_000, 'the pickers to fill');
      assert.deepEqual(filled.tracks, ['video']);
      assert.deepEqual(filled.microphones, ['none']);
      assert.equal(filled.state, 'idle');
    } finally {
      await page.close();
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
