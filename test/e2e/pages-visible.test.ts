/**
 * What a person sees on the pages, in real Chromium against the real server: what is on screen
 * (playwright's isVisible, bounding boxes, rendered text), not what is in the DOM.
 */
import assert from 'node:assert/strict';
import { after, afterEach, before, describe, test } from 'node:test';
import type { Browser, BrowserContext, Page } from 'playwright-core';
import { AUTOPLAY_AS_BROWSERS_DO } from '../helpers/autoplay.js';
import { assertMediaFlowing, launchChromium, waitForState } from '../helpers/browser.js';
import { startLancast, type Lancast } from '../helpers/server.js';

let open: Lancast;
let guarded: Lancast;
let browser: Browser;
const contexts: BrowserContext[] = [];
const PASSWORD = 'open-sesame';

before(async () => {
  [open, guarded, browser] = await Promise.all([
    startLancast({ args: ['--mode', 'p2p'] }),
    startLancast({ args: ['--mode', 'p2p', '--view-password', PASSWORD] }),
    launchChromium(),
  ]);
});

// Each test's pages go with it: a broadcast page left open goes on encoding and sending, and
// slows every test after it.
afterEach(async () => {
  await Promise.all(contexts.splice(0).map((ctx) => ctx.close()));
});

after(async () => {
  await browser?.close();
  await Promise.all([open?.stop(), guarded?.stop()]);
});

async function context(locale = 'en-US'): Promise<BrowserContext> {
  const ctx = await browser.newContext({ locale, viewport: { width: 390, height: 844 } });
  contexts.push(ctx);
  return ctx;
}

async function openPage(ctx: BrowserContext, url: string): Promise<Page> {
  const page = await ctx.newPage();
  await page.goto(url);
  return page;
}

/** Elements marked `hidden` that are nonetheless on screen, described for an assertion message. */
async function visibleHidden(page: Page): Promise<string[]> {
  const shown: string[] = [];
  for (const el of await page.locator('[hidden]').all()) {
    if (await el.isVisible()) shown.push(await el.evaluate((e) => `<${e.tagName.toLowerCase()} id="${e.id}" class="${e.className}">`));
  }
  return shown;
}

async function passwordBoxOnScreen(page: Page): Promise<boolean> {
  const box = await page.locator('#password').boundingBox();
  return (await page.locator('#password').isVisible()) && box !== null && box.width > 0 && box.height > 0;
}

describe('a phone screen', () => {
  test('no page is wider than a 390 px phone, in English or Chinese: lobby, broadcast, watch', async () => {
    for (const locale of ['en-US', 'zh-CN']) {
      const ctx = await context(locale);
      for (const path of ['/', `/broadcast/narrow?key=${open.publishKey}`, '/watch/narrow']) {
        const page = await openPage(ctx, `${open.url}${path}`);
        await page.waitForLoadState('load');
        const overflow = await page.evaluate(() => document.documentElement.scrollWidth - document.documentElement.clientWidth);
        assert.equal(overflow, 0, `${path} (${locale}) scrolls sideways by ${overflow}px`);
        await page.close();
      }
    }
  });
});

describe('the view-password box', () => {
  test('a room without a password never shows it: waiting, then live', async () => {
    const ctx = await context();
    const watch = await openPage(ctx, `${open.url}/watch/no-password`);
    await waitForState(watch, 'waiting', 20_000);
    assert.equal(await passwordBoxOnScreen(watch), false, 'password box on screen while waiting');
    assert.deepEqual(await visibleHidden(watch), []);

    const broadcast = await openPage(ctx, `${open.url}/broadcast/no-password?key=${open.publishKey}&autostart=1`);
    await waitForState(broadcast, 'live', 20_000);
    await waitForState(watch, 'live', 30_000);
    await assertMediaFlowing(watch);
    assert.equal(await passwordBoxOnScreen(watch), false, 'password box on screen while playing');
    assert.deepEqual(await visibleHidden(watch), []);
    assert.deepEqual(await visibleHidden(broadcast), []);
    await broadcast.close();
    await waitForState(watch, 'offline', 20_000);
    assert.equal(await passwordBoxOnScreen(watch), false, 'password box on screen when the broadcast ended');
  });

  test('a room behind --view-password asks for it first, and the box goes once the stream plays', async () => {
    const ctx = await context();
    const broadcast = await openPage(ctx, `${guarded.url}/broadcast/guarded?key=${guarded.publishKey}&autostart=1`);
    await waitForState(broadcast, 'live', 20_000);

    const watch = await openPage(ctx, `${guarded.url}/watch/guarded`);
    await waitForState(watch, 'error', 20_000);
    assert.equal(await passwordBoxOnScreen(watch), true, 'no password box before entering');
    assert.equal(await watch.locator('#overlay').innerText(), 'This room needs a view password.');

    await watch.fill('#password', 'not-it');
    await watch.press('#password', 'Enter');
    await watch.waitForFunction(() => document.getElementById('overlay')?.textContent === 'Wrong view password.', undefined, { timeout: 20_000 });
    assert.equal(await passwordBoxOnScreen(watch), true, 'no password box after a wrong password');

    await watch.fill('#password', PASSWORD);
    await watch.press('#password', 'Enter');
    await waitForState(watch, 'live', 30_000);
    await assertMediaFlowing(watch);
    assert.equal(await passwordBoxOnScreen(watch), false, 'password box still on screen while the stream plays');
    assert.deepEqual(await visibleHidden(watch), []);
  });

  test('a password in the link plays straight away, never showing the box', async () => {
    const ctx = await context();
    const broadcast = await openPage(ctx, `${guarded.url}/broadcast/linked?key=${guarded.publishKey}&autostart=1`);
    await waitForState(broadcast, 'live', 20_000);
    const watch = await openPage(ctx, `${guarded.url}/watch/linked?password=${PASSWORD}`);
    await waitForState(watch, 'live', 30_000);
    assert.equal(await passwordBoxOnScreen(watch), false);
  });
});

