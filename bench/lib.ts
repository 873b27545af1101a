/** Small measuring tools shared by the benchmarks. */
import { readdirSync, readFileSync } from 'node:fs';
import type { Browser, Page } from 'playwright-core';
import { launchChromium } from '../test/helpers/browser.js';
import { procStat } from '../test/helpers/proc.js';

export { cpuSeconds, rssMiB } from '../test/helpers/proc.js';

/** CPU seconds (user + system) of a process and all its descendants. */
export function treeCpuSeconds(root: number): number {
  const children = new Map<number, number[]>();
  const cpu = new Map<number, number>();
  for (const name of readdirSync('/proc')) {
    const pid = Number(name);
    if (!Number.isInteger(pid)) continue;
    const s = procStat(pid);
    if (!s) continue;
    cpu.set(pid, s.cpuSeconds);
    children.set(s.ppid, [...(children.get(s.ppid) ?? []), pid]);
  }
  let total = 0;
  const stack = [root];
  while (stack.length) {
    const pid = stack.pop()!;
    total += cpu.get(pid) ?? 0;
    stack.push(...(children.get(pid) ?? []));
  }
  return total;
}

/** The pid of the Chromium whose command line carries `marker`. */
export function findChromium(marker: string): number {
  for (const name of readdirSync('/proc')) {
    const pid = Number(name);
    if (!Number.isInteger(pid)) continue;
    try {
      const cmd = readFileSync(`/proc/${pid}/cmdline`, 'utf8');
      if (cmd.includes(marker) && !cmd.includes('--type=')) return pid;
    } catch {
      // gone
    }
  }
  throw new Error(`no Chromium with ${marker}`);
}

/** A Chromium whose process tree can be measured. */
export async function measuredChromium(name: string, extraArgs: string[] = []): Promise<{ browser: Browser; pid: number }> {
  const marker = `--lancast-bench=${name}-${process.pid}-${Date.now()}`;
  const browser = await launchChromium([marker, ...extraArgs]);
  return { browser, pid: findChromium(marker) };
}

export function percentile(values: number[], p: number): number {
  if (values.length === 0) return NaN;
  const sorted = [...values].sort((a, b) => a - b);
  const i = Math.min(sorted.length - 1, Math.max(0, Math.ceil((p / 100) * sorted.length) - 1));
  return sorted[i];
}

export const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/**
 * Record, inside the page, when the watch page's video presents its first frame, in ms since
 * navigation started (performance.now()). Install before `goto`.
 */
export async function watchFirstFrame(page: Page): Promise<void> {
  await page.addInitScript(`(() => {
    const arm = () => {
      const video = document.querySelector('video[data-testid="remote-video"]');
      if (!video) return requestAnimationFrame(arm);
      video.requestVideoFrameCallback(() => { window.__firstFrame = performance.now(); });
    };
    document.addEventListener('DOMContentLoaded', arm);
  })()`);
}

export async function firstFrameMs(page: Page, timeoutMs = 20_000): Promise<number> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const t = (await page.evaluate<number | undefined>('window.__firstFrame'));
    if (typeof t === 'number') return Math.round(t);
    if (Date.now() > deadline) throw new Error('no first frame');
    await sleep(50);
  }
}

/** Sum of every outbound video RTP stream's stats on a broadcaster page's connections. */
export async function publisherVideo(page: Page, relay: boolean): Promise<{ targetBitrate: number; reason: string; width: number; fps: number }> {
  return (await page.evaluate<{ targetBitrate: number; reason: string; width: number; fps: number }>(`(async () => {
    const b = window.lancast.broadcaster;
    const pc = ${relay} ? b.publishing && b.publishing.pc : [...b.connections.values()][0] && [...b.connections.values()][0].pc;
    const out = { targetBitrate: 0, reason: 'none', width: 0, fps: 0 };
    if (!pc) return out;
    (await pc.getStats()).forEach((s) => {
      // A simulcast sender has one per layer: the target is their sum, the rest the widest's.
      if (s.type === 'outbound-rtp' && s.kind === 'video') {
        out.targetBitrate += s.targetBitrate || 0;
        if ((s.frameWidth || 0) >= out.width) {
          out.reason = s.qualityLimitationReason || 'none';
          out.width = s.frameWidth || 0;
          out.fps = s.framesPerSecond || 0;
        }
      }
    });
    return out;
  })()`));
}

/** A watch page's inbound video: bytes and frames, to difference over a window. */
export async function viewerVideo(page: Page): Promise<{ bytes: number; frames: number; width: number; at: number }> {
  return (await page.evaluate<{ bytes: number; frames: number; width: number; at: number }>(`(async () => {
    const pc = window.lancast.viewer.peerConnection;
    const out = { bytes: 0, frames: 0, width: 0, at: performance.now() };
    if (!pc) return out;
    (await pc.getStats()).forEach((s) => {
      if (s.type === 'inbound-rtp' && s.kind === 'video') {
        out.bytes = s.bytesReceived || 0;
        out.frames = s.framesDecoded || 0;
        out.width = s.frameWidth || 0;
      }
    });
    return out;
  })()`));
}
