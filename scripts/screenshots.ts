/**
 * Screenshots of every page in every state, as a person sees them: phone (390x844) and desktop
 * (1280x800), English and Simplified Chinese, real server, real Chromium with its fake camera.
 *
 *   npm run build && node --import tsx scripts/screenshots.ts [--out DIR] [--readme]
 *
 * PNGs go to /tmp/lancast-shots (or --out). `--readme` also writes the broadcast/watch pair the
 * README shows (docs/images/, English, desktop). Pages that scroll sideways are reported: nothing
 * should be wider than the screen.
 */
import { execFileSync } from 'node:child_process';
import { mkdirSync } from 'node:fs';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import type { Browser, Page } from 'playwright-core';
import { AUTOPLAY_AS_BROWSERS_DO } from '../test/helpers/autoplay.js';
import { launchAskingChromium, launchChromium, micBlockedContext, waitForState } from '../test/helpers/browser.js';
import { startLancast, type Lancast } from '../test/helpers/server.js';

const { values } = parseArgs({ options: { out: { type: 'string' }, readme: { type: 'boolean' } } });
const OUT = values.out ?? '/tmp/lancast-shots';
const README_DIR = new URL('../docs/images/', import.meta.url).pathname;
const SIZES = { phone: { width: 390, height: 844 }, desktop: { width: 1280, height: 800 } } as const;
const LANGS = ['en', 'zh-CN'] as const;
const ROOM = 'main';

const problems: string[] = [];

async function shot(page: Page, name: string): Promise<void> {
  // Let fonts, images and the status line settle (the watch page's stats refresh every second).
  await page.evaluate(() => document.fonts.ready);
  await page.waitForTimeout(300);
  const path = join(OUT, `${name}.png`);
  await page.screenshot({ path, fullPage: true });
  const overflow = await page.evaluate(() => document.documentElement.scrollWidth - document.documentElement.clientWidth);
  if (overflow > 0) problems.push(`${name}: ${overflow}px wider than the screen`);
  console.log(`  ${path}${overflow > 0 ? `  (scrolls sideways by ${overflow}px)` : ''}`);
}

/** Wait until the page's <body data-state> says `state`. */
async function settle(page: Page, state: string): Promise<void> {
  await waitForState(page, state, 30_000);
}

type Size = keyof typeof SIZES;

/**
 * One language at one size: every state, in the order a session meets them. `guarded` has a view
 * password and is this series' own (wrong passwords from another series would slow it down).
 */
async function series(browser: Browser, open: Lancast, guarded: Lancast, lang: (typeof LANGS)[number], size: Size, scheme: 'light' | 'dark' = 'light'): Promise<void> {
  const tag = `${lang}-${size}${scheme === 'dark' ? '-dark' : ''}`;
  const context = await browser.newContext({
    locale: lang,
    viewport: SIZES[size],
    deviceScaleFactor: 1,
    isMobile: size === 'phone',
    hasTouch: size === 'phone',
    colorScheme: scheme,
  });
  // Refuse sound without a click, as real browsers do, so the live watch page shows Unmute.
  await context.addInitScript(AUTOPLAY_AS_BROWSERS_DO);
  try {
    const lobby = await context.newPage();
    await lobby.goto(`${open.url}/`);
    await lobby.waitForFunction(() => !document.getElementById('rooms-empty')?.hidden || document.querySelector('#rooms li'));
    await shot(lobby, `lobby-empty-${tag}`);

    const broadcast = await context.newPage();
    await broadcast.goto(`${open.url}/broadcast/${ROOM}?key=${open.publishKey}`);
    await broadcast.waitForFunction(() => (document.getElementById('preview') as HTMLVideoElement).videoWidth > 0, undefined, { timeout: 30_000 });
    await shot(broadcast, `broadcast-idle-${tag}`);

    const watch = await context.newPage();
    await watch.goto(`${open.url}/watch/${ROOM}`);
    await settle(watch, 'waiting');
    await shot(watch, `watch-waiting-${tag}`);

    await broadcast.click('#start');
    await settle(broadcast, 'live');
    await settle(watch, 'live');
    // The stats line (resolution, fps, rate) fills in a second or two after the first frame.
    await watch.waitForFunction(() => /bit\/s/.test(document.getElementById('stats')?.textContent ?? ''), undefined, { timeout: 15_000 }).catch(() => undefined);
    await broadcast.waitForFunction(() => document.getElementById('uplink')?.textContent, undefined, { timeout: 15_000 }).catch(() => undefined);
    await shot(watch, `watch-live-${tag}`);
    await shot(broadcast, `broadcast-live-${tag}`);

    // A relayed simulcast broadcast: the watch page's quality menu and what plays.
    const relayed = await context.newPage();
    await relayed.goto(`${open.url}/broadcast/${ROOM}-relay?key=${open.publishKey}&mode=relay&autostart=1`);
    await settle(relayed, 'live');
    const layered = await context.newPage();
    await layered.goto(`${open.url}/watch/${ROOM}-relay`);
    await settle(layered, 'live');
    // Settled: the menu is up and the picture is the height the line names (the first second may still show a lower layer).
    await layered
      .waitForFunction(
        () => {
          const why = document.getElementById('quality-why')?.textContent ?? '';
          const height = (document.querySelector('video') as HTMLVideoElement).videoHeight;
          return !document.getElementById('quality-menu')?.hidden && why.startsWith(`${height}p`) && /bit\/s/.test(document.getElementById('stats')?.textContent ?? '');
        },
        undefined,
        { timeout: 20_000 },
      )
      .catch(() => problems.push(`watch-relay-quality-${tag}: no quality menu, or the picture never matched the layer it names`));
    await shot(layered, `watch-relay-quality-${tag}`);
    await layered.close();
    await relayed.close();
    if (values.readme && tag === 'en-desktop') {
      mkdirSync(README_DIR, { recursive: true });
      for (const [page, name] of [[broadcast, 'broadcast'], [watch, 'watch']] as const) {
        const raw = join(OUT, `readme-${name}.png`);
        await page.screenshot({ path: raw });
        // 960 px wide with a 64-colour palette (ffmpeg): ~26 and ~16 KB instead of 49 and 42 KB.
        execFileSync('ffmpeg', ['-v', 'error', '-y', '-i', raw, '-vf', 'scale=960:-1:flags=lanczos,split[a][b];[a]palettegen=max_colors=64[p];[b][p]paletteuse=dither=none', join(README_DIR, `${name}.png`)]);
      }
    }

    await lobby.reload();
    await lobby.waitForSelector('#rooms li');
    await shot(lobby, `lobby-live-${tag}`);

    // The open server holds one viewer per room: a second one is refused.
    const full = await context.newPage();
    await full.goto(`${open.url}/watch/${ROOM}`);
    await settle(full, 'error');
    await shot(full, `watch-error-full-${tag}`);
    await full.close();

    await broadcast.click('#stop');
    await settle(watch, 'offline');
    await shot(watch, `watch-offline-${tag}`);
    await shot(broadcast, `broadcast-stopped-${tag}`);

    const badKey = await context.newPage();
    await badKey.goto(`${open.url}/broadcast/other?key=wrong&autostart=1`);
    await badKey.waitForFunction(() => !document.getElementById('error')?.hidden, undefined, { timeout: 30_000 });
    await shot(badKey, `broadcast-bad-key-${tag}`);
    await badKey.close();

    // A signaling socket that never answers: the page stays on "connecting".
    const connecting = await context.newPage();
    await connecting.routeWebSocket(/\/ws$/, () => undefined);
    await connecting.goto(`${open.url}/watch/${ROOM}`);
    await connecting.waitForTimeout(1_000);
    await shot(connecting, `watch-connecting-${tag}`);
    await connecting.close();

    const badRoom = await context.newPage();
    await badRoom.goto(`${open.url}/watch/no%20spaces`);
    await shot(badRoom, `watch-error-bad-room-${tag}`);
    await badRoom.close();

    const pw = await context.newPage();
    await pw.goto(`${guarded.url}/watch/${ROOM}`);
    await settle(pw, 'error');
    await shot(pw, `watch-password-${tag}`);
    await pw.fill('#password', 'wrong');
    await pw.click('#password-form button');
    await pw.waitForFunction(() => !(document.getElementById('password-form') as HTMLElement).hidden && document.body.dataset.state === 'error');
    await shot(pw, `watch-password-wrong-${tag}`);
    await pw.close();

    await Promise.all([lobby.close(), broadcast.close(), watch.close()]);
  } finally {
    await context.close();
  }
}