describe('elements marked hidden', () => {
  test('none is on screen in the lobby or on a broadcast page before going live', async () => {
    const ctx = await context();
    const lobby = await openPage(ctx, `${open.url}/`);
    await lobby.waitForFunction(() => document.querySelector('#rooms li') || !document.getElementById('rooms-empty')?.hidden);
    assert.deepEqual(await visibleHidden(lobby), []);
    const broadcast = await openPage(ctx, `${open.url}/broadcast/idle?key=${open.publishKey}`);
    await broadcast.waitForFunction(() => (document.getElementById('preview') as HTMLVideoElement).videoWidth > 0, undefined, { timeout: 20_000 });
    assert.deepEqual(await visibleHidden(broadcast), []);
  });
});

/** A status line as it reads on screen, and whether its " · " separators are where they belong. */
async function statusLine(page: Page, selector: string): Promise<string> {
  const line = page.locator(selector);
  assert.ok(await line.isVisible(), `${selector} is not on screen`);
  return (await line.innerText()).trim();
}

function assertSeparators(text: string, where: string): void {
  assert.doesNotMatch(text, /^·|·$/, `${where}: "${text}" starts or ends with a separator`);
  assert.doesNotMatch(text, /·\s*·/, `${where}: "${text}" has two separators in a row`);
}

for (const locale of ['en-US', 'zh-CN']) {
  describe(`status lines in ${locale}`, () => {
    test('never start or end with a separator, nor have two in a row: idle, waiting, live, ended', async () => {
      const ctx = await context(locale);
      const room = `lines-${locale}`;
      const BROADCAST_LINE = 'p.stats';
      const WATCH_LINE = '.row.between > p:first-child';
      const broadcast = await openPage(ctx, `${open.url}/broadcast/${room}?key=${open.publishKey}`);
      await broadcast.waitForFunction(() => (document.getElementById('preview') as HTMLVideoElement).videoWidth > 0, undefined, { timeout: 20_000 });
      assertSeparators(await statusLine(broadcast, BROADCAST_LINE), 'broadcast page, not live');
      const watch = await openPage(ctx, `${open.url}/watch/${room}`);
      await waitForState(watch, 'waiting', 20_000);
      assert.equal(await watch.evaluate(() => document.documentElement.lang), locale === 'en-US' ? 'en' : 'zh-CN');
      assertSeparators(await statusLine(watch, WATCH_LINE), 'watch page, waiting');

      await broadcast.click('#start');
      await waitForState(broadcast, 'live', 20_000);
      await waitForState(watch, 'live', 30_000);
      // The mode arrives with the room's status, the upload rate and the picture's figures a
      // second or two later: read the lines once each is there.
      await broadcast.waitForFunction(() => document.getElementById('mode')?.textContent, undefined, { timeout: 20_000 });
      assertSeparators(await statusLine(broadcast, BROADCAST_LINE), 'broadcast page, live');
      await broadcast.waitForFunction(() => document.getElementById('uplink')?.textContent, undefined, { timeout: 20_000 });
      assertSeparators(await statusLine(broadcast, BROADCAST_LINE), 'broadcast page, live with upload rate');
      assertSeparators(await statusLine(watch, WATCH_LINE), 'watch page, live');
      await watch.waitForFunction(() => /fps/.test(document.getElementById('stats')?.textContent ?? ''), undefined, { timeout: 20_000 });
      assertSeparators(await statusLine(watch, WATCH_LINE), 'watch page, live with figures');
      // The rate comes a second later, from two samples of the connection: never a 0 before it.
      const figures = await watch.waitForFunction(() => /bit\/s/.test(document.getElementById('stats')?.textContent ?? '') && document.getElementById('stats')!.textContent, undefined, { timeout: 20_000 });
      const rate = /([\d.]+)\u00a0(k|M)bit\/s/.exec(String(await figures.jsonValue()));
      assert.ok(rate && Number(rate[1]) > 0, `the watch page shows a rate it measured: ${String(await figures.jsonValue())}`);

      const lobby = await openPage(ctx, `${open.url}/`);
      await lobby.waitForSelector('#rooms li');
      for (const item of await lobby.locator('#rooms li').all()) assertSeparators((await item.innerText()).trim(), 'lobby');

      await broadcast.click('#stop');
      await waitForState(watch, 'offline', 20_000);
      assertSeparators(await statusLine(broadcast, BROADCAST_LINE), 'broadcast page, stopped');
      assertSeparators(await statusLine(watch, WATCH_LINE), 'watch page, ended');
    });
  });
}

