/**
 * Three lancast nodes on a real Redis, real Chromium on both ends: a broadcaster on node A,
 * viewers on B and C that decode the stream through their own node (one upstream per room per
 * node), a lobby on C that counts everyone, a chain origin -> edge -> edge, the cluster secret
 * between nodes, and a room nobody watches anywhere pausing.
 */
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import type { Page } from 'playwright-core';
import { assertMediaFlowing, pageState, viewerCounters, waitFor, waitForState } from '../helpers/browser.js';
import { CLUSTER_SECRET, clusterRig, startNode } from '../helpers/redis.js';
import { metricValue, roomInfo, startLancast, type Lancast } from '../helpers/server.js';

const rig = clusterRig();
const { started } = rig;

/** Nodes one at a time (several starting at once on a loaded machine can outlast the helper's wait). */
async function nodes(count: number, args: string[][] = []): Promise<Lancast[]> {
  const out: Lancast[] = [];
  for (let i = 0; i < count; i++) {
    const node = await startNode(rig.redis, { args: ['--log-level', process.env.LANCAST_TEST_LOG ?? 'warn', '--pause-after', '1', ...(args[i] ?? [])] });
    started.push(node);
    out.push(node);
  }
  return out;
}

const open = (url: string) => rig.open(url);

const metric = async (n: Lancast, name: string) => (await metricValue(n.url, name)) ?? NaN;

