/**
 * `npm run bench -- cluster`: lancast as several nodes on one Redis (all on this machine), in one
 * run: glass-to-glass latency straight from the origin against through one edge (two viewers of
 * one broadcast opened together and measured in the same windows, the clock drawn into the picture
 * as in latency.ts); the origin's CPU serving three local viewers against serving three edges of
 * 100 headless viewers each (one upstream per edge); and how long a viewer takes to play again when
 * its edge dies.
 */
import type { Browser, Page } from 'playwright-core';
import { recordFrames, waitForState } from '../test/helpers/browser.js';
import { pageNow, playsAgain } from '../test/helpers/recovery.js';
import { startNode, startRedis } from '../test/helpers/redis.js';
import { metricValue, type Lancast } from '../test/helpers/server.js';
import { BROADCASTER, VIEWER } from './latency.js';
import { cpuSeconds, measuredChromium, percentile, sleep } from './lib.js';
import { child } from './relay/load.js';

export type LatencyRound = {
  round: number;
  /** Which viewer's page was opened first (both are opened at once; this one's navigation starts first). */
  first: string;
  originP50: number;
  originP95: number;
  edgeP50: number;
  edgeP95: number;
  addedP50: number;
  addedP95: number;
  /** Each viewer's mean jitter-buffer delay over the window (getStats), origin / edge. */
  jitterBufferMs: string;
  /** addedP50 less the edge viewer's extra jitter-buffer delay: what the hop adds in transport. */
  addedP50BeyondBuffer: number;
};

export interface ClusterResult {
  latency: { path: string; samples: number; p50: number; p95: number; jitterBufferMs: number; addedP50: number | '-'; addedP95: number | '-' }[];
  latencyRounds: LatencyRound[];
  cpu: { case: string; viewers: number; connected: number; receiving: number; originCpuPercent: number; upstreamsPerEdge: string; windowS: number }[];
  recovery: { fault: string; playingAgainMs: number; frozenMs: number }[];
}

interface InboundVideo {
  jitterBufferDelay: number;
  emitted: number;
}

/** A watch page's inbound video: the jitter buffer's running totals. */
function inboundVideo(page: Page): Promise<InboundVideo> {
  return page.evaluate<InboundVideo>(`(async () => {
    const out = { jitterBufferDelay: 0, emitted: 0 };
    const pc = window.lancast.viewer.peerConnection;
    if (!pc) return out;
    (await pc.getStats()).forEach((s) => {
      if (s.type === 'inbound-rtp' && s.kind === 'video') {
        out.jitterBufferDelay = s.jitterBufferDelay || 0;
        out.emitted = s.jitterBufferEmittedCount || 0;
      }
    });
    return out;
  })()`);
}

const meanBufferMs = (a: InboundVideo, b: InboundVideo) => Math.round(((b.jitterBufferDelay - a.jitterBufferDelay) / Math.max(1, b.emitted - a.emitted)) * 1000);

async function clockViewer(page: Page, url: string): Promise<void> {
  await page.addInitScript(VIEWER);
  await page.goto(url);
  await waitForState(page, 'live', 60_000);
}

async function originCpu(origin: Lancast, windowS: number): Promise<number> {
  const before = cpuSeconds(origin.proc.pid!);
  await sleep(windowS * 1000);
  return Math.round(((cpuSeconds(origin.proc.pid!) - before) / windowS) * 1000) / 10;
}

/**
 * Glass-to-glass through an edge and straight from the origin. Each round opens a fresh pair of
 * viewers at once (which one navigates first alternates), lets both warm up (first keyframes,
 * jitter buffers settling after the join), then reads both in the same window: a viewer measured
 * while the other is still joining, or one that joined alone into a resuming room, does not
 * decide a figure. The jitter buffer's own delay is read alongside, to tell buffering from transport.
 */
async function edgeLatency(browser: Browser, origin: Lancast, edge: Lancast, rounds: number, windowMs: number, warmUpMs: number, result: ClusterResult): Promise<void> {
  const pooled = { origin: [] as number[], edge: [] as number[], buffer: { origin: [] as number[], edge: [] as number[] } };
  for (let round = 0; round < rounds; round++) {
    const direct = await browser.newPage();
    const viaEdge = await browser.newPage();
    const pair = round % 2 === 0 ? [[direct, origin], [viaEdge, edge]] as const : [[viaEdge, edge], [direct, origin]] as const;
    await Promise.all(pair.map(([page, node]) => clockViewer(page, `${node.url}/watch/bench`)));
    await sleep(warmUpMs);
    const stats0 = await Promise.all([direct, viaEdge].map(inboundVideo));
    await Promise.all([direct, viaEdge].map((p) => p.evaluate('window.__latency = []; window.__collect = true')));
    await sleep(windowMs);
    const [d, e] = await Promise.all([direct, viaEdge].map((p) => p.evaluate<number[]>('window.__collect = false; window.__latency.slice()')));
    const stats1 = await Promise.all([direct, viaEdge].map(inboundVideo));
    await Promise.all([direct.close(), viaEdge.close()]);
    if (d.length < 10 || e.length < 10) throw new Error(`round ${round}: only ${d.length} (origin) and ${e.length} (edge) readable frames`);
    const buffers = [meanBufferMs(stats0[0], stats1[0]), meanBufferMs(stats0[1], stats1[1])] as const;
    pooled.origin.push(...d);
    pooled.edge.push(...e);
    pooled.buffer.origin.push(buffers[0]);
    pooled.buffer.edge.push(buffers[1]);
    const [o50, o95, e50, e95] = [percentile(d, 50), percentile(d, 95), percentile(e, 50), percentile(e, 95)];
    result.latencyRounds.push({
      round: round + 1,
      first: round % 2 === 0 ? 'origin' : 'edge',
      originP50: o50,
      originP95: o95,
      edgeP50: e50,
      edgeP95: e95,
      addedP50: e50 - o50,
      addedP95: e95 - o95,
      jitterBufferMs: `${buffers[0]} / ${buffers[1]}`,
      addedP50BeyondBuffer: e50 - o50 - (buffers[1] - buffers[0]),
    });
    await sleep(1_000);
  }
  const median = (xs: number[]) => percentile(xs, 50);
  const [o50, o95, e50, e95] = [percentile(pooled.origin, 50), percentile(pooled.origin, 95), percentile(pooled.edge, 50), percentile(pooled.edge, 95)];
  result.latency.push({ path: 'straight from the origin', samples: pooled.origin.length, p50: o50, p95: o95, jitterBufferMs: median(pooled.buffer.origin), addedP50: '-', addedP95: '-' });
  result.latency.push({ path: 'through one edge', samples: pooled.edge.length, p50: e50, p95: e95, jitterBufferMs: median(pooled.buffer.edge), addedP50: e50 - o50, addedP95: e95 - o95 });
}

