/**
 * p2p against relay, side by side in one run: the publisher's encoder target and what a viewer
 * receives after 15 s (with the fake camera, and with noise the encoder cannot squeeze), and the
 * time from opening the watch page to its first frame.
 */
import { randomFillSync } from 'node:crypto';
import * as fs from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { Page } from 'playwright-core';
import { waitForState } from '../test/helpers/browser.js';
import { roomInfo, startLancast } from '../test/helpers/server.js';
import { firstFrameMs, measuredChromium, percentile, publisherVideo, sleep, viewerVideo, watchFirstFrame } from './lib.js';

/** A y4m clip of noise (60 frames, looped by Chromium's fake capture). */
export function noiseClip(width = 640, height = 480, frames = 60): string {
  const file = join(fs.mkdtempSync(join(tmpdir(), 'lancast-bench-')), 'noise.y4m');
  const fd = fs.openSync(file, 'w');
  fs.writeSync(fd, `YUV4MPEG2 W${width} H${height} F30:1 Ip A1:1 C420jpeg\n`);
  const frame = Buffer.alloc((width * height * 3) / 2);
  for (let i = 0; i < frames; i++) {
    randomFillSync(frame, 0, width * height);
    frame.fill(128, width * height);
    fs.writeSync(fd, 'FRAME\n');
    fs.writeSync(fd, frame);
  }
  fs.closeSync(fd);
  return file;
}

export interface QualityResult {
  content: string;
  mode: 'p2p' | 'relay';
  publisherTargetKbps: number;
  publisherLimitedBy: string;
  publisherWidth: number;
  viewerKbps: number;
  viewerFps: number;
  viewerWidth: number;
}

export async function quality(content: 'fake camera' | 'noise', seconds = 15): Promise<QualityResult[]> {
  const clip = content === 'noise' ? noiseClip() : undefined;
  const server = await startLancast({ args: ['--log-level', 'warn'] });
  const pub = await measuredChromium('publisher', clip ? [`--use-file-for-fake-video-capture=${clip}`] : []);
  const view = await measuredChromium('viewer');
  const results: QualityResult[] = [];
  try {
    for (const mode of ['p2p', 'relay'] as const) {
      const room = `quality-${mode}`;
      const b = await pub.browser.newPage();
      await b.goto(`${server.url}/broadcast/${room}?key=test-key&autostart=1&mode=${mode}`);
      await waitForState(b, 'live');
      const v = await view.browser.newPage();
      await v.goto(`${server.url}/watch/${room}`);
      await waitForState(v, 'live', 20_000);
      await sleep((seconds - 2) * 1000);
      const a = await viewerVideo(v);
      await sleep(2_000);
      const z = await viewerVideo(v);
      const p = await publisherVideo(b, mode === 'relay');
      const secs = (z.at - a.at) / 1000;
      results.push({
        content,
        mode,
        publisherTargetKbps: Math.round(p.targetBitrate / 1000),
        publisherLimitedBy: p.reason,
        publisherWidth: p.width,
        viewerKbps: Math.round(((z.bytes - a.bytes) * 8) / secs / 1000),
        viewerFps: Math.round((z.frames - a.frames) / secs),
        viewerWidth: z.width,
      });
      await Promise.all([b.close(), v.close()]);
      await sleep(1_000);
    }
  } finally {
    await Promise.all([pub.browser.close(), view.browser.close()]);
    await server.stop();
    if (clip) fs.rmSync(clip, { force: true });
  }
  return results;
}

/** The steps of a join, in order, as the first-frame table shows them (median ms since navigation). */
export const JOIN_STEPS = ['html', 'script', 'welcome', 'offer', 'answer', 'connected', 'frame'] as const;
export type JoinStep = (typeof JOIN_STEPS)[number];

/** `relay, paused`: every viewer is the first of a relayed room that had paused (nobody watching). */
export type FirstFrameMode = 'p2p' | 'relay' | 'relay, paused';

export type FirstFrameResult = {
  mode: FirstFrameMode;
  joins: number;
  p50: number;
  p95: number;
  min: number;
  max: number;
} & { [step in JoinStep]: number | '-' };

/**
 * Where a join's time went, in ms since navigation started: the HTML fully received (`html`),
 * the page bundle running (`script`), then the viewer's own timeline (src/client/viewer.ts):
 * the server's welcome handled, the offer received, the answer sent, the connection up, and the
 * first frame presented (`frame`, the measured figure).
 */
