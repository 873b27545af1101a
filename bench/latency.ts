/**
 * Glass-to-glass latency, p2p and relay side by side: the broadcaster's camera is replaced by a
 * canvas that draws the wall clock (Date.now(), in ms) as two rows of black and white blocks on
 * every frame; the watch page reads the blocks back from each frame its <video> presents
 * (requestVideoFrameCallback + drawImage + getImageData) and records now - then. Both pages run in
 * one browser on one machine, so they share a clock. A code carries a checksum: frames whose
 * blocks were smeared by the encoder are rejected, not guessed. The modes take turns in short
 * windows, one pipeline at a time, and each row carries the machine's CPU use while it was measured:
 * on a shared 2-core box, load from elsewhere moves these figures by tens of ms.
 */
import { readFileSync } from 'node:fs';
import type { Page } from 'playwright-core';
import { waitForState } from '../test/helpers/browser.js';
import { startLancast } from '../test/helpers/server.js';
import { measuredChromium, percentile, sleep } from './lib.js';

/** Shared by both pages: 48 bits = the clock's low 40 bits and an 8-bit checksum, 24 blocks a row. */
const CODE = `
  const COLS = 24, ROWS = 2, BITS = 48, W = 640, H = 480, BLOCK = 24, TOP = 16, LEFT = 32;
  const checksum = (v) => { let s = 0x5a; for (let i = 0; i < 5; i++) s = (s + Math.floor(v / 2 ** (8 * i)) % 256) % 256; return s; };
  const encodeBits = (ms) => { const v = ms % 2 ** 40; const bits = []; for (let i = 0; i < 40; i++) bits.push(Math.floor(v / 2 ** i) % 2); const c = checksum(v); for (let i = 0; i < 8; i++) bits.push((c >> i) & 1); return bits; };
  const decodeBits = (bits, nowMs) => {
    let v = 0; for (let i = 0; i < 40; i++) v += bits[i] * 2 ** i;
    let c = 0; for (let i = 0; i < 8; i++) c |= bits[40 + i] << i;
    if (c !== checksum(v)) return undefined;
    const base = nowMs - (nowMs % 2 ** 40);
    let ms = base + v; if (ms > nowMs + 1000) ms -= 2 ** 40;
    return ms;
  };
  const drawCode = (ctx, ms) => {
    ctx.fillStyle = '#808080'; ctx.fillRect(LEFT - 8, TOP - 8, COLS * BLOCK + 16, ROWS * BLOCK + 16);
    encodeBits(ms).forEach((bit, i) => { ctx.fillStyle = bit ? '#ffffff' : '#000000'; ctx.fillRect(LEFT + (i % COLS) * BLOCK, TOP + Math.floor(i / COLS) * BLOCK, BLOCK, BLOCK); });
  };
  /** Read the code from an image of any size (the encoder may have scaled the picture down). */
  const readCode = (data, width, height, nowMs) => {
    const sx = width / W, sy = height / H, bits = [];
    for (let i = 0; i < BITS; i++) {
      const cx = (LEFT + (i % COLS) * BLOCK + BLOCK / 2) * sx, cy = (TOP + Math.floor(i / COLS) * BLOCK + BLOCK / 2) * sy;
      let sum = 0, n = 0;
      for (let dy = -3; dy <= 3; dy++) for (let dx = -3; dx <= 3; dx++) {
        const x = Math.round(cx + dx * sx), y = Math.round(cy + dy * sy), o = (y * width + x) * 4;
        sum += 0.299 * data[o] + 0.587 * data[o + 1] + 0.114 * data[o + 2]; n++;
      }
      const l = sum / n;
      if (l > 80 && l < 176) return undefined; // neither black nor white: a smeared block
      bits.push(l >= 128 ? 1 : 0);
    }
    return decodeBits(bits, nowMs);
  };
`;

