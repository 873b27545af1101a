/**
 * Faults in a cluster, with real Chromium pages and real node processes killed with SIGKILL: an
 * edge dies (its viewers play again from another node), the origin dies (the broadcast page
 * reconnects to another node and viewers everywhere follow), and Redis restarts (streams never
 * stop; nodes register again).
 */
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import type { Page } from 'playwright-core';
import { assertMediaFlowing, frameGaps, recordFrames, waitFor, waitForState } from '../helpers/browser.js';
import { pageNow, playsAgain } from '../helpers/recovery.js';
import { clusterRig, startNode } from '../helpers/redis.js';
import { roomInfo, type Lancast } from '../helpers/server.js';

/** The bound: a page whose node died plays again within this, with no click. */
const RECOVERY_MS = 10_000;

const rig = clusterRig();
const { started } = rig;

async function nodes(count: number, logLevel = 'warn'): Promise<Lancast[]> {
  const out: Lancast[] = [];
  for (let i = 0; i < count; i++) {
    const node = await startNode(rig.redis, { args: ['--log-level', logLevel] });
    started.push(node);
    out.push(node);
  }
  return out;
}

async function cleanUp(pages: Page[], list: Lancast[]): Promise<void> {
  await Promise.all(pages.map((p) => p.close().catch(() => undefined)));
  await rig.stop(list);
}

const open = (url: string) => rig.open(url);

/** A watch page that is live and decoding, its frames being recorded. */
async function watching(url: string): Promise<Page> {
  const page = await open(url);
  await waitForState(page, 'live', 60_000);
  await assertMediaFlowing(page);
  await recordFrames(page);
  // Frames recorded before any fault: a gap read before the first one would be endless.
  await waitFor(() => frameGaps(page), (g) => g.frames >= 5, 10_000, 'frames recorded');
  return page;
}

describe('faults in a cluster', () => {
  test('an edge dies: its viewer plays again from another node within 10 s, no click', async (t) => {
    const list = await nodes(3);
    const [a, b] = list as [Lancast, Lancast, Lancast];
    const pages: Page[] = [];
    try {
      const broadcaster = await open(`${a.url}/broadcast/edgefault?key=test-key&autostart=1&mode=relay`);
      pages.push(broadcaster);
      await waitForState(broadcaster, 'live', 60_000);
      const viewer = await watching(`${b.url}/watch/edgefault`);
      pages.push(viewer);

      const t0 = await pageNow(viewer);
      b.proc.kill('SIGKILL');
      const got = await playsAgain(viewer, t0, 'the viewer of the dead edge');
      t.diagnostic(`playing again ${got.playingAgainMs} ms after its edge died (picture stopped ${got.frozenMs} ms)`);
      assert.ok(got.playingAgainMs <= RECOVERY_MS, `played again ${got.playingAgainMs} ms after its node died`);
      assert.equal(await viewer.evaluate(() => document.body.dataset.state), 'live');
      // It is counted on a surviving node.
      await waitFor(() => roomInfo(a.url, 'edgefault'), (r) => r?.viewers === 1, 10_000, 'one viewer counted');
    } finally {
      await cleanUp(pages, list);
    }
  });

  test('the origin dies: the broadcast page reconnects to another node within 10 s and viewers everywhere follow', async (t) => {
    const list = await nodes(3);
    const [a, b, c] = list as [Lancast, Lancast, Lancast];
    const pages: Page[] = [];
    try {
      const broadcaster = await open(`${a.url}/broadcast/originfault?key=test-key&autostart=1&mode=relay`);
      pages.push(broadcaster);
      await waitForState(broadcaster, 'live', 60_000);
      // Both viewers join side by side (each live, playing, its frames recorded).
      const [onB, onC] = await Promise.all([watching(`${b.url}/watch/originfault`), watching(`${c.url}/watch/originfault`)]);
      pages.push(onB, onC);

      const [t0B, t0C] = [await pageNow(onB), await pageNow(onC)];
      a.proc.kill('SIGKILL');
      const [msB, msC] = (await Promise.all([playsAgain(onB, t0B, 'the viewer on B'), playsAgain(onC, t0C, 'the viewer on C')])).map((r) => r.playingAgainMs) as [number, number];
      t.diagnostic(`viewers playing again ${msB} ms (B) and ${msC} ms (C) after the origin died`);
      assert.ok(msB <= RECOVERY_MS && msC <= RECOVERY_MS, `viewers played again ${msB} ms (B) and ${msC} ms (C) after the origin died`);
      assert.equal(await broadcaster.evaluate(() => document.body.dataset.state), 'live');
      const room = await roomInfo(b.url, 'originfault');
      assert.ok(room?.live && [b.url, c.url].includes((room as { origin?: string }).origin ?? ''), `the room's origin moved: ${JSON.stringify(room)}`);
    } finally {
      await cleanUp(pages, list);
    }
  });

  test('Redis restarts: the stream never stops, nodes say so and register again', async (t) => {
    const list = await nodes(2, 'info');
    const [a, b] = list as [Lancast, Lancast];
    const pages: Page[] = [];
    try {
      const broadcaster = await open(`${a.url}/broadcast/redisfault?key=test-key&autostart=1&mode=relay`);
      pages.push(broadcaster);
      await waitForState(broadcaster, 'live', 60_000);
      const viewer = await watching(`${b.url}/watch/redisfault`);
      pages.push(viewer);
      const before = await frameGaps(viewer);

      await rig.redis.stop();
      let worst = 0;
      const watch = async (ms: number) => {
        for (const end = Date.now() + ms; Date.now() < end; ) {
          worst = Math.max(worst, (await frameGaps(viewer)).sinceLastMs);
          await new Promise((r) => setTimeout(r, 250));
        }
      };
      await watch(3_000);
      for (const n of [a, b]) assert.match(n.output(), /lost Redis: this node keeps serving what it has/);
      await rig.redis.start();
      await waitFor(async () => (await (await fetch(`${a.url}/api/cluster`)).json()) as { nodes: unknown[] }, (i) => i.nodes.length === 2, 10_000, 'both nodes registered again');
      await watch(3_000);
      for (const n of [a, b]) assert.match(n.output(), /Redis is back/);
      const after = await frameGaps(viewer);
      t.diagnostic(`longest wait for a frame while Redis was away and back: ${worst} ms`);
      assert.ok(worst < 2_000, `the picture stood still ${worst} ms while Redis was away`);
      assert.ok(after.frames > before.frames + 60, `frames went on: ${before.frames} -> ${after.frames}`);
      assert.equal((await roomInfo(a.url, 'redisfault'))?.viewers, 1);
    } finally {
      await cleanUp(pages, list);
    }
  });
});
