/**
 * Sources (issue 14): how fast a switch on the broadcast page reaches a viewer, how sharp a
 * shared screen of text arrives with each preset, and what each preset costs the broadcaster.
 *
 * One Chromium broadcasts (its getDisplayMedia captures a tab of this run's test pages, its camera
 * is a clip of one colour) and is the one whose CPU is measured; viewers run in another.
 * - Switch: the broadcast page's radio buttons, camera → screen → screen+camera → camera …; time
 *   from the radio's change event on the broadcast page to the first frame a viewer presents that
 *   shows the new source (read from its pixels in requestVideoFrameCallback). Pages of one machine
 *   share the wall clock (performance.timeOrigin + now()).
 * - Sharpness: a page of 12 px black-on-white text shared with each preset; PSNR of the luma of a
 *   viewer's frame, drawn at the captured size, against the broadcaster's own frame, 3 s in.
 * - CPU: the broadcaster's whole Chromium over 10 s while it shares moving content (bars and a
 *   clock at 60 fps) with each preset, and what its encoder sends (getStats outbound-rtp).
 */
import { rmSync } from 'node:fs';
import type { Browser, BrowserContext, Page } from 'playwright-core';
import { launchChromium, waitFor, waitForState } from '../test/helpers/browser.js';
import { startLancast, type Lancast } from '../test/helpers/server.js';
import { CAMERA_RGB, capturingChromium, grabLuma, lumaPsnr, shareSite, solidY4m } from '../test/e2e/sources-kit.js';
import { findChromium, percentile, sleep, treeCpuSeconds } from './lib.js';

const TITLE = 'LANCAST-BENCH-SHARED';
const SEQUENCE = ['screen', 'screen+camera', 'camera'] as const;
const PRESETS = ['text', 'motion', 'camera', 'saver'] as const;

export interface SwitchRow {
  mode: string;
  switches: number;
  p50Ms: number;
  p95Ms: number;
  maxMs: number;
  toScreenP50Ms: number;
  toScreenCameraP50Ms: number;
  toCameraP50Ms: number;
  /** Every switch, in order: target and milliseconds. */
  all: string;
}

export interface PresetRow {
  preset: string;
  mode: string;
  error?: string;
  textPsnrDb: number;
  textDecoded: string;
  movingSent: string;
  movingSentKbps: number;
  broadcasterCpuPercent: number;
}

export interface SourcesResult {
  switches: SwitchRow[];
  presets: PresetRow[];
  /** The broadcaster's Chromium with the moving page open and nothing broadcast: the floor under every CPU figure. */
  movingPageAloneCpuPercent: number;
}

/** In a page: note each change of what a <video>'s presented frames show, with the wall-clock time. */
const watchSources = (selector: string) => `(() => {
  const video = document.querySelector(${JSON.stringify(selector)});
  const canvas = document.createElement('canvas');
  canvas.width = 64; canvas.height = 36;
  const ctx = canvas.getContext('2d', { willReadFrequently: true });
  const kind = ([r, g, b]) => (b > 150 && r < 80 && g < 80 ? 'camera' : g > 110 && r < 80 && b < 80 ? 'screen' : 'other');
  window.__shown = [];
  const tick = () => {
    ctx.drawImage(video, 0, 0, 64, 36);
    const at = (x, y) => kind(ctx.getImageData(x, y, 1, 1).data);
    // Upper left: the screen's colour (its big white word is in the middle); the corner camera's
    // middle as src/client/compositor.ts places it (22 % of the width, 4:3, 2 % margin).
    const main = at(8, 6), corner = at(56, 29);
    const shown = main === 'screen' && corner === 'camera' ? 'screen+camera' : main;
    const last = window.__shown[window.__shown.length - 1];
    if (!last || last.shown !== shown) window.__shown.push({ shown, at: performance.timeOrigin + performance.now() });
    video.requestVideoFrameCallback(tick);
  };
  video.requestVideoFrameCallback(tick);
})()`;

/** On the broadcast page: the wall-clock time of each source radio's change event. */
const WATCH_RADIOS = `(() => {
  window.__switches = [];
  for (const r of document.querySelectorAll('input[name=source]')) r.addEventListener('change', () => window.__switches.push({ to: r.value, at: performance.timeOrigin + performance.now() }));
})()`;