export async function joinSteps(page: Page, frame: number): Promise<Partial<Record<JoinStep, number>>> {
  const seen = (await page.evaluate<Record<string, number | undefined>>(`(() => {
    const nav = performance.getEntriesByType('navigation')[0];
    const t = (window.lancast && window.lancast.viewer && window.lancast.viewer.timeline) || {};
    return { html: nav ? nav.responseEnd : undefined, ...t };
  })()`));
  const out: Partial<Record<JoinStep, number>> = { frame };
  for (const step of JOIN_STEPS) {
    const v = seen[step];
    if (step !== 'frame' && typeof v === 'number') out[step] = Math.round(v);
  }
  return out;
}

/** Whether the relay has paused `room`'s broadcaster (nobody watching), from /api/rooms. */
export async function roomPaused(url: string, room: string): Promise<boolean> {
  return (await roomInfo(url, room))?.paused === true;
}

/**
 * Viewers open the watch page one after another; each records its first frame. p2p first; then
 * `relay` and `relay, paused` take turns, join by join, so whatever else the machine does falls
 * on both. `relay`: a server with `--pause-after 0`, its broadcaster always sending. `relay,
 * paused`: a server with `--pause-after 1`, and each viewer waits until the broadcaster has been
 * paused, so its join also restarts the broadcaster's encoders.
 */
export async function firstFrames(joins = 20): Promise<FirstFrameResult[]> {
  const server = await startLancast({ args: ['--log-level', 'warn', '--pause-after', '0'] });
  const pausing = await startLancast({ args: ['--log-level', 'warn', '--pause-after', '1'] });
  const pub = await measuredChromium('publisher');
  const view = await measuredChromium('viewer');
  const results: FirstFrameResult[] = [];
  const variants = [
    { mode: 'p2p' as const, url: server.url, room: 'join-p2p', roomMode: 'p2p' },
    { mode: 'relay' as const, url: server.url, room: 'join-relay', roomMode: 'relay' },
    { mode: 'relay, paused' as const, url: pausing.url, room: 'join-paused', roomMode: 'relay' },
  ];
  const times = new Map<FirstFrameMode, number[]>(variants.map((v) => [v.mode, []]));
  const steps = new Map<FirstFrameMode, Partial<Record<JoinStep, number>>[]>(variants.map((v) => [v.mode, []]));
  const join = async (variant: (typeof variants)[number]) => {
    if (variant.mode !== 'p2p') {
      // Both relay variants wait for the pausing room to pause, so one encoder runs at each join
      // start (the relay room's, which never pauses) plus, for `relay, paused`, the one restarting.
      const paused = variants[2];
      const deadline = Date.now() + 15_000;
      while (!(await roomPaused(paused.url, paused.room))) {
        if (Date.now() > deadline) throw new Error(`room ${paused.room} did not pause`);
        await sleep(100);
      }
      await sleep(500); // the broadcaster's last packets are in
    }
    const context = await view.browser.newContext();
    const v = await context.newPage();
    await watchFirstFrame(v);
    await v.goto(`${variant.url}/watch/${variant.room}`);
    const t = await firstFrameMs(v);
    times.get(variant.mode)!.push(t);
    steps.get(variant.mode)!.push(await joinSteps(v, t));
    await context.close();
    await sleep(300);
  };
  const broadcast = async (variant: (typeof variants)[number]) => {
    const b = await pub.browser.newPage();
    await b.goto(`${variant.url}/broadcast/${variant.room}?key=test-key&autostart=1&mode=${variant.roomMode}`);
    await waitForState(b, 'live');
    return b;
  };
  try {
    const p2p = await broadcast(variants[0]);
    await sleep(2_000);
    for (let i = 0; i < joins; i++) await join(variants[0]);
    await p2p.close();
    const relayed = [await broadcast(variants[1]), await broadcast(variants[2])];
    await sleep(2_000);
    for (let i = 0; i < joins; i++) for (const variant of variants.slice(1)) await join(variant);
    await Promise.all(relayed.map((b) => b.close()));
    for (const { mode } of variants) {
      const all = times.get(mode)!;
      const median = (step: JoinStep) => {
        const values = steps.get(mode)!.map((s) => s[step]).filter((v): v is number => v !== undefined);
        return values.length ? percentile(values, 50) : ('-' as const);
      };
      results.push({
        mode,
        joins,
        p50: percentile(all, 50),
        p95: percentile(all, 95),
        min: Math.min(...all),
        max: Math.max(...all),
        ...(Object.fromEntries(JOIN_STEPS.map((s) => [s, median(s)])) as { [step in JoinStep]: number | '-' }),
      });
    }
  } finally {
    await Promise.all([pub.browser.close(), view.browser.close()]);
    await Promise.all([server.stop(), pausing.stop()]);
  }
  return results;
}