/** Broadcaster: the camera becomes a canvas showing the clock, plus a quiet tone. */
export const BROADCASTER = `(() => {
  ${CODE}
  const canvas = document.createElement('canvas'); canvas.width = W; canvas.height = H;
  const ctx = canvas.getContext('2d', { willReadFrequently: true });
  let frame = 0;
  const draw = () => {
    frame++;
    ctx.fillStyle = '#203040'; ctx.fillRect(0, 0, W, H);
    ctx.fillStyle = '#c08040'; ctx.fillRect((frame * 7) % (W - 100), 200 + (frame % 60), 100, 100);
    drawCode(ctx, Date.now());
  };
  draw();
  setInterval(draw, 1000 / 60);
  // The code must read back, or nothing downstream can be trusted: from the canvas itself, after
  // the picture is halved and JPEG-compressed hard (harsher than the video path), and a code with
  // any one bit flipped must be rejected, not misread.
  window.__codeSelfTest = (async () => {
    const fails = [];
    const probe = Date.now(); drawCode(ctx, probe);
    const got = readCode(ctx.getImageData(0, 0, W, H).data, W, H, probe + 5);
    if (got !== probe) fails.push('canvas read back ' + got + ' for ' + probe);
    const small = document.createElement('canvas'); small.width = W / 2; small.height = H / 2;
    const sctx = small.getContext('2d', { willReadFrequently: true }); sctx.drawImage(canvas, 0, 0, W / 2, H / 2);
    const img = new Image(); img.src = small.toDataURL('image/jpeg', 0.3); await img.decode();
    sctx.drawImage(img, 0, 0);
    const lossy = readCode(sctx.getImageData(0, 0, W / 2, H / 2).data, W / 2, H / 2, probe + 5);
    if (lossy !== probe) fails.push('half-size JPEG read back ' + lossy + ' for ' + probe);
    const bits = encodeBits(probe);
    if (decodeBits(bits, probe + 5) !== probe) fails.push('bits do not round-trip');
    for (let i = 0; i < BITS; i++) {
      const bad = bits.slice(); bad[i] ^= 1;
      if (decodeBits(bad, probe + 5) !== undefined) fails.push('bit ' + i + ' flipped was accepted');
    }
    return fails.length === 0 ? true : fails.join('; ');
  })();
  navigator.mediaDevices.getUserMedia = async () => {
    const stream = canvas.captureStream(30);
    const audio = new AudioContext(); const osc = audio.createOscillator(); const gain = audio.createGain();
    gain.gain.value = 0.01; osc.connect(gain); const dest = audio.createMediaStreamDestination(); gain.connect(dest); osc.start();
    stream.addTrack(dest.stream.getAudioTracks()[0]);
    return stream;
  };
})()`;

/** Viewer: every presented frame's code, against the clock at presentation. */
export const VIEWER = `(() => {
  ${CODE}
  window.__latency = []; window.__unreadable = 0;
  const canvas = document.createElement('canvas'); const ctx = canvas.getContext('2d', { willReadFrequently: true });
  const arm = () => {
    const video = document.querySelector('video[data-testid="remote-video"]');
    if (!video) return requestAnimationFrame(arm);
    const onFrame = () => {
      const now = Date.now();
      if (video.videoWidth > 0) {
        if (canvas.width !== video.videoWidth) { canvas.width = video.videoWidth; canvas.height = video.videoHeight; }
        ctx.drawImage(video, 0, 0);
        const then = readCode(ctx.getImageData(0, 0, canvas.width, canvas.height).data, canvas.width, canvas.height, now);
        if (then === undefined || now - then < 0 || now - then > 5000) window.__unreadable++;
        else if (window.__collect) window.__latency.push(now - then);
      }
      video.requestVideoFrameCallback(onFrame);
    };
    video.requestVideoFrameCallback(onFrame);
  };
  document.addEventListener('DOMContentLoaded', arm);
})()`;