interface Setup {
  server: Lancast;
  site: Awaited<ReturnType<typeof shareSite>>;
  pub: { browser: Browser; context: BrowserContext; pid: number };
  viewers: Browser;
  shared: Page;
}

async function setUp(): Promise<Setup & { camera: string }> {
  const camera = solidY4m(CAMERA_RGB);
  const marker = `--lancast-bench=sources-${process.pid}-${Date.now()}`;
  const [server, site, viewers] = await Promise.all([startLancast({ args: ['--log-level', 'warn'] }), shareSite(), launchChromium()]);
  const { browser, context } = await capturingChromium(TITLE, camera, [marker]);
  const shared = await context.newPage();
  await shared.goto(`${site.url}/colour?title=${TITLE}`);
  return { server, site, viewers, camera, shared, pub: { browser, context, pid: findChromium(marker) } };
}

async function tearDown(s: Setup & { camera: string }): Promise<void> {
  await Promise.all([s.pub.browser.close(), s.viewers.close()]);
  await Promise.all([s.server.stop(), s.site.close()]);
  rmSync(s.camera, { force: true });
}

async function watcher(s: Setup, room: string): Promise<{ page: Page; context: BrowserContext }> {
  const context = await s.viewers.newContext();
  const page = await context.newPage();
  await page.goto(`${s.server.url}/watch/${room}`);
  await waitFor(() => page.evaluate(() => document.querySelector('video')?.videoWidth ?? 0), (w) => w > 0, 60_000, `a frame in ${room}`);
  return { page, context };
}

async function switchTimes(s: Setup, mode: 'p2p' | 'relay', rounds: number): Promise<SwitchRow> {
  const room = `switch-${mode}`;
  const b = await s.pub.context.newPage();
  await b.goto(`${s.server.url}/broadcast/${room}?key=test-key&autostart=1&mode=${mode}&source=camera`);
  await waitForState(b, 'live', 20_000);
  await b.evaluate(WATCH_RADIOS);
  const v = await watcher(s, room);
  await v.page.evaluate(watchSources('video[data-testid="remote-video"]'));
  const times: { to: string; ms: number }[] = [];
  try {
    for (let i = 0; i < rounds; i++) {
      for (const to of SEQUENCE) {
        await b.click(`input[name=source][value="${to}"]`);
        const switched = await waitFor(() => b.evaluate<{ to: string; at: number }[]>('window.__switches'), (list) => list.at(-1)?.to === to, 10_000, `the switch to ${to}`);
        const at = switched.at(-1)!.at;
        const seen = await waitFor(
          () => v.page.evaluate<{ shown: string; at: number }[]>('window.__shown'),
          (list) => list.some((e) => e.shown === to && e.at >= at),
          20_000,
          `the viewer to show ${to}`,
        );
        const ms = Math.round(seen.find((e) => e.shown === to && e.at >= at)!.at - at);
        times.push({ to, ms });
        await sleep(1_500);
      }
    }
  } finally {
    await v.context.close();
    await b.close();
  }
  const all = times.map((t) => t.ms);
  const p50 = (to: string) => percentile(times.filter((t) => t.to === to).map((t) => t.ms), 50);
  const row: SwitchRow = {
    mode,
    switches: all.length,
    p50Ms: percentile(all, 50),
    p95Ms: percentile(all, 95),
    maxMs: Math.max(...all),
    toScreenP50Ms: p50('screen'),
    toScreenCameraP50Ms: p50('screen+camera'),
    toCameraP50Ms: p50('camera'),
    all: times.map((t) => `${t.to}:${t.ms}`).join(' '),
  };
  process.stderr.write(`  sources: ${JSON.stringify(row)}\n`);
  return row;
}

/** What the broadcaster's encoder sends on its first connection, over `ms`: bytes of every layer, the size and frame rate of the largest (simulcast). */
async function sent(b: Page, ms: number): Promise<{ width: number; height: number; fps: number; kbps: number }> {
  const read = () =>
    b.evaluate<{ bytes: number; frames: number; width: number; height: number; at: number }>(`(async () => {
      const br = window.lancast.broadcaster;
      const pc = br.publishing ? br.publishing.pc : [...br.connections.values()][0].pc;
      const out = { bytes: 0, frames: 0, width: 0, height: 0, at: performance.now() };
      (await pc.getStats()).forEach((r) => {
        if (r.type !== 'outbound-rtp' || r.kind !== 'video') return;
        out.bytes += r.bytesSent;
        if ((r.frameWidth ?? 0) >= out.width) Object.assign(out, { frames: r.framesSent, width: r.frameWidth ?? 0, height: r.frameHeight ?? 0 });
      });
      return out;
    })()`);
  const a = await read();
  await sleep(ms);
  const z = await read();
  const s = (z.at - a.at) / 1000;
  return { width: z.width, height: z.height, fps: Math.round(((z.frames - a.frames) / s) * 10) / 10, kbps: Math.round(((z.bytes - a.bytes) * 8) / s / 1000) };
}