/** A watch page whose server stops under it. */
async function serverGone(browser: Browser, servers: Lancast[]): Promise<void> {
  for (const lang of LANGS) {
    for (const size of Object.keys(SIZES) as Size[]) {
      const server = servers.shift()!;
      const context = await browser.newContext({ locale: lang, viewport: SIZES[size], deviceScaleFactor: 1, isMobile: size === 'phone', hasTouch: size === 'phone' });
      const page = await context.newPage();
      await page.goto(`${server.url}/watch/${ROOM}`);
      await settle(page, 'waiting');
      await server.stop();
      await page.waitForFunction(() => document.getElementById('stats')?.textContent, undefined, { timeout: 30_000 });
      await shot(page, `watch-server-gone-${lang}-${size}`);
      await context.close();
    }
  }
}

/** A broadcast page whose site may use the camera and not the microphone: live, saying why there is no sound. */
async function micBlocked(asking: Browser, server: Lancast): Promise<void> {
  for (const lang of LANGS) {
    for (const size of Object.keys(SIZES) as Size[]) {
      const context = await micBlockedContext(asking, server.url, { locale: lang, viewport: SIZES[size], deviceScaleFactor: 1, isMobile: size === 'phone', hasTouch: size === 'phone' });
      const page = context.pages()[0];
      await page.goto(`${server.url}/broadcast/nomic?key=test-key&autostart=1`);
      await settle(page, 'live');
      await shot(page, `broadcast-mic-blocked-${lang}-${size}`);
      await context.close();
    }
  }
}

mkdirSync(OUT, { recursive: true });
const browser = await launchChromium();
// Chromium that asks for devices, as a browser does, instead of granting all of them.
const asking = await launchAskingChromium();
// Every server starts now: a build running beside this script may take dist/ away for a moment.
const open = await startLancast({ args: ['--max-viewers', '1', '--mode', 'p2p'] });
const guarded = await Promise.all(Array.from({ length: 5 }, () => startLancast({ args: ['--view-password', 'letmein'] })));
const doomed = await Promise.all(Array.from({ length: 4 }, () => startLancast({ args: ['--mode', 'p2p'] })));
const servers = [open, ...guarded, ...doomed];
try {
  for (const lang of LANGS) {
    for (const size of Object.keys(SIZES) as Size[]) {
      console.log(`${lang}, ${size}:`);
      await series(browser, open, guarded.shift()!, lang, size);
    }
  }
  console.log('en, desktop, dark:');
  await series(browser, open, guarded.shift()!, 'en', 'desktop', 'dark');
  await serverGone(browser, doomed);
  await micBlocked(asking, open);
} finally {
  await Promise.all(servers.map((s) => s.stop()));
  await asking.close();
  await browser.close();
}
if (problems.length) {
  console.log(`\nLayout problems:\n  ${problems.join('\n  ')}`);
  process.exitCode = 1;
}
