/**
 * What the source tests share: a Chromium that really captures a tab (getDisplayMedia picks the
 * open tab with a known title), a camera of one known colour (a Y4M file fed to Chromium's fake
 * capture), test pages to share, and probes that read what a viewer's <video> shows.
 */
import { rmSync, writeFileSync } from 'node:fs';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { chromium, type Browser, type BrowserContext, type Page } from 'playwright-core';
import { after, before } from 'node:test';
import { CHROMIUM, CHROMIUM_ARGS } from '../helpers/browser.js';
import { startLancast, type Lancast } from '../helpers/server.js';

export type Rgb = [number, number, number];

/** The colours the sources are painted in: tell them apart in any decoded frame. */
export const CAMERA_RGB: Rgb = [0, 0, 255];
export const SCREEN_RGB: Rgb = [0, 176, 0];

/** A Y4M clip of one solid colour (BT.601, video range), for --use-file-for-fake-video-capture. */
export function solidY4m(rgb: Rgb, width = 640, height = 480, frames = 4): string {
  const [r, g, b] = rgb.map((c) => c / 255) as Rgb;
  const y = Math.round(16 + 65.481 * r + 128.553 * g + 24.966 * b);
  const u = Math.round(128 - 37.797 * r - 74.203 * g + 112 * b);
  const v = Math.round(128 + 112 * r - 93.786 * g - 18.214 * b);
  const frame = Buffer.concat([Buffer.from('FRAME\n'), Buffer.alloc(width * height, y), Buffer.alloc((width * height) / 4, u), Buffer.alloc((width * height) / 4, v)]);
  const file = join(tmpdir(), `lancast-camera-${rgb.join('-')}-${process.pid}.y4m`);
  writeFileSync(file, Buffer.concat([Buffer.from(`YUV4MPEG2 W${width} H${height} F30:1 Ip A1:1 C420jpeg\n`), ...Array.from({ length: frames }, () => frame)]));
  return file;
}

/** Lines of small black text on white, the kind a slide or a terminal shows. */
export function textPage(title: string): string {
  const words = 'lancast shares a screen on the local network; every viewer reads the same small text at full sharpness'.split(' ');
  const lines = Array.from({ length: 40 }, (_, i) => `${String(i + 1).padStart(2, '0')} ${words.map((w, j) => words[(i * 7 + j * 3) % words.length]).join(' ')} ${(i * 7919) % 10007}`);
  return `<!doctype html><title>${title}</title><body style="margin:0;background:#fff;color:#000;font:12px/16px monospace;padding:8px">${lines.map((l) => `<div>${l}</div>`).join('')}</body>`;
}

/** A page of one colour with a big code on it. */
export function colourPage(title: string, rgb: Rgb): string {
  return `<!doctype html><title>${title}</title><body style="margin:0;height:100vh;background:rgb(${rgb.join(',')});color:#fff;font:bold 120px sans-serif;display:flex;align-items:center;justify-content:center">SCREEN</body>`;
}

/** Moving content (bars sliding, a clock): what a video or a game puts on a screen. */
export function motionPage(title: string): string {
  return `<!doctype html><title>${title}</title><body style="margin:0;overflow:hidden;background:#222"><canvas id=c></canvas><script>
const c = document.getElementById('c'), g = c.getContext('2d');
c.width = innerWidth; c.height = innerHeight;
const draw = (t) => {
  for (let i = 0; i < 12; i++) { g.fillStyle = 'hsl(' + ((i * 30 + t / 20) % 360) + ',70%,50%)'; g.fillRect(((i * 120 + t / 4) % (c.width + 120)) - 120, 0, 120, c.height); }
  g.fillStyle = '#fff'; g.font = 'bold 64px monospace'; g.fillText(new Date().toISOString().slice(11, 23), 40, 100);
  requestAnimationFrame(draw);
};
requestAnimationFrame(draw);
</script></body>`;
}

/** The tone the `/tone` page plays. */
export const TONE_HZ = 3000;

/** How far `hz` stands out in a page's playing <video> (dB above the median of its neighbouring bins). */
export function toneLevel(page: Page, hz = TONE_HZ, selector = 'video[data-testid="remote-video"]'): Promise<number> {
  return page.evaluate<number>(`(async () => {
    const video = document.querySelector(${JSON.stringify(selector)});
    const tones = (window.__tones ??= new Map());
    if (!tones.has(video)) {
      const ctx = new AudioContext();
      const analyser = ctx.createAnalyser();
      analyser.fftSize = 4096;
      // Each reading is the sound of its moment (the default smoothing lets a tone linger).
      analyser.smoothingTimeConstant = 0;
      ctx.createMediaStreamSource(video.srcObject).connect(analyser);
      tones.set(video, { ctx, analyser });
    }
    const { ctx, analyser } = tones.get(video);
    await ctx.resume();
    await new Promise((r) => setTimeout(r, 300));
    const bins = new Float32Array(analyser.frequencyBinCount);
    analyser.getFloatFrequencyData(bins);
    const k = Math.round((${hz} * analyser.fftSize) / ctx.sampleRate);
    const peak = Math.max(bins[k - 1], bins[k], bins[k + 1]);
    // Against its neighbourhood (±700 Hz, the tone's own bins left out).
    const near = [];
    for (let j = k - 60; j <= k + 60; j++) if (Math.abs(j - k) > 4 && Number.isFinite(bins[j])) near.push(bins[j]);
    near.sort((a, b) => a - b);
    return Number.isFinite(peak) ? peak - (near[near.length >> 1] ?? -200) : 0;
  })()`);
}

