/** Real Chromium (Debian's) with a fake camera and microphone, driven by playwright-core. */
import { chromium, type Browser, type Page } from 'playwright-core';

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

export interface MediaCounters {
  framesDecoded: number;
  videoBytes: number;
  audioBytes: number;
  audioSamples: number;
  width: number;
  packetsLost: number;
}

/** The watch page's inbound counters, read from its RTCPeerConnection's getStats(). */
export async function viewerCounters(page: Page): Promise<MediaCounters> {
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

/** Poll until `check` passes or `timeoutMs` runs out; returns the last value. */
export async function waitFor<T>(read: () => Promise<T>, check: (v: T) => boolean, timeoutMs: number, what: string): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  let last: T = await read();
  while (!check(last)) {
    if (Date.now() > deadline) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}; last: ${JSON.stringify(last)}`);
    await new Promise((r) => setTimeout(r, 200));
    last = await read();
  }
  return last;
}

/** The page's <body data-state>. */
export function pageState(page: Page): Promise<string | undefined> {
  return page.evaluate(() => document.body.dataset.state);
}

export async function waitForState(page: Page, state: string, timeoutMs = 15_000): Promise<void> {
  await waitFor(() => pageState(page), (s) => s === state, timeoutMs, `data-state=${state} on ${page.url()}`);
}

/**
 * Video and audio both flowing: the viewer decodes frames, audio samples arrive, and both keep
 * rising over a second sample taken `gapMs` later.
 */
export async function assertMediaFlowing(page: Page, gapMs = 1_500): Promise<{ first: MediaCounters; second: MediaCounters }> {
  const first = await waitFor(() => viewerCounters(page), (c) => c.framesDecoded > 0 && c.audioBytes > 0 && c.width > 0, 20_000, 'first frame and audio');
  await new Promise((r) => setTimeout(r, gapMs));
  const second = await viewerCounters(page);
  if (!(second.framesDecoded > first.framesDecoded)) throw new Error(`video stalled: ${JSON.stringify({ first, second })}`);
  if (!(second.audioBytes > first.audioBytes && second.audioSamples > first.audioSamples)) {
    throw new Error(`audio stalled: ${JSON.stringify({ first, second })}`);
  }
  return { first, second };
}
