/**
 * `npm run bench -- cluster`: lancast as several nodes on one Redis (all on this machine), in one
 * run: glass-to-glass latency straight from the origin against through one edge (two viewers of
 * one broadcast at once, the clock drawn into the picture as in latency.ts); the origin's CPU
 * serving three local viewers against serving three edges (one upstream each, whatever their
 * viewers); and how long a viewer takes to play again when its edge dies.
 */
import type { Page } from 'playwright-core';
import { recordFrames, waitForState } from '../test/helpers/browser.js';
import { pageNow, playsAgain } from '../test/helpers/recovery.js';
import { startNode, startRedis } from '../test/helpers/redis.js';
import { metricValue, type Lancast } from '../test/helpers/server.js';
import { BROADCASTER, VIEWER } from './latency.js';
import { cpuSeconds, measuredChromium, percentile, sleep } from './lib.js';

export interface ClusterResult {
  latency: { path: string; samples: number; p50: number; p95: number; addedP50: number | '-'; addedP95: number | '-' }[];
  cpu: { case: string; viewers: number; originCpuPercent: number; upstreamsPerEdge: string; windowS: number }[];
  recovery: { fault: string; playingAgainMs: number; frozenMs: number }[];
}

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

export async function clusterBench(seconds = 10, perEdge = 2, rounds = 2): Promise<ClusterResult> {
  const redis = await startRedis();
  const nodes: Lancast[] = [];
  const { browser } = await measuredChromium('cluster');
  const result: ClusterResult = { latency: [], cpu: [], recovery: [] };
  try {
    for (let i = 0; i < 4; i++) nodes.push(await startNode(redis, { args: ['--log-level', 'warn', '--pause-after', '0'] }));
    const [origin, ...edges] = nodes as [Lancast, Lancast, Lancast, Lancast];
    const broadcaster = await browser.newPage();
    await broadcaster.addInitScript(BROADCASTER);
    await broadcaster.goto(`${origin.url}/broadcast/bench?key=test-key&autostart=1&mode=relay`);
    await waitForState(broadcaster, 'live', 60_000);

    // Latency: one viewer on the origin and one on an edge, measured in the same windows; fresh
    // pages each round, opened in turn first, so a viewer that joined during a burst of load from
    // elsewhere (its jitter buffer grown) does not decide a whole figure.
    const pooled: [number[], number[]] = [[], []];
    for (let round = 0; round < rounds; round++) {
      const direct = await browser.newPage();
      const viaEdge = await browser.newPage();
      const order = round % 2 === 0 ? [[direct, origin], [viaEdge, edges[0]]] as const : [[viaEdge, edges[0]], [direct, origin]] as const;
      for (const [page, node] of order) await clockViewer(page, `${node.url}/watch/bench`);
      await sleep(3_000);
      for (const p of [direct, viaEdge]) await p.evaluate('window.__collect = true');
      await sleep((seconds * 1000) / rounds);
      const got = await Promise.all([direct, viaEdge].map((p) => p.evaluate<number[]>('window.__collect = false; window.__latency.slice()')));
      pooled[0].push(...got[0]);
      pooled[1].push(...got[1]);
      await Promise.all([direct.close(), viaEdge.close()]);
      await sleep(2_000);
    }
    const [d, e] = pooled.map((s) => ({ p50: percentile(s, 50), p95: percentile(s, 95), n: s.length })) as [{ p50: number; p95: number; n: number }, { p50: number; p95: number; n: number }];
    result.latency.push({ path: 'straight from the origin', samples: d.n, p50: d.p50, p95: d.p95, addedP50: '-', addedP95: '-' });
    result.latency.push({ path: 'through one edge', samples: e.n, p50: e.p50, p95: e.p95, addedP50: e.p50 - d.p50, addedP95: e.p95 - d.p95 });

    // The origin's CPU: three viewers of its own, then three edges with `perEdge` viewers each.
    const local = await Promise.all([0, 1, 2].map(() => browser.newPage()));
    for (const p of local) {
      await p.goto(`${origin.url}/watch/bench`);
      await waitForState(p, 'live', 60_000);
    }
    await sleep(3_000);
    result.cpu.push({ case: '3 viewers on the origin', viewers: 3, originCpuPercent: await originCpu(origin, seconds), upstreamsPerEdge: '-', windowS: seconds });
    await Promise.all(local.map((p) => p.close()));
    const remote: Page[] = [];
    for (const edge of edges) {
      for (let i = 0; i < perEdge; i++) {
        const p = await browser.newPage();
        await p.goto(`${edge.url}/watch/bench`);
        await waitForState(p, 'live', 60_000);
        remote.push(p);
      }
    }
    await sleep(3_000);
    const cpu = await originCpu(origin, seconds);
    const upstreams = await Promise.all(edges.map(async (n) => (await metricValue(n.url, 'lancast_cluster_upstreams')) ?? NaN));
    result.cpu.push({ case: `3 edges, ${perEdge} viewers each`, viewers: 3 * perEdge, originCpuPercent: cpu, upstreamsPerEdge: upstreams.join(' '), windowS: seconds });

    // An edge dies: how long its viewer takes to play again from another node (two edges, in turn).
    for (const [i, edge] of edges.slice(0, 2).entries()) {
      const victim = remote[i * perEdge];
      await recordFrames(victim);
      await sleep(2_000);
      const faultAt = await pageNow(victim);
      edge.proc.kill('SIGKILL');
      result.recovery.push({ fault: `the edge of a viewer dies (SIGKILL), ${i === 0 ? 'first' : 'second'} edge`, ...(await playsAgain(victim, faultAt, 'the viewer of the dead edge')) });
    }
    await Promise.all(remote.map((p) => p.close()));
  } finally {
    await browser.close();
    await Promise.all(nodes.map((n) => n.stop()));
    await redis.stop();
  }
  return result;
}
