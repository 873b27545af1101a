/**
 * Several lancast nodes on one real Redis (redis-server on a loopback port): registration and
 * expiry, the cluster-wide room list, passwords and takeover across nodes, the shared publish
 * key, and a node that cannot reach Redis. No media here (test/e2e/cluster.test.ts has it).
 */
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { waitFor } from '../helpers/browser.js';
import { CLUSTER_SECRET, freePort, startNode, startRedis, type RedisServer } from '../helpers/redis.js';
import { CLI, listRooms, startLancast, type Lancast } from '../helpers/server.js';
import { TestSocket } from '../helpers/ws-client.js';

let redis: RedisServer;
const nodes: Lancast[] = [];

interface ClusterInfo {
  node: string;
  nodes: { id: string; url: string; viewers: number }[];
}
const clusterOf = async (n: Lancast) => (await (await fetch(`${n.url}/api/cluster`)).json()) as ClusterInfo;

before(async () => {
  redis = await startRedis();
  // One at a time: three node processes starting at once on a loaded 2-core machine can take
  // longer than the helper waits.
  for (let i = 0; i < 3; i++) nodes.push(await startNode(redis, { args: ['--log-level', 'warn'] }));
});

after(async () => {
  TestSocket.closeAll();
  await Promise.all(nodes.map((n) => n.stop()));
  await redis?.stop();
});

/** Run the CLI to its exit; resolves with the exit code and what it printed. */
function runCli(args: string[]): Promise<{ code: number | null; out: string }> {
  return new Promise((resolve) => {
    const proc = spawn(process.execPath, [CLI, '--host', '127.0.0.1', '--port', '0', '--no-qr', ...args], { stdio: ['ignore', 'pipe', 'pipe'] });
    let out = '';
    proc.stdout.on('data', (d) => (out += d));
    proc.stderr.on('data', (d) => (out += d));
    proc.once('exit', (code) => resolve({ code, out }));
  });
}

