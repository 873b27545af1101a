/**
 * How a room grows: the broadcaster's CPU (its whole Chromium, % of one core) and each viewer's
 * frame rate as viewers go from 1 to 8, in p2p (the broadcaster encodes once per viewer) and in
 * relay (it uploads once). The broadcaster runs in a Chromium of its own so its processes can
 * be measured apart from the viewers'.
 */
import type { Page } from 'playwright-core';
import { waitForState } from '../test/helpers/browser.js';
import { startLancast } from '../test/helpers/server.js';
import { cpuSeconds, measuredChromium, sleep, treeCpuSeconds, viewerVideo } from './lib.js';

export interface ScalingStep {
  mode: 'p2p' | 'relay';
  viewers: number;
  broadcasterCpuPercent: number;
  serverCpuPercent: number;
  viewerFpsMin: number;
  viewerFpsMean: number;
  viewerKbpsMean: number;
}

export async function scaling(counts = [1, 2, 4, 8], windowMs = 6_000): Promise<ScalingStep[]> {
  const server = await startLancast({ args: ['--log-level', 'warn'] });
  const pub = await measuredChromium('broadcaster');
  const view = await measuredChromium('viewers');
  const steps: ScalingStep[] = [];
  try {
    for (const mode of ['p2p', 'relay'] as const) {
      const room = `grow-${mode}`;
      const b = await pub.browser.newPage();
      await b.goto(`${server.url}/broadcast/${room}?key=test-key&autostart=1&mode=${mode}`);
      await waitForState(b, 'live');
      const viewers: Page[] = [];
      for (const n of counts) {
        while (viewers.length < n) {
          const v = await view.browser.newPage();
          await v.goto(`${server.url}/watch/${room}`);
          viewers.push(v);
        }
        for (const v of viewers) await waitForState(v, 'live', 30_000);
        await sleep(4_000);
        const cpu0 = treeCpuSeconds(pub.pid);
        const srv0 = cpuSeconds(server.proc.pid!);
        const a = await Promise.all(viewers.map(viewerVideo));
        const t0 = Date.now();
        await sleep(windowMs);
        const z = await Promise.all(viewers.map(viewerVideo));
        const seconds = (Date.now() - t0) / 1000;
        const cpu = treeCpuSeconds(pub.pid) - cpu0;
        const srv = cpuSeconds(server.proc.pid!) - srv0;
        const fps = z.map((s, i) => (s.frames - a[i].frames) / ((s.at - a[i].at) / 1000));
        const kbps = z.map((s, i) => ((s.bytes - a[i].bytes) * 8) / ((s.at - a[i].at) / 1000) / 1000);
        const step: ScalingStep = {
          mode,
          viewers: n,
          broadcasterCpuPercent: Math.round((cpu / seconds) * 100),
          serverCpuPercent: Math.round((srv / seconds) * 100),
          viewerFpsMin: Math.round(Math.min(...fps) * 10) / 10,
          viewerFpsMean: Math.round((fps.reduce((x, y) => x + y, 0) / fps.length) * 10) / 10,
          viewerKbpsMean: Math.round(kbps.reduce((x, y) => x + y, 0) / kbps.length),
        };
        steps.push(step);
        process.stderr.write(`  scaling: ${JSON.stringify(step)}\n`);
      }
      await Promise.all([b, ...viewers].map((p) => p.close()));
      await sleep(1_000);
    }
  } finally {
    await Promise.all([pub.browser.close(), view.browser.close()]);
    await server.stop();
  }
  return steps;
}
