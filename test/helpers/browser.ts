/** Real Chromium (Debian's) with a fake camera and microphone, driven by playwright-core. */
import { chromium, type Browser, type BrowserContext, type BrowserContextOptions } from 'playwright-core';

export const CHROMIUM = process.env.LANCAST_CHROMIUM ?? '/usr/bin/chromium';

export const CHROMIUM_ARGS = [
  '--use-fake-device-for-media-stream',
  '--use-fake-ui-for-media-stream',
  '--allow-loopback-in-peer-connection',
  '--autoplay-policy=no-user-gesture-required',
  '--no-sandbox',
  '--disable-gpu',
  '--disable-dev-shm-usage',
  '--disable-background-networking',
  '--disable-component-update',
  '--disable-sync',
  '--no-first-run',
  '--disable-quic',
  '--disable-renderer-backgrounding',
  '--disable-background-timer-throttling',
  '--disable-backgrounding-occluded-windows',
];

export async function launchChromium(extraArgs: string[] = []): Promise<Browser> {
  return chromium.launch({ executablePath: CHROMIUM, headless: true, args: [...CHROMIUM_ARGS, ...extraArgs] });
}

/** Chromium whose device prompt is not auto-accepted, as a browser's is not: the site's permissions decide. */
export function launchAskingChromium(): Promise<Browser> {
  return chromium.launch({ executablePath: CHROMIUM, headless: true, args: CHROMIUM_ARGS.filter((a) => a !== '--use-fake-ui-for-media-stream') });
}

/**
 * A context of an asking Chromium (launchAskingChromium) with one page open, where `origin` may
 * use the camera and not the microphone, as a site's settings can say.
 */
export async function micBlockedContext(browser: Browser, origin: string, options: BrowserContextOptions = {}): Promise<BrowserContext> {
  const context = await browser.newContext({ ...options, permissions: ['camera'] });
  const cdp = await context.newCDPSession(await context.newPage());
  await cdp.send('Browser.setPermission', { permission: { name: 'microphone' }, setting: 'denied', origin });
  return context;
}

export interface MediaCounters {
  framesDecoded: number;
  videoBytes: number;
  audioBytes: number;
  audioSamples: number;
  width: number;
  packetsLost: number;
}

/** Anything that runs a function in a page: a playwright Page, or a puppeteer one (Firefox). */
export interface Evaluator {
  evaluate<T>(fn: () => T | Promise<T>): Promise<T>;
}

/** The watch page's inbound counters, read from its RTCPeerConnection's getStats(). */
export async function viewerCounters(page: Evaluator): Promise<MediaCounters> {
  return page.evaluate(async () => {
    const w = window as unknown as { lancast?: { viewer: { peerConnection?: RTCPeerConnection }; video: HTMLVideoElement } };
    const out = { framesDecoded: 0, videoBytes: 0, audioBytes: 0, audioSamples: 0, width: 0, packetsLost: 0 };
    const pc = w.lancast?.viewer.peerConnection;
    out.width = w.lancast?.video.videoWidth ?? 0;
    if (!pc) return out;
    (await pc.getStats()).forEach((s: Record<string, number | string>) => {
      if (s.type !== 'inbound-rtp') return;
      out.packetsLost += Number(s.packetsLost ?? 0);
      if (s.kind === 'video') {
        out.framesDecoded += Number(s.framesDecoded ?? 0);
        out.videoBytes += Number(s.bytesReceived ?? 0);
      } else {
        out.audioBytes += Number(s.bytesReceived ?? 0);
        out.audioSamples += Number(s.totalSamplesReceived ?? 0);
      }
    });
    return out;
  });
}

/**
 * Poll until `check` passes or `timeoutMs` runs out; returns the last value. Every 100 ms: each
 * poll is a page evaluation or a local HTTP request (a millisecond or two), and a slower poll is
 * time a test waits after what it waits for has happened.
 */
export async function waitFor<T>(read: () => Promise<T>, check: (v: T) => boolean, timeoutMs: number, what: string): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  let last: T = await read();
  while (!check(last)) {
    if (Date.now() > deadline) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}; last: ${JSON.stringify(last)}`);
    await new Promise((r) => setTimeout(r, 100));
    last = await read();
  }
  return last;
}

/** The page's <body data-state>. */
export function pageState(page: Evaluator): Promise<string | undefined> {
  return page.evaluate(() => document.body.dataset.state);
}

export async function waitForState(page: Evaluator & { url(): string }, state: string, timeoutMs = 15_000): Promise<void> {
  try {
    await waitFor(() => pageState(page), (s) => s === state, timeoutMs, `data-state=${state} on ${page.url()}`);
  } catch (err) {
    // What the page showed and where its connection stood, so a failure says more than the state.
    const seen = await page
      .evaluate(() => {
        const pc = (window as unknown as { lancast?: { viewer: { peerConnection?: RTCPeerConnection } } }).lancast?.viewer.peerConnection;
        return {
          overlay: document.getElementById('overlay')?.textContent?.trim(),
          status: document.getElementById('status')?.textContent?.trim(),
          connection: pc?.connectionState ?? 'none',
          ice: pc?.iceConnectionState ?? 'none',
        };
      })
      .catch((e: Error) => ({ unreadable: e.message }));
    (err as Error).message += `; the page showed ${JSON.stringify(seen)}`;
    throw err;
  }
}

/**
 * Start recording when the watch page's <video> presents frames (requestVideoFrameCallback, which
 * follows the element across stream switches). `frameGaps` then says the longest pause seen.
 */
export async function recordFrames(page: Evaluator): Promise<void> {
  // A string, not a function: tsx's name-keeping helpers do not exist inside the page.
  await (page as unknown as { evaluate(script: string): Promise<unknown> }).evaluate(`(() => {
    if (window.__frames) return;
    const frames = (window.__frames = []);
    const video = document.querySelector('video[data-testid="remote-video"]');
    const tick = () => {
      frames.push(performance.now());
      video.requestVideoFrameCallback(tick);
    };
    video.requestVideoFrameCallback(tick);
  })()`);
}

/** Frames presented since `recordFrames`, and the longest gap between two of them (ms). */
export async function frameGaps(page: Evaluator): Promise<{ frames: number; longestGapMs: number; sinceLastMs: number }> {
  return page.evaluate(() => {
    const frames = (window as unknown as { __frames?: number[] }).__frames ?? [];
    let longest = 0;
    for (let i = 1; i < frames.length; i++) longest = Math.max(longest, frames[i] - frames[i - 1]);
    const last = frames[frames.length - 1];
    return { frames: frames.length, longestGapMs: Math.round(longest), sinceLastMs: last === undefined ? Infinity : Math.round(performance.now() - last) };
  });
}

/**
 * Video and audio both flowing: the viewer decodes frames, audio samples arrive, and both keep
 * rising over a second sample taken `gapMs` later.
 */
export async function assertMediaFlowing(page: Evaluator, gapMs = 1_500): Promise<{ first: MediaCounters; second: MediaCounters }> {
  const first = await waitFor(() => viewerCounters(page), (c) => c.framesDecoded > 0 && c.audioBytes > 0 && c.width > 0, 20_000, 'first frame and audio');
  await new Promise((r) => setTimeout(r, gapMs));
  const second = await viewerCounters(page);
  if (!(second.framesDecoded > first.framesDecoded)) throw new Error(`video stalled: ${JSON.stringify({ first, second })}`);
  if (!(second.audioBytes > first.audioBytes && second.audioSamples > first.audioSamples)) {
    throw new Error(`audio stalled: ${JSON.stringify({ first, second })}`);
  }
  return { first, second };
}