/** Headless WHEP viewers (werift, counted by the native sink) in child processes, one per node. */
async function headlessViewers(nodes: Lancast[], perNode: number): Promise<{ connected: number; receiving: number; stop: () => Promise<void> }> {
  const gens = nodes.map((n) => child('./subscribers.ts', [n.url, 'bench', String(perNode), '--sink', 'native']));
  const sum = (key: 'viewers' | 'failed' | 'receiving') => gens.reduce((t, g) => t + Math.max(0, g.last()?.[key] ?? 0), 0);
  const want = nodes.length * perNode;
  const deadline = Date.now() + 20_000 + want * 100;
  while (sum('viewers') + sum('failed') < want && Date.now() < deadline) await sleep(250);
  await sleep(5_000); // past the join burst and the first keyframes
  return {
    connected: sum('viewers'),
    receiving: sum('receiving'),
    async stop() {
      await Promise.all(gens.map((g) => new Promise((resolve) => {
        if (g.proc.exitCode !== null) return resolve(undefined);
        g.proc.once('exit', resolve);
        g.proc.kill('SIGTERM');
      })));
    },
  };
}

export async function clusterBench(seconds = 10, perEdge = 100, rounds = 4): Promise<ClusterResult> {
  const redis = await startRedis();
  const nodes: Lancast[] = [];
  const { browser } = await measuredChromium('cluster');
  const result: ClusterResult = { latency: [], latencyRounds: [], cpu: [], recovery: [] };
  try {
    for (let i = 0; i < 4; i++) nodes.push(await startNode(redis, { args: ['--log-level', 'warn', '--pause-after', '0'] }));
    const [origin, ...edges] = nodes as [Lancast, Lancast, Lancast, Lancast];
    const broadcaster = await browser.newPage();
    await broadcaster.addInitScript(BROADCASTER);
    await broadcaster.goto(`${origin.url}/broadcast/bench?key=test-key&autostart=1&mode=relay`);
    await waitForState(broadcaster, 'live', 60_000);

    await edgeLatency(browser, origin, edges[0], rounds, 5_000, 5_000, result);

    // The origin's CPU: three headless viewers of its own, three edges of `perEdge` each, and the
    // three local viewers again (the two local windows bracket the edges' one, to show the noise).
    const row = async (name: string, on: Lancast[], per: number) => {
      const v = await headlessViewers(on, per);
      try {
        const cpu = await originCpu(origin, seconds);
        const upstreams = on[0] === origin ? '-' : (await Promise.all(edges.map(async (n) => (await metricValue(n.url, 'lancast_cluster_upstreams')) ?? NaN))).join(' ');
        result.cpu.push({ case: name, viewers: on.length * per, connected: v.connected, receiving: v.receiving, originCpuPercent: cpu, upstreamsPerEdge: upstreams, windowS: seconds });
      } finally {
        await v.stop();
      }
      await sleep(2_000);
    };
    await row('3 viewers on the origin', [origin], 3);
    await row(`3 edges, ${perEdge} viewers each`, edges, perEdge);
    await row('3 viewers on the origin, again', [origin], 3);

    // An edge dies: how long its viewer takes to play again from another node (two edges, in turn).
    for (const [i, edge] of edges.slice(0, 2).entries()) {
      const victim = await browser.newPage();
      await victim.goto(`${edge.url}/watch/bench`);
      await waitForState(victim, 'live', 60_000);
      await recordFrames(victim);
      await sleep(2_000);
      const faultAt = await pageNow(victim);
      edge.proc.kill('SIGKILL');
      result.recovery.push({ fault: `the edge of a viewer dies (SIGKILL), ${i === 0 ? 'first' : 'second'} edge`, ...(await playsAgain(victim, faultAt, 'the viewer of the dead edge')) });
      await victim.close();
    }
  } finally {
    await browser.close();
    await Promise.all(nodes.map((n) => n.stop()));
    await redis.stop();
  }
  return result;
}