describe('a cluster of nodes on Redis', () => {
  test('every node sees every node, each at its advertised URL', async () => {
    const [a, b, c] = nodes as [Lancast, Lancast, Lancast];
    for (const n of nodes) {
      const info = await waitFor(() => clusterOf(n), (i) => i.nodes.length === 3, 10_000, `three nodes seen from ${n.url}`);
      assert.deepEqual(info.nodes.map((x) => x.url).sort(), [a.url, b.url, c.url].sort());
    }
  });

  test('a viewer on any node counts in every node\'s lobby list and metrics', async () => {
    const [a, b, c] = nodes as [Lancast, Lancast, Lancast];
    // A p2p broadcaster on A: viewers elsewhere wait in their own node's room (no pull for p2p).
    const host = await TestSocket.join(a.wsUrl, { role: 'broadcaster', room: 'hall', key: 'test-key', mode: 'p2p' });
    const viewers = await Promise.all([b, b, c].map((n) => TestSocket.join(n.wsUrl, { role: 'viewer', room: 'hall' })));
    try {
      for (const n of nodes) {
        const rooms = await waitFor(() => listRooms(n.url), (r) => r.find((x) => x.name === 'hall')?.viewers === 3 && r.find((x) => x.name === 'hall')?.live === true, 10_000, `3 viewers of hall on ${n.url}`);
        const hall = rooms.find((x) => x.name === 'hall')!;
        assert.equal(hall.live, true);
        assert.equal(hall.mode, 'p2p');
        assert.equal((hall as { origin?: string }).origin, a.url);
      }
      const metrics = await (await fetch(`${c.url}/metrics`)).text();
      assert.match(metrics, /^lancast_cluster_room_viewers\{room="hall"\} 3$/m);
      assert.match(metrics, /^lancast_cluster_nodes 3$/m);
      // A p2p room's viewers are sent to its origin: only its broadcaster can connect them.
      const res = await fetch(`${b.url}/watch/hall?x=1`, { redirect: 'manual' });
      assert.equal(res.status, 302);
      assert.equal(res.headers.get('location'), `${a.url}/watch/hall?x=1`);
    } finally {
      for (const v of viewers) v.socket.ws.close();
      host.socket.ws.close();
    }
    await waitFor(() => listRooms(c.url), (r) => !r.some((x) => x.name === 'hall'), 10_000, 'hall gone once everyone left');
  });

  test("a room's view password holds on every node; the lobby shows only that it exists", async () => {
    const [a, b, c] = nodes as [Lancast, Lancast, Lancast];
    const host = await TestSocket.join(a.wsUrl, { role: 'broadcaster', room: 'secret', key: 'test-key', mode: 'p2p', viewPassword: 'open-sesame' });
    try {
      for (const n of [b, c]) {
        const rooms = await waitFor(() => listRooms(n.url), (r) => r.some((x) => x.name === 'secret' && x.protected === true), 10_000, `secret listed as protected on ${n.url}`);
        assert.equal(rooms.find((x) => x.name === 'secret')!.viewers, 0);
      }
      for (const n of [b, c]) {
        const refused = await TestSocket.open(n.wsUrl);
        refused.send({ type: 'join', role: 'viewer', room: 'secret', password: 'wrong' });
        const error = await refused.next('error');
        assert.equal(error.code, 'bad-password', `no password refused on ${n.url}`);
        refused.ws.close();
        const admitted = await TestSocket.join(n.wsUrl, { role: 'viewer', room: 'secret', password: 'open-sesame' });
        admitted.socket.ws.close();
      }
    } finally {
      host.socket.ws.close();
    }
  });

  test('a second broadcaster with the key on another node takes the room over', async () => {
    const [a, , c] = nodes as [Lancast, Lancast, Lancast];
    const first = await TestSocket.join(a.wsUrl, { role: 'broadcaster', room: 'stage', key: 'test-key', mode: 'p2p' });
    await waitFor(() => listRooms(c.url), (r) => r.some((x) => x.name === 'stage' && x.live), 10_000, 'stage live on C');
    const second = await TestSocket.join(c.wsUrl, { role: 'broadcaster', room: 'stage', key: 'test-key', mode: 'p2p' });
    try {
      const replaced = await first.socket.next('error', 10_000);
      assert.equal(replaced.code, 'replaced');
      assert.equal((await first.socket.closed).code, 4009);
      const rooms = await waitFor(() => listRooms(a.url), (r) => (r.find((x) => x.name === 'stage') as { origin?: string } | undefined)?.origin === c.url, 10_000, 'stage now from C');
      assert.equal(rooms.find((x) => x.name === 'stage')?.live, true);
      // A wrong key on another node changes nothing.
      const wrong = await TestSocket.open(a.wsUrl);
      wrong.send({ type: 'join', role: 'broadcaster', room: 'stage', key: 'not-the-key' });
      assert.equal((await wrong.next('error')).code, 'bad-key');
      wrong.ws.close();
    } finally {
      second.socket.ws.close();
    }
  });

  test('a node past --max-viewers sends new viewers to the least-loaded node: the watch page and WHEP', async () => {
    const [a, b, c] = nodes as [Lancast, Lancast, Lancast];
    const full = await startNode(redis, { args: ['--log-level', 'warn', '--max-viewers', '2'] });
    const sockets: TestSocket[] = [];
    try {
      // A and B hold a viewer each elsewhere; C holds none: C is the least loaded.
      for (const n of [a, b]) sockets.push((await TestSocket.join(n.wsUrl, { role: 'viewer', room: 'elsewhere' })).socket);
      for (let i = 0; i < 2; i++) sockets.push((await TestSocket.join(full.wsUrl, { role: 'viewer', room: 'crowd' })).socket);
      await waitFor(() => clusterOf(full), (info) => info.nodes.length === 4 && info.nodes.find((n) => n.url === a.url)?.viewers === 1 && info.nodes.find((n) => n.url === b.url)?.viewers === 1, 10_000, 'loads seen');
      const page = await fetch(`${full.url}/watch/crowd?password=x`, { redirect: 'manual' });
      assert.equal(page.status, 302);
      assert.equal(page.headers.get('location'), `${c.url}/watch/crowd?password=x`);
      const whep = await fetch(`${full.url}/whep/crowd`, { method: 'POST', redirect: 'manual', headers: { 'content-type': 'application/sdp' }, body: 'v=0\r\n' });
      assert.equal(whep.status, 307, 'WHEP answers with a redirect, as its spec allows');
      assert.equal(whep.headers.get('location'), `${c.url}/whep/crowd`);
      // Below the limit a node serves its own viewers.
      assert.equal((await fetch(`${full.url}/watch/other`, { redirect: 'manual' })).status, 200);
    } finally {
      for (const s of sockets) s.ws.close();
      await full.stop();
    }
  });

  test('a node that stops leaves the cluster at once; one that dies, within seconds', async () => {
    const extra = [await startNode(redis, { args: ['--log-level', 'warn'] }), await startNode(redis, { args: ['--log-level', 'warn'] })];
    const [a] = nodes as [Lancast];
    await waitFor(() => clusterOf(a), (i) => i.nodes.length === 5, 10_000, 'five nodes');
    await extra[0].stop();
    await waitFor(() => clusterOf(a), (i) => i.nodes.length === 4, 3_000, 'four nodes after a clean stop');
    extra[1].proc.kill('SIGKILL');
    const t0 = Date.now();
    await waitFor(() => clusterOf(a), (i) => i.nodes.length === 3, 10_000, 'three nodes after a crash');
    assert.ok(Date.now() - t0 < 8_000, `a dead node stayed listed ${Date.now() - t0} ms`);
    await extra[1].stop();
  });

  test('nodes without --publish-key share the key the cluster keeps', async () => {
    const dirs = await Promise.all([0, 1].map(() => mkdtemp(join(tmpdir(), 'lancast-test-'))));
    const keys: string[] = [];
    const procs = dirs.map((dir) => spawn(process.execPath, [CLI, '--host', '127.0.0.1', '--port', '0', '--no-qr', '--data-dir', dir, '--redis', redis.url, '--cluster-secret', CLUSTER_SECRET], { stdio: ['ignore', 'pipe', 'pipe'] }));
    try {
      for (const proc of procs) {
        let out = '';
        proc.stdout.on('data', (d) => (out += d));
        keys.push(await waitFor(async () => /Publish key: (\S+)/.exec(out)?.[1] ?? '', (k) => k !== '', 20_000, 'the banner'));
      }
      assert.equal(keys[0], keys[1]);
    } finally {
      for (const proc of procs) {
        const exited = new Promise((resolve) => proc.once('exit', resolve));
        proc.kill('SIGTERM');
        await exited;
      }
      await Promise.all(dirs.map((d) => rm(d, { recursive: true, force: true })));
    }
  });

  test('a node that cannot reach Redis at start says so and exits non-zero', async () => {
    const port = await freePort(); // nothing listens there
    const { code, out } = await runCli(['--publish-key', 'k', '--redis', `redis://127.0.0.1:${port}`, '--cluster-secret', CLUSTER_SECRET]);
    assert.equal(code, 1);
    assert.match(out, new RegExp(`lancast: cannot start: cannot reach Redis at redis://127\\.0\\.0\\.1:${port}: .*ECONNREFUSED`));
    const bad = await runCli(['--redis', redis.url]);
    assert.equal(bad.code, 2);
    assert.match(bad.out, /--redis needs --cluster-secret/);
  });

  test('without --redis a node needs no Redis and shows no cluster', async () => {
    const alone = await startLancast();
    try {
      assert.equal((await fetch(`${alone.url}/api/cluster`)).status, 404);
      assert.doesNotMatch(await (await fetch(`${alone.url}/metrics`)).text(), /lancast_cluster_/);
    } finally {
      await alone.stop();
    }
  });
});
