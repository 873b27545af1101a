/**
 * The watch page's picture controls in real Chromium: the picture keeps its own shape, fit or
 * fill (kept for next time), picture-in-picture, full screen that asks a phone for landscape, and
 * a phone's picture edge to edge.
 */
import assert from 'node:assert/strict';
import { rmSync } from 'node:fs';
import { after, before, describe, test } from 'node:test';
import type { Browser, BrowserContext, Page } from 'playwright-core';
import { launchChromium, waitFor, waitForState } from '../helpers/browser.js';
import { startLancast, type Lancast } from '../helpers/server.js';
import { CAMERA_RGB, solidY4m } from './sources-kit.js';

let server: Lancast;
let browser: Browser;
let cameraFile: string;
let broadcaster: Page;

before(async () => {
  cameraFile = solidY4m(CAMERA_RGB); // 640x480: a 4:3 picture
  [server, browser] = await Promise.all([startLancast(), launchChromium([`--use-file-for-fake-video-capture=${cameraFile}`])]);
  broadcaster = await browser.newPage();
  await broadcaster.goto(`${server.url}/broadcast/watching?key=test-key&autostart=1&mode=p2p&source=camera`);
  await waitForState(broadcaster, 'live', 20_000);
});

after(async () => {
  await browser?.close();
  await server?.stop();
  rmSync(cameraFile, { force: true });
});

async function watch(context: BrowserContext): Promise<Page> {
  const page = await context.newPage();
  await page.goto(`${server.url}/watch/watching`);
  await waitForState(page, 'live', 30_000);
  await waitFor(() => page.evaluate(() => document.querySelector('video')!.videoWidth), (w) => w > 0, 20_000, 'a frame');
  return page;
}

const box = (page: Page) =>
  page.evaluate(() => {
    const v = document.querySelector('video')!;
    const r = v.getBoundingClientRect();
    return { width: r.width, height: r.height, videoWidth: v.videoWidth, videoHeight: v.videoHeight, fit: getComputedStyle(v).objectFit, viewport: innerWidth };
  });

describe('the watch page', () => {
  test('the picture keeps its own shape; "Fill the frame" crops instead, is a toggle, and is kept', async () => {
    const context = await browser.newContext({ viewport: { width: 1280, height: 900 } });
    try {
      let page = await watch(context);
      const shape = await waitFor(() => box(page), (b) => Math.abs(b.width / b.height - b.videoWidth / b.videoHeight) < 0.02, 10_000, 'the 4:3 shape');
      assert.equal(shape.fit, 'contain');
      assert.equal(await page.getAttribute('#fill', 'aria-pressed'), 'false');
      await page.click('#fill');
      assert.equal((await box(page)).fit, 'cover');
      assert.equal(await page.getAttribute('#fill', 'aria-pressed'), 'true');
      await page.close();
      page = await watch(context);
      assert.equal((await box(page)).fit, 'cover', 'fill is kept for the next visit');
      // Keyboard: the toggle is a button that Enter presses.
      await page.focus('#fill');
      await page.keyboard.press('Enter');
      assert.equal((await box(page)).fit, 'contain');
    } finally {
      await context.close();
    }
  });

  test('picture-in-picture opens and closes from its button', async () => {
    const context = await browser.newContext();
    try {
      const page = await watch(context);
      assert.equal(await page.isVisible('#pip'), true);
      await page.click('#pip');
      await waitFor(() => page.evaluate(() => document.pictureInPictureElement?.tagName), (t) => t === 'VIDEO', 10_000, 'picture-in-picture');
      await page.click('#pip');
      await waitFor(() => page.evaluate(() => document.pictureInPictureElement ?? null), (e) => e === null, 10_000, 'picture-in-picture to close');
    } finally {
      await context.close();
    }
  });

  test('on a phone the picture spans the width; full screen asks for landscape (and plays on where that is refused)', async () => {
    const context = await browser.newContext({ viewport: { width: 390, height: 844 }, isMobile: true, hasTouch: true, deviceScaleFactor: 3 });
    // Record the page's calls to screen.orientation.lock, passing them on to the browser's own.
    await context.addInitScript(`(() => {
      const o = screen.orientation, lock = o.lock.bind(o);
      window.__locks = [];
      o.lock = (what) => { window.__locks.push(what); return lock(what); };
    })()`);
    try {
      const page = await watch(context);
      const b = await box(page);
      assert.equal(b.width, b.viewport, `the picture is ${b.width} px wide on a ${b.viewport} px screen`);
      await page.click('#fullscreen');
      await waitFor(() => page.evaluate(() => document.fullscreenElement?.tagName), (t) => t === 'VIDEO', 10_000, 'full screen');
      // 640x480 is wider than tall: the page asks for landscape. Headless Chromium refuses the
      // lock (NotSupportedError); the picture stays in full screen and keeps playing.
      assert.deepEqual(await page.evaluate(() => (window as unknown as { __locks: string[] }).__locks), ['landscape']);
      assert.equal(await page.evaluate(() => document.fullscreenElement?.tagName), 'VIDEO');
      const before = await page.evaluate(() => document.querySelector('video')!.getVideoPlaybackQuality().totalVideoFrames);
      await waitFor(() => page.evaluate(() => document.querySelector('video')!.getVideoPlaybackQuality().totalVideoFrames), (n) => n > before + 5, 10_000, 'frames in full screen');
    } finally {
      await context.close();
    }
  });
});
