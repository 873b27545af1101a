/**
 * How relay viewers' quality adapts (issue 15), in one run: a 960x540 3-layer broadcast, two
 * viewers on this machine and one in a test host whose link is capped at 600 kbit/s and lifted,
 * several times: how long until the capped viewer plays a lower layer, the longest pause in its
 * picture around that switch, how long until it is back on the top layer once the cap lifts; the
 * bitrate of each layer; and the relay's CPU per forwarded packet for three viewers of the same
 * broadcast with simulcast and without (side by side, same server), then again with 20 more
 * viewers from the load generator (browser-like feedback, so Auto keeps them on the top layer):
 * with three viewers, receiving the two extra layers is a large share of the relay's work. With
 * every viewer on the top layer the relay has the broadcast page pause the other two (dynacast,
 * src/relay/dynacast.ts): the simulcast CPU is taken once they are paused, as a room settles.
 */
import { chromium as playwright, type Page } from 'playwright-core';
import { CHROMIUM, CHROMIUM_ARGS, launchChromium, recordFrames, waitFor, waitForState } from '../test/helpers/browser.js';
import { movingClip } from '../test/helpers/clip.js';
import { createTestHost } from '../test/helpers/netns.js';
import { cpuSeconds } from '../test/helpers/proc.js';
import { metricValue, roomInfo, startLancast } from '../test/helpers/server.js';
import { GeneratorCrowd } from './generator-crowd.js';
import { percentile, sleep } from './lib.js';

const CAP_BPS = 600_000;
const TOP = 540;

export interface LayerAdaptation {
  rounds: number;
  switchDownMsP50: number;
  switchDownMsP95: number;
  freezeAtSwitchMsMax: number;
  recoverMsP50: number;
  recoverMsP95: number;
  /** Each layer's highest received rate seen (while the capped viewer played it, or before it was paused), and whether it was paused at the end. */
  layers: { height: number; kbps: number; paused: boolean }[];
  cpuPerPacketUs: { simulcast: number; single: number; ratio: number };
  /** The same with 23 viewers (3 Chromium, 20 from the load generator). */
  cpuPerPacketUs23: { simulcast: number; single: number; ratio: number };
}

const height = (page: Page) => page.evaluate(() => document.querySelector<HTMLVideoElement>('video[data-testid="remote-video"]')!.videoHeight);
/** The longest pause between frames presented in the last `ms` (recordFrames first). */
const longestGap = (page: Page, ms: number) =>
  page.evaluate((ms) => {
    const now = performance.now();
    const frames = ((window as unknown as { __frames?: number[] }).__frames ?? []).filter((t) => t >= now - ms);
    let longest = 0;
    for (let i = 1; i < frames.length; i++) longest = Math.max(longest, frames[i] - frames[i - 1]);
    return Math.round(Math.max(longest, now - (frames.at(-1) ?? now - ms)));
  }, ms);