async function preset(s: Setup, name: (typeof PRESETS)[number], mode: 'p2p' | 'relay'): Promise<PresetRow> {
  const room = `preset-${name}-${mode}`;
  await s.shared.goto(`${s.site.url}/text?title=${TITLE}`);
  const b = await s.pub.context.newPage();
  await b.goto(`${s.server.url}/broadcast/${room}?key=test-key&autostart=1&mode=${mode}&source=screen&preset=${name}`);
  await waitForState(b, 'live', 20_000);
  const v = await watcher(s, room);
  try {
    await waitFor(() => v.page.evaluate(() => document.querySelector('video')!.videoWidth), (w) => w > 0, 20_000, 'a frame');
    await sleep(3_000);
    const source = await grabLuma(b, '#preview');
    const decodedSize = await v.page.evaluate(() => { const e = document.querySelector('video')!; return `${e.videoWidth}x${e.videoHeight}`; });
    const decoded = await grabLuma(v.page, 'video[data-testid="remote-video"]', [source.width, source.height]);
    const psnr = Math.round(lumaPsnr(source, decoded) * 10) / 10;
    // Moving content from here on: the same tab, another page.
    await s.shared.goto(`${s.site.url}/motion?title=${TITLE}`);
    await sleep(4_000);
    const cpu0 = treeCpuSeconds(s.pub.pid);
    const t0 = performance.now();
    const out = await sent(b, 10_000);
    const cpu = ((treeCpuSeconds(s.pub.pid) - cpu0) / ((performance.now() - t0) / 1000)) * 100;
    const row: PresetRow = {
      preset: name,
      mode,
      textPsnrDb: psnr,
      textDecoded: decodedSize,
      movingSent: `${out.width}x${out.height} ${out.fps} fps`,
      movingSentKbps: out.kbps,
      broadcasterCpuPercent: Math.round(cpu),
    };
    process.stderr.write(`  sources: ${JSON.stringify(row)}\n`);
    return row;
  } finally {
    await v.context.close();
    await b.close();
    await s.shared.goto(`${s.site.url}/colour?title=${TITLE}`);
  }
}

export async function sources(rounds = 10): Promise<SourcesResult> {
  const s = await setUp();
  try {
    await s.shared.goto(`${s.site.url}/motion?title=${TITLE}`);
    await sleep(4_000);
    const cpu0 = treeCpuSeconds(s.pub.pid);
    const t0 = performance.now();
    await sleep(10_000);
    const movingPageAloneCpuPercent = Math.round(((treeCpuSeconds(s.pub.pid) - cpu0) / ((performance.now() - t0) / 1000)) * 100);
    process.stderr.write(`  sources: the moving page alone, nothing broadcast: ${movingPageAloneCpuPercent} % of a core\n`);
    await s.shared.goto(`${s.site.url}/colour?title=${TITLE}`);
    const switches = [await switchTimes(s, 'p2p', rounds), await switchTimes(s, 'relay', rounds)];
    const presets: PresetRow[] = [];
    for (const mode of ['relay', 'p2p'] as const) {
      for (const name of PRESETS) {
        // One preset that fails (a loaded machine) leaves its row with the reason, not the run dead.
        presets.push(
          await preset(s, name, mode).catch((err: Error) => {
            process.stderr.write(`  sources: ${name} ${mode} failed: ${err.message}\n`);
            return { preset: name, mode, error: err.message.split('\n')[0], textPsnrDb: NaN, textDecoded: '-', movingSent: '-', movingSentKbps: NaN, broadcasterCpuPercent: NaN };
          }),
        );
      }
    }
    return { switches, presets, movingPageAloneCpuPercent };
  } finally {
    await tearDown(s);
  }
}