const EMOJI = /\p{Extended_Pictographic}/u;

describe('icons', () => {
  test('the Unmute button shows a drawn icon (SVG) and no emoji, and unmutes', async () => {
    const ctx = await context();
    await ctx.addInitScript(AUTOPLAY_AS_BROWSERS_DO);
    const broadcast = await openPage(ctx, `${open.url}/broadcast/unmute?key=${open.publishKey}&autostart=1`);
    await waitForState(broadcast, 'live', 20_000);
    const watch = await openPage(ctx, `${open.url}/watch/unmute`);
    await waitForState(watch, 'live', 30_000);
    const button = watch.locator('#unmute');
    await button.waitFor({ state: 'visible', timeout: 20_000 });
    const icon = button.locator('svg');
    assert.equal(await icon.count(), 1, 'no svg icon in the Unmute button');
    const box = await icon.boundingBox();
    assert.ok((await icon.isVisible()) && box && box.width >= 10 && box.height >= 10, `icon not drawn: ${JSON.stringify(box)}`);
    const label = (await button.innerText()).trim();
    assert.doesNotMatch(label, EMOJI, `emoji in the Unmute button: "${label}"`);
    assert.equal(label, 'Unmute');

    await button.click();
    await button.waitFor({ state: 'hidden', timeout: 10_000 });
    assert.equal(await watch.evaluate(() => document.querySelector('video')!.muted), false);
  });

  test('the Unmute button is over the picture only: gone once the broadcast ends', async () => {
    const ctx = await context();
    await ctx.addInitScript(AUTOPLAY_AS_BROWSERS_DO);
    const broadcast = await openPage(ctx, `${open.url}/broadcast/unmute-ends?key=${open.publishKey}&autostart=1`);
    await waitForState(broadcast, 'live', 20_000);
    const watch = await openPage(ctx, `${open.url}/watch/unmute-ends`);
    await waitForState(watch, 'live', 30_000);
    await watch.locator('#unmute').waitFor({ state: 'visible', timeout: 20_000 });
    await broadcast.close();
    await waitForState(watch, 'offline', 20_000);
    assert.equal(await watch.locator('#unmute').isVisible(), false, 'Unmute still over the "broadcast ended" notice');
    assert.equal(await watch.locator('#overlay').isVisible(), true);
  });

  test('no page shows emoji: the lobby with a protected room, a broadcast page, a watch page', async () => {
    const ctx = await context();
    const broadcast = await openPage(ctx, `${guarded.url}/broadcast/locked?key=${guarded.publishKey}&autostart=1`);
    await waitForState(broadcast, 'live', 20_000);
    const lobby = await openPage(ctx, `${guarded.url}/`);
    const entry = lobby.locator('#rooms li', { hasText: 'locked' });
    await entry.waitFor({ state: 'visible', timeout: 20_000 });
    assert.doesNotMatch(await entry.innerText(), EMOJI);
    assert.match(await entry.innerText(), /view password needed/);
    assert.ok(await entry.locator('svg').isVisible(), 'the protected room has no lock icon');
    const watch = await openPage(ctx, `${guarded.url}/watch/locked?password=${PASSWORD}`);
    await waitForState(watch, 'live', 30_000);
    for (const page of [lobby, broadcast, watch]) {
      const text = await page.locator('body').innerText();
      assert.doesNotMatch(text, EMOJI, `emoji on ${page.url()}: ${text.match(EMOJI)?.[0]}`);
    }
  });
});