export async function layerAdaptation(rounds = 3): Promise<LayerAdaptation> {
  const clip = movingClip(960, 540);
  const host = await createTestHost({ loss: 0, delayMs: 5, rateBps: 0 });
  const server = await startLancast({ args: ['--host', host.hostAddress, '--log-level', 'warn'] });
  const here = await launchChromium([`--use-file-for-fake-video-capture=${clip.file}`]);
  const there = await playwright.launch({ executablePath: host.exec(CHROMIUM), headless: true, args: CHROMIUM_ARGS });
  const base = `http://${host.hostAddress}:${server.port}`;
  try {
    const downs: number[] = [];
    const freezes: number[] = [];
    const recoveries: number[] = [];
    // A layer nobody watches is paused (dynacast): its rate is read whenever it is received.
    const kbps = new Map<number, number>();
    const sampleLayers = async () => {
      const layers = (await roomInfo(base, 'adapt'))?.layers ?? [];
      for (const l of layers) kbps.set(l.height, Math.max(kbps.get(l.height) ?? 0, Math.round(l.bitsPerSecond / 1000)));
      return layers;
    };
    const context = await here.newContext({ ignoreHTTPSErrors: true });
    const b = await context.newPage();
    await b.goto(`https://${host.hostAddress}:${server.port}/broadcast/adapt?key=test-key&autostart=1&mode=relay`);
    const others = [await here.newPage(), await here.newPage()];
    for (const v of others) await v.goto(`${base}/watch/adapt`);
    const capped = await there.newPage();
    await capped.goto(`${base}/watch/adapt`);
    for (const v of [...others, capped]) await waitForState(v, 'live', 30_000);
    await waitFor(() => height(capped), (h) => h === TOP, 20_000, 'the top layer');
    await sampleLayers();
    await recordFrames(capped);
    for (let i = 0; i < rounds; i++) {
      host.setRate(CAP_BPS);
      const capAt = Date.now();
      await waitFor(() => height(capped), (h) => h > 0 && h < TOP, 15_000, 'a lower layer');
      downs.push(Date.now() - capAt);
      await sleep(3_000);
      await sampleLayers();
      freezes.push(await longestGap(capped, Date.now() - capAt + 500));
      host.setRate(0);
      const liftAt = Date.now();
      await waitFor(() => height(capped), (h) => h === TOP, 30_000, 'the top layer again');
      recoveries.push(Date.now() - liftAt);
      await sleep(3_000);
    }
    const layers = (await sampleLayers()).map((l) => ({ height: l.height, kbps: kbps.get(l.height) ?? 0, paused: l.paused }));
    await Promise.all([context.close(), capped.close(), ...others.map((v) => v.close())]);

    // CPU per forwarded packet: three viewers here, with simulcast and without; then 20
    // load-generator viewers more. In the order simulcast, single, single, simulcast, each
    // figure the mean of its two windows: the host's drift over the minutes of the runs (and
    // the capped rounds just before) falls on both alike.
    const cpu: Record<'simulcast' | 'single', number> = { simulcast: 0, single: 0 };
    const cpu23: Record<'simulcast' | 'single', number> = { simulcast: 0, single: 0 };
    const perPacket = async () => {
      const cpu0 = cpuSeconds(server.proc.pid!);
      const out0 = (await metricValue(base, 'lancast_relay_packets_forwarded_total')) ?? 0;
      await sleep(15_000);
      const cpu1 = cpuSeconds(server.proc.pid!);
      const out1 = (await metricValue(base, 'lancast_relay_packets_forwarded_total')) ?? 0;
      return ((cpu1 - cpu0) * 1e6) / Math.max(1, out1 - out0);
    };
    const simulcastOrNot = [['simulcast', ''], ['single', '&simulcast=0']] as const;
    for (const [i, [name, flag]] of [simulcastOrNot[0], simulcastOrNot[1], simulcastOrNot[1], simulcastOrNot[0]].entries()) {
      const room = `cpu-${name}-${i}`;
      const ctx = await here.newContext({ ignoreHTTPSErrors: true });
      const pub = await ctx.newPage();
      await pub.goto(`https://${host.hostAddress}:${server.port}/broadcast/${room}?key=test-key&autostart=1&mode=relay${flag}`);
      const viewers = [await here.newPage(), await here.newPage(), await here.newPage()];
      for (const v of viewers) await v.goto(`${base}/watch/${room}`);
      for (const v of viewers) await waitForState(v, 'live', 30_000);
      await sleep(5_000);
      // Settled: every viewer on the top layer, and the layers nobody wants paused.
      if (name === 'simulcast') await waitFor(async () => ((await roomInfo(base, room))?.layers ?? []).filter((l) => l.paused).length, (n) => n >= 2, 30_000, 'the lower layers paused');
      cpu[name] += (await perPacket()) / 2;
      const crowd = new GeneratorCrowd(base, room);
      try {
        await crowd.grow(20);
        await sleep(5_000);
        cpu23[name] += (await perPacket()) / 2;
      } finally {
        await crowd.stop();
      }
      await Promise.all([ctx.close(), ...viewers.map((v) => v.close())]);
      await sleep(1_000);
    }
    const ratio = (c: typeof cpu) => ({ simulcast: Math.round(c.simulcast * 10) / 10, single: Math.round(c.single * 10) / 10, ratio: Math.round((c.simulcast / c.single) * 100) / 100 });
    return {
      rounds,
      switchDownMsP50: percentile(downs, 50),
      switchDownMsP95: percentile(downs, 95),
      freezeAtSwitchMsMax: Math.max(...freezes),
      recoverMsP50: percentile(recoveries, 50),
      recoverMsP95: percentile(recoveries, 95),
      layers,
      cpuPerPacketUs: ratio(cpu),
      cpuPerPacketUs23: ratio(cpu23),
    };
  } finally {
    await there.close();
    await here.close();
    await server.stop();
    host.remove();
    clip.remove();
  }
}