export interface LatencyResult {
  mode: 'p2p' | 'relay';
  samples: number;
  unreadableFrames: number;
  p50: number;
  p95: number;
  min: number;
  max: number;
  /** The whole machine's CPU use while this mode was measured (other users of the box included). */
  machineBusyPercent: number;
  /** Over p2p's figure of the same run (relay rows only). */
  addedP50?: number;
  addedP95?: number;
}

/** Busy and total CPU jiffies of the whole machine, from /proc/stat. */
function machineJiffies(): { busy: number; total: number } {
  const f = readFileSync('/proc/stat', 'utf8').split('\n')[0].trim().split(/\s+/).slice(1, 9).map(Number);
  const total = f.reduce((a, b) => a + b, 0);
  return { busy: total - f[3] - f[4], total };
}

/**
 * `seconds` of frames per mode, in `rounds` windows that alternate p2p, relay, p2p, relay, each on
 * a fresh room and pages, so that a burst of load from elsewhere on the machine falls on both modes
 * rather than on one. Only one broadcaster and one viewer run at a time: both pipelines at once load
 * two cores enough to double the figures.
 */
export async function latency(seconds = 10, rounds = 2): Promise<LatencyResult[]> {
  const server = await startLancast({ args: ['--log-level', 'warn'] });
  const { browser } = await measuredChromium('latency');
  const modes = ['p2p', 'relay'] as const;
  const pooled = Object.fromEntries(modes.map((m) => [m, { samples: [] as number[], unreadable: 0, busy: 0, total: 0 }]));
  const windowMs = (seconds * 1000) / rounds;
  try {
    for (let round = 0; round < rounds; round++) {
      for (const mode of modes) {
        const room = `latency-${mode}-${round}`;
        const b = await browser.newPage();
        await b.addInitScript(BROADCASTER);
        await b.goto(`${server.url}/broadcast/${room}?key=test-key&autostart=1&mode=${mode}`);
        const selfTest = await b.evaluate('window.__codeSelfTest');
        if (selfTest !== true) throw new Error(`the latency code failed its self-test: ${String(selfTest)}`);
        await waitForState(b, 'live');
        const v: Page = await browser.newPage();
        await v.addInitScript(VIEWER);
        await v.goto(`${server.url}/watch/${room}`);
        await waitForState(v, 'live', 20_000);
        await sleep(3_000); // past the first keyframes and the jitter buffer's settling
        const before = machineJiffies();
        await v.evaluate('window.__collect = true; window.__unreadable = 0');
        await sleep(windowMs);
        const samples = (await v.evaluate<number[]>('window.__collect = false; window.__latency.slice()'));
        const unreadable = (await v.evaluate<number>('window.__unreadable'));
        const after = machineJiffies();
        if (samples.length < (windowMs / 1000) * 5) throw new Error(`${mode}: only ${samples.length} readable frames in ${windowMs / 1000} s (${unreadable} unreadable)`);
        const p = pooled[mode];
        p.samples.push(...samples);
        p.unreadable += unreadable;
        p.busy += after.busy - before.busy;
        p.total += after.total - before.total;
        await Promise.all([b.close(), v.close()]);
        await sleep(1_000);
      }
    }
  } finally {
    await browser.close();
    await server.stop();
  }
  const results: LatencyResult[] = modes.map((mode) => {
    const { samples, unreadable, busy, total } = pooled[mode];
    return {
      mode,
      samples: samples.length,
      unreadableFrames: unreadable,
      p50: percentile(samples, 50),
      p95: percentile(samples, 95),
      min: Math.min(...samples),
      max: Math.max(...samples),
      machineBusyPercent: Math.round((busy / Math.max(1, total)) * 100),
    };
  });
  const p2p = results.find((r) => r.mode === 'p2p')!;
  for (const r of results) if (r.mode === 'relay') Object.assign(r, { addedP50: r.p50 - p2p.p50, addedP95: r.p95 - p2p.p95 });
  return results;
}