describe('a room across nodes', () => {
  test('a broadcaster on A, five viewers on B through one upstream, one on C; C\'s lobby counts all six; unwatched, it pauses', async () => {
    const [a, b, c] = (await nodes(3)) as [Lancast, Lancast, Lancast];
    const broadcaster = await open(`${a.url}/broadcast/town?key=test-key&autostart=1&mode=relay`);
    const pages: Page[] = [broadcaster];
    try {
      await waitForState(broadcaster, 'live', 60_000);
      await waitFor(() => roomInfo(c.url, 'town'), (r) => r?.live === true, 10_000, 'town live in the cluster');
      const onB: Page[] = [];
      for (let i = 0; i < 5; i++) {
        const page = await open(`${b.url}/watch/town`);
        pages.push(page);
        onB.push(page);
        assert.equal(new URL(page.url()).origin, b.url, 'the viewer stays on B');
      }
      const onC = await open(`${c.url}/watch/town`);
      pages.push(onC);
      for (const v of [...onB, onC]) await waitForState(v, 'live', 60_000);
      // Every viewer's media rising over the same 1.5 s, read side by side.
      for (const { second } of await Promise.all([...onB, onC].map((v) => assertMediaFlowing(v)))) {
        assert.ok(second.width >= 320, `a picture ${second.width} wide`);
      }
      // One upstream per room per node, whatever its number of viewers.
      assert.equal(await metric(b, 'lancast_cluster_upstreams'), 1);
      assert.equal(await metric(c, 'lancast_cluster_upstreams'), 1);
      assert.equal(await metric(a, 'lancast_cluster_pulls_served'), 2);
      assert.equal(await metric(a, 'lancast_cluster_upstreams'), 0);

      // C's lobby page lists the room with every node's viewers.
      const lobby = await open(`${c.url}/`);
      pages.push(lobby);
      const text = await waitFor(() => lobby.locator('#rooms').innerText(), (t) => /town · 6 watching/.test(t), 10_000, 'the lobby on C');
      assert.match(text, /town · 6 watching · relay/);
      assert.equal((await roomInfo(a.url, 'town'))?.viewers, 6);

      // Everyone leaves: the edges let their upstreams go and the origin pauses the broadcaster.
      for (const v of [...onB, onC]) await v.close();
      await waitFor(async () => (await metric(b, 'lancast_cluster_upstreams')) + (await metric(c, 'lancast_cluster_upstreams')), (n) => n === 0, 15_000, 'the edges dropping their upstreams');
      await waitFor(() => roomInfo(a.url, 'town'), (r) => r?.paused === true, 15_000, 'town paused on A');
      // The page hears it a moment after the API says so.
      await waitFor(() => broadcaster.locator('#status').innerText(), (t) => /paused: nobody is watching/.test(t), 5_000, 'the broadcaster told it is paused');

      // A viewer again on B: the stream comes back through a new upstream.
      const again = await open(`${b.url}/watch/town`);
      pages.push(again);
      await waitForState(again, 'live', 60_000);
      await assertMediaFlowing(again);
    } catch (err) {
      if (process.env.LANCAST_TEST_LOG) for (const n of [a, b, c]) console.log(n.url, n.output());
      throw err;
    } finally {
      await Promise.all(pages.map((p) => p.close().catch(() => undefined)));
      await rig.stop([a, b, c]);
    }
  });

  test('a chain: origin -> edge -> edge, when the origin is full; a node without the secret cannot pull', async () => {
    // A takes one puller for the room: the second is sent on to the edge that has it.
    const [a, b, c] = (await nodes(3, [['--max-viewers', '1']])) as [Lancast, Lancast, Lancast];
    const broadcaster = await open(`${a.url}/broadcast/chain?key=test-key&autostart=1`);
    const pages: Page[] = [broadcaster];
    try {
      await waitForState(broadcaster, 'live', 60_000);
      await waitFor(() => roomInfo(c.url, 'chain'), (r) => r?.live === true, 10_000, 'chain live in the cluster');
      const onB = await open(`${b.url}/watch/chain`);
      pages.push(onB);
      await waitForState(onB, 'live', 60_000);
      await waitFor(() => metric(a, 'lancast_cluster_pulls_served'), (n) => n === 1, 10_000, 'B pulling from A');
      const onC = await open(`${c.url}/watch/chain`);
      pages.push(onC);
      await waitForState(onC, 'live', 60_000);
      const { second } = await assertMediaFlowing(onC);
      assert.ok(second.width >= 320, `a picture ${second.width} wide`);
      // C pulls from B, not from A.
      assert.equal(await metric(b, 'lancast_cluster_pulls_served'), 1);
      assert.equal(await metric(a, 'lancast_cluster_pulls_served'), 1);
      assert.equal(await metric(c, 'lancast_cluster_upstreams'), 1);

      // The pull endpoint wants the cluster secret, and only it.
      const pull = (secret?: string) =>
        fetch(`${b.url}/cluster/pull/chain`, { method: 'POST', headers: secret ? { authorization: `Bearer ${secret}` } : {} });
      const none = await pull();
      assert.equal(none.status, 401);
      assert.match(await none.text(), /cluster secret/);
      assert.equal((await pull('not-the-secret')).status, 401);
      const right = await pull(CLUSTER_SECRET);
      assert.equal(right.status, 201);
      assert.match(await right.text(), /^v=0/);
      const location = right.headers.get('location')!;
      assert.equal((await fetch(`${b.url}${location}`, { method: 'DELETE', headers: { authorization: `Bearer ${CLUSTER_SECRET}` } })).status, 200);

      // A node on the same Redis with another secret sees the room but cannot pull it. (Last: its
      // wrong attempts come from 127.0.0.1, like every other client here, and slow that address.)
      const stranger = await startLancast({ args: ['--log-level', 'warn', '--redis', rig.redis.url, '--cluster-secret', 'another-secret'] });
      started.push(stranger);
      const onStranger = await open(`${stranger.url}/watch/chain`);
      pages.push(onStranger);
      await waitFor(async () => stranger.output(), (out) => /could not pull a room/.test(out), 15_000, 'the stranger trying to pull');
      assert.match(stranger.output(), /refused the pull: (401|429)/);
      assert.notEqual(await pageState(onStranger), 'live');
      assert.equal((await viewerCounters(onStranger)).framesDecoded, 0);
    } finally {
      await Promise.all(pages.map((p) => p.close().catch(() => undefined)));
      await rig.stop([...started]);
    }
  });
});