/** Serves the pages to share: `/colour`, `/tone`, `/text` and `/motion`, each `?title=…`. */
export async function shareSite(): Promise<{ url: string; close(): Promise<void> }> {
  const server: Server = createServer((req, res) => {
    const url = new URL(req.url ?? '/', 'http://x');
    const title = url.searchParams.get('title') ?? 'page';
    let body = url.pathname === '/text' ? textPage(title) : url.pathname === '/motion' ? motionPage(title) : colourPage(title, SCREEN_RGB);
    // The colour page with sound: a steady 440 Hz tone (the tab's own audio).
    if (url.pathname === '/tone') body += `<script>const a = new AudioContext(), o = a.createOscillator(), g = a.createGain(); g.gain.value = 0.5; o.frequency.value = ${TONE_HZ}; o.connect(g).connect(a.destination); o.start();</script>`;
    res.writeHead(200, { 'content-type': 'text/html; charset=utf-8' }).end(body);
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return {
    url: `http://127.0.0.1:${(server.address() as AddressInfo).port}`,
    close: () => new Promise((resolve) => server.close(() => resolve())),
  };
}

/**
 * Chromium whose getDisplayMedia picks the tab titled `title` (no fake UI: with it Chromium
 * returns a fake screen instead), whose camera is `camera`, with camera and microphone granted.
 */
export async function capturingChromium(title: string, camera: string, extraArgs: string[] = []): Promise<{ browser: Browser; context: BrowserContext }> {
  const args = CHROMIUM_ARGS.filter((a) => a !== '--use-fake-ui-for-media-stream');
  const browser = await chromium.launch({
    executablePath: CHROMIUM,
    headless: true,
    // Playwright mutes a headless Chromium; a muted tab gives its capture silence.
    ignoreDefaultArgs: ['--mute-audio'],
    args: [...args, `--auto-select-tab-capture-source-by-title=${title}`, `--use-file-for-fake-video-capture=${camera}`, ...extraArgs],
  });
  const context = await browser.newContext({ permissions: ['camera', 'microphone'], viewport: { width: 1280, height: 720 } });
  return { browser, context };
}

/** What a viewer's picture shows: mean colours of its middle and of the camera's corner, and its size. */
export interface Seen {
  centre: Rgb;
  corner: Rgb;
  width: number;
  height: number;
}

/** Sample a <video> (the watch page's, or any selector) into a small canvas. */
export function seen(page: Page, selector = 'video[data-testid="remote-video"]'): Promise<Seen> {
  return page.evaluate<Seen>(`(() => {
    const video = document.querySelector(${JSON.stringify(selector)});
    const W = 160, H = 90;
    const canvas = (window.__seenCanvas ??= document.createElement('canvas'));
    canvas.width = W; canvas.height = H;
    const ctx = canvas.getContext('2d', { willReadFrequently: true });
    ctx.drawImage(video, 0, 0, W, H);
    const mean = (x0, y0, x1, y1) => {
      const d = ctx.getImageData(x0, y0, x1 - x0, y1 - y0).data;
      const s = [0, 0, 0];
      for (let i = 0; i < d.length; i += 4) { s[0] += d[i]; s[1] += d[i + 1]; s[2] += d[i + 2]; }
      const n = d.length / 4;
      return s.map((v) => Math.round(v / n));
    };
    // The corner as src/client/compositor.ts places it (22 % of the width, 2 % margin, 4:3 camera).
    const w = Math.round(W * 0.22), h = Math.round(w * 3 / 4), m = Math.round(W * 0.02);
    const x = W - w - m, y = H - h - m;
    return { centre: mean(20, 10, 100, 50), corner: mean(x + 4, y + 4, x + w - 4, y + h - 4), width: video.videoWidth, height: video.videoHeight };
  })()`);
}

/** Which known colour an average is: 'camera', 'screen', 'still' (dark grey) or 'other'. */
export function colourOf([r, g, b]: Rgb): 'camera' | 'screen' | 'still' | 'other' {
  if (b > 150 && r < 80 && g < 80) return 'camera';
  if (g > 110 && r < 80 && b < 80) return 'screen';
  if (r < 70 && g < 70 && b < 70 && Math.abs(r - b) < 20) return 'still';
  return 'other';
}

/**
 * Watch a viewer for reconnections from now on: its playing RTCPeerConnection is remembered,
 * offers it receives are counted, and every data-state it shows is logged.
 */
export async function watchConnection(page: Page): Promise<void> {
  await page.evaluate(`(() => {
    const v = window.lancast.viewer;
    window.__conn = { pc: v.peerConnection, offers: 0, states: [document.body.dataset.state] };
    v.signaling.on('message', (m) => { if (m.type === 'offer') window.__conn.offers++; });
    new MutationObserver(() => {
      const s = document.body.dataset.state;
      if (window.__conn.states.at(-1) !== s) window.__conn.states.push(s);
    }).observe(document.body, { attributes: true, attributeFilter: ['data-state'] });
  })()`);
}

export interface ConnectionLog {
  /** The RTCPeerConnection playing now is the one playing when watching began. */
  samePc: boolean;
  offers: number;
  states: string[];
  connectionState: string;
}

export function connectionLog(page: Page): Promise<ConnectionLog> {
  return page.evaluate<ConnectionLog>(`(() => {
    const v = window.lancast.viewer;
    return { samePc: v.peerConnection === window.__conn.pc, offers: window.__conn.offers, states: window.__conn.states, connectionState: v.peerConnection ? v.peerConnection.connectionState : 'none' };
  })()`);
}

/** Pick a source on the broadcast page the way a person does: a click on its radio button. */
export async function pickSource(page: Page, source: 'camera' | 'screen' | 'screen+camera'): Promise<void> {
  await page.click(`input[name=source][value="${source}"]`);
}

/** The luma (BT.601) of a <video>'s current frame at its own size. */
export interface Luma {
  width: number;
  height: number;
  data: Buffer;
}

/** `size`: draw the frame at this size (a smaller decoded frame is compared as it is shown). */
export async function grabLuma(page: Page, selector: string, size?: [number, number]): Promise<Luma> {
  const { width, height, base64 } = (await page.evaluate<{ width: number; height: number; base64: string }>(`(() => {
    const video = document.querySelector(${JSON.stringify(selector)});
    const size = ${JSON.stringify(size ?? null)};
    const width = size ? size[0] : video.videoWidth, height = size ? size[1] : video.videoHeight;
    const canvas = document.createElement('canvas');
    canvas.width = width; canvas.height = height;
    const ctx = canvas.getContext('2d', { willReadFrequently: true });
    ctx.drawImage(video, 0, 0, width, height);
    const d = ctx.getImageData(0, 0, width, height).data;
    const y = new Uint8Array(width * height);
    for (let i = 0, j = 0; j < y.length; i += 4, j++) y[j] = Math.round(0.299 * d[i] + 0.587 * d[i + 1] + 0.114 * d[i + 2]);
    let s = '';
    for (let i = 0; i < y.length; i += 0x8000) s += String.fromCharCode.apply(null, y.subarray(i, i + 0x8000));
    return { width, height, base64: btoa(s) };
  })()`));
  return { width, height, data: Buffer.from(base64, 'base64') };
}

/** PSNR (dB) between two luma pictures of one size; Infinity when identical. */
export function lumaPsnr(a: Luma, b: Luma): number {
  if (a.width !== b.width || a.height !== b.height) throw new Error(`sizes differ: ${a.width}x${a.height} and ${b.width}x${b.height}`);
  let sum = 0;
  for (let i = 0; i < a.data.length; i++) {
    const d = a.data[i] - b.data[i];
    sum += d * d;
  }
  const mse = sum / a.data.length;
  return mse === 0 ? Infinity : 10 * Math.log10((255 * 255) / mse);
}

export interface SharingRig {
  server: Lancast;
  site: Awaited<ReturnType<typeof shareSite>>;
  browser: Browser;
  context: BrowserContext;
  cameraFile: string;
}

/**
 * What every screen-sharing test file sets up before its tests and tears down after: lancast, the
 * page to share (its tab titled `title`), and a Chromium that captures it with a solid-colour camera.
 */
export function sharingRig(title: string): SharingRig {
  const rig = {} as SharingRig;
  before(async () => {
    rig.cameraFile = solidY4m(CAMERA_RGB);
    [rig.server, rig.site] = await Promise.all([startLancast(), shareSite()]);
    ({ browser: rig.browser, context: rig.context } = await capturingChromium(title, rig.cameraFile));
  });
  after(async () => {
    await rig.browser?.close();
    await rig.server?.stop();
    await rig.site?.close();
    if (rig.cameraFile) rmSync(rig.cameraFile, { force: true });
  });
  return rig;
}
