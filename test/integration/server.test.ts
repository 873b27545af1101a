/**
 * The server process as users and scripts meet it: pages, the API, https on the same port, the
 * command line, the generated publish key, and a clean SIGTERM.
 */
import assert from 'node:assert/strict';
import { spawn, spawnSync } from 'node:child_process';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import https from 'node:https';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { CLI, startLancast, type Lancast } from '../helpers/server.js';
import { TestSocket } from '../helpers/ws-client.js';

let server: Lancast;

before(async () => {
  server = await startLancast();
});

after(async () => {
  await server?.stop();
});

function httpsGet(url: string): Promise<{ status: number; body: string }> {
  return new Promise((resolve, reject) => {
    https
      .get(url, { rejectUnauthorized: false }, (res) => {
        let body = '';
        res.on('data', (d) => (body += d));
        res.on('end', () => resolve({ status: res.statusCode ?? 0, body }));
      })
      .on('error', reject);
  });
}

describe('http', () => {
  test('the watch page carries the contract: remote-video, data-state, the room name', async () => {
    const res = await fetch(`${server.url}/watch/main`);
    assert.equal(res.status, 200);
    const html = await res.text();
    assert.match(html, /data-testid="remote-video"/);
    assert.match(html, /<body data-state="connecting">/);
    assert.match(html, /<strong>main<\/strong>/);
  });

  test('the broadcast page and the lobby are served; /watch alone goes to room main', async () => {
    assert.equal((await fetch(`${server.url}/broadcast/main`)).status, 200);
    assert.match(await (await fetch(`${server.url}/`)).text(), /id="rooms"/);
    const res = await fetch(`${server.url}/watch`, { redirect: 'manual' });
    assert.equal(res.status, 302);
    assert.equal(res.headers.get('location'), '/watch/main');
  });

  test('a room name with markup is refused with 400 and never echoed as HTML', async () => {
    const res = await fetch(`${server.url}/watch/%3Cimg%20src%3Dx%20onerror%3Dalert(1)%3E`);
    assert.equal(res.status, 400);
    const body = await res.text();
    assert.doesNotMatch(body, /<img/);
    assert.match(body, /Room names use letters/);
  });

  test('pages follow the browser language: zh-CN gets Chinese', async () => {
    const html = await (await fetch(`${server.url}/watch/main`, { headers: { 'accept-language': 'zh-CN,zh;q=0.9,en;q=0.5' } })).text();
    assert.match(html, /<html lang="zh-CN">/);
    assert.match(html, /正在连接/);
    const en = await (await fetch(`${server.url}/watch/main`, { headers: { 'accept-language': 'en-US' } })).text();
    assert.match(en, /Connecting/);
  });

  test('https works on the same port with the self-signed certificate from the data dir', async () => {
    const res = await httpsGet(`https://127.0.0.1:${server.port}/healthz`);
    assert.equal(res.status, 200);
    assert.equal(JSON.parse(res.body).ok, true);
    assert.match(await readFile(join(server.dataDir, 'cert.pem'), 'utf8'), /BEGIN CERTIFICATE/);
  });

  test('/api/rooms lists a live room with its viewers and mode, and never a key', async () => {
    const b = await TestSocket.join(server.wsUrl, { role: 'broadcaster', room: 'listed', key: 'test-key' });
    const v = await TestSocket.join(server.wsUrl, { role: 'viewer', room: 'listed' });
    try {
      const text = await (await fetch(`${server.url}/api/rooms`)).text();
      const room = (JSON.parse(text) as { rooms: { name: string; live: boolean; viewers: number; mode: string }[] }).rooms.find((r) => r.name === 'listed');
      assert.deepEqual([room?.live, room?.viewers, room?.mode], [true, 1, 'p2p']);
      assert.doesNotMatch(text, /test-key/);
    } finally {
      b.socket.close();
      v.socket.close();
    }
  });

  test('/metrics is Prometheus text with lancast metrics; /healthz says ok', async () => {
    const text = await (await fetch(`${server.url}/metrics`)).text();
    assert.match(text, /^# TYPE lancast_rooms gauge$/m);
    assert.match(text, /^lancast_signaling_sockets \d+$/m);
    assert.match(text, /^lancast_relay_packets_forwarded_total \d+$/m);
    assert.equal((await (await fetch(`${server.url}/healthz`)).json()).ok, true);
  });

  test('unknown API paths are a JSON 404', async () => {
    const res = await fetch(`${server.url}/api/nothing`);
    assert.equal(res.status, 404);
    assert.equal((await res.json()).error, 'not-found');
  });
});

describe('command line', () => {
  test('--help lists every flag with its environment twin', () => {
    const out = spawnSync(process.execPath, [CLI, '--help'], { encoding: 'utf8' }).stdout;
    for (const [flag, env] of [
      ['--port', 'LANCAST_PORT'], ['--host', 'LANCAST_HOST'], ['--publish-key', 'LANCAST_PUBLISH_KEY'],
      ['--view-password', 'LANCAST_VIEW_PASSWORD'], ['--mode', 'LANCAST_MODE'], ['--cert', 'LANCAST_CERT'],
      ['--key', 'LANCAST_KEY'], ['--data-dir', 'LANCAST_DATA_DIR'], ['--ice-server', 'LANCAST_ICE_SERVER'],
      ['--legacy', 'LANCAST_LEGACY'],
    ]) {
      assert.match(out, new RegExp(`${flag}\\b.*\\[${env}\\]`), flag);
    }
  });

  test('a bad flag or value exits 2 with a sentence', () => {
    const unknown = spawnSync(process.execPath, [CLI, '--frobnicate'], { encoding: 'utf8' });
    assert.equal(unknown.status, 2);
    assert.match(unknown.stderr, /lancast: .*frobnicate/);
    const mode = spawnSync(process.execPath, [CLI, '--mode', 'warp'], { encoding: 'utf8' });
    assert.equal(mode.status, 2);
    assert.match(mode.stderr, /--mode must be p2p, relay or auto/);
  });

  test('LANCAST_PORT is honoured and a port in use is a clear error', async () => {
    const blocker = createServer();
    await new Promise<void>((r) => blocker.listen(0, '127.0.0.1', r));
    const port = (blocker.address() as { port: number }).port;
    const dataDir = await mkdtemp(join(tmpdir(), 'lancast-port-'));
    try {
      const res = spawnSync(process.execPath, [CLI, '--host', '127.0.0.1', '--data-dir', dataDir, '--no-qr'], {
        encoding: 'utf8',
        env: { ...process.env, LANCAST_PORT: String(port) },
        timeout: 15_000,
      });
      assert.equal(res.status, 1);
      assert.match(res.stderr, new RegExp(`port ${port} is in use; pick another with --port`));
    } finally {
      blocker.close();
      await rm(dataDir, { recursive: true, force: true });
    }
  });

  test('without --publish-key a key is generated once and kept in the data dir', async () => {
    const dataDir = await mkdtemp(join(tmpdir(), 'lancast-key-'));
    const keyOf = async () => {
      const proc = spawn(process.execPath, [CLI, '--host', '127.0.0.1', '--port', '0', '--data-dir', dataDir, '--no-qr']);
      let out = '';
      proc.stdout.on('data', (d) => (out += d));
      const key = await new Promise<string>((resolve, reject) => {
        const t = setTimeout(() => reject(new Error(out)), 15_000);
        proc.stdout.on('data', () => {
          const m = /Publish key: (\S+)/.exec(out);
          if (m) {
            clearTimeout(t);
            resolve(m[1]!);
          }
        });
      });
      proc.kill('SIGTERM');
      await new Promise((r) => proc.once('exit', r));
      return key;
    };
    try {
      const first = await keyOf();
      assert.match(first, /^[\w-]{12}$/);
      assert.equal(await keyOf(), first);
      assert.equal((await readFile(join(dataDir, 'publish-key'), 'utf8')).trim(), first);
    } finally {
      await rm(dataDir, { recursive: true, force: true });
    }
  });

  test('SIGTERM tells connected clients (1001) and exits within 3 s with code 0', async () => {
    const s = await startLancast();
    const b = await TestSocket.join(s.wsUrl, { role: 'broadcaster', room: 'bye', key: 'test-key' });
    const v = await TestSocket.join(s.wsUrl, { role: 'viewer', room: 'bye' });
    const t0 = Date.now();
    const code = await s.stop();
    assert.equal(code, 0);
    assert.ok(Date.now() - t0 < 3_000, `took ${Date.now() - t0} ms`);
    assert.equal((await v.socket.closed).code, 1001);
    assert.equal((await b.socket.closed).code, 1001);
    const ended = v.socket.received.find((m) => m.type === 'room' && m.live === false);
    assert.ok(ended, 'the viewer was told the stream ended');
  });
});
