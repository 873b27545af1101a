/**
 * The server process as browsers and scripts meet it over HTTP: pages, the JSON API, health,
 * metrics, https on the same port, the page language, and which WebSocket paths it accepts.
 */
import assert from 'node:assert/strict';
import { createRequire } from 'node:module';
import net from 'node:net';
import https from 'node:https';
import { after, afterEach, before, describe, test } from 'node:test';
import { startLancast, type Lancast } from '../helpers/server.js';
import { TestSocket } from '../helpers/ws-client.js';

const { version } = createRequire(import.meta.url)('../../package.json') as { version: string };

let server: Lancast;

before(async () => {
  server = await startLancast();
});

afterEach(() => TestSocket.closeAll());

after(async () => {
  await server?.stop();
});

const KEY = 'test-key';

async function get(path: string, headers: Record<string, string> = {}): Promise<{ status: number; type: string; body: string }> {
  const res = await fetch(`${server.url}${path}`, { headers, redirect: 'manual' });
  return { status: res.status, type: res.headers.get('content-type') ?? '', body: await res.text() };
}

function httpsGet(path: string): Promise<{ status: number; type: string; body: string; fingerprint: string }> {
  return new Promise((resolve, reject) => {
    https
      .get(`https://127.0.0.1:${server.port}${path}`, { rejectUnauthorized: false, agent: false }, (res) => {
        const fingerprint = (res.socket as import('node:tls').TLSSocket).getPeerCertificate().fingerprint256;
        let body = '';
        res.on('data', (d) => (body += d));
        res.on('end', () => resolve({ status: res.statusCode ?? 0, type: String(res.headers['content-type']), body, fingerprint }));
      })
      .on('error', reject);
  });
}

type RoomInfo = Record<string, unknown> & { name: string; live: boolean; viewers: number; mode: string };
const rooms = async (): Promise<RoomInfo[]> => (JSON.parse((await get('/api/rooms')).body) as { rooms: RoomInfo[] }).rooms;

/** The value of one metric line, e.g. `lancast_live_rooms` or `lancast_signaling_errors_total{code="bad-json"}`. */
function metric(text: string, name: string): number | undefined {
  const line = text.split('\n').find((l) => l.startsWith(`${name} `));
  return line === undefined ? undefined : Number(line.slice(name.length + 1));
}

describe('health and API', () => {
  test('GET /healthz is 200 JSON with ok and the version', async () => {
    const res = await get('/healthz');
    assert.equal(res.status, 200);
    assert.match(res.type, /^application\/json/);
    const body = JSON.parse(res.body) as Record<string, unknown>;
    assert.deepEqual([body.ok, body.version], [true, version]);
  });

  test('GET /api/rooms shows a live room with its viewer count and mode, and no key or password', async () => {
    const b = await TestSocket.join(server.wsUrl, { role: 'broadcaster', room: 'listed', key: KEY });
    await TestSocket.join(server.wsUrl, { role: 'viewer', room: 'listed' });
    await TestSocket.join(server.wsUrl, { role: 'viewer', room: 'listed' });
    await TestSocket.join(server.wsUrl, { role: 'viewer', room: 'waiting-room' });
    await b.socket.next('viewer-joined');
    const res = await get('/api/rooms');
    assert.equal(res.status, 200);
    const list = (JSON.parse(res.body) as { rooms: RoomInfo[] }).rooms;
    const listed = list.find((r) => r.name === 'listed');
    assert.deepEqual([listed?.live, listed?.viewers, listed?.mode], [true, 2, 'p2p']);
    const waiting = list.find((r) => r.name === 'waiting-room');
    assert.deepEqual([waiting?.live, waiting?.viewers], [false, 1]);
    assert.ok(list.indexOf(listed!) < list.indexOf(waiting!), 'live rooms come first');
    assert.doesNotMatch(res.body, new RegExp(KEY));
    for (const room of list) {
      assert.deepEqual(Object.keys(room).filter((k) => /key|password|secret/i.test(k)), [], `room ${room.name} shows no secret`);
    }
    // The answer is serialized through its declared schema: exactly these fields, nothing else.
    assert.deepEqual(Object.keys(listed!).sort(), ['bitrate', 'live', 'mode', 'name', 'paused', 'reason', 'viewers']);
  });

  test('a room everyone has left disappears from /api/rooms', async () => {
    const b = await TestSocket.join(server.wsUrl, { role: 'broadcaster', room: 'fleeting', key: KEY });
    assert.ok((await rooms()).some((r) => r.name === 'fleeting'));
    b.socket.close();
    await b.socket.closedWithin();
    const deadline = Date.now() + 2_000;
    while ((await rooms()).some((r) => r.name === 'fleeting')) {
      assert.ok(Date.now() < deadline, 'the empty room is still listed after 2 s');
      await new Promise((r) => setTimeout(r, 50));
    }
  });

  test('GET /metrics is Prometheus text whose every metric is lancast_, counting rooms, viewers and refusals', async () => {
    const b = await TestSocket.join(server.wsUrl, { role: 'broadcaster', room: 'metered', key: KEY });
    await TestSocket.join(server.wsUrl, { role: 'viewer', room: 'metered' });
    await b.socket.next('viewer-joined');
    const before = await get('/metrics');
    assert.equal(before.status, 200);
    assert.match(before.type, /^text\/plain; version=0\.0\.4/);
    assert.match(before.body, /^# TYPE lancast_rooms gauge$/m);
    assert.match(before.body, /^# TYPE lancast_signaling_messages_total counter$/m);
    const names = before.body.split('\n').filter((l) => l && !l.startsWith('#')).map((l) => l.split(/[{ ]/)[0]);
    assert.ok(names.length > 10);
    assert.deepEqual(names.filter((n) => !n.startsWith('lancast_')), []);
    assert.ok(metric(before.body, 'lancast_live_rooms')! >= 1);
    assert.ok(metric(before.body, 'lancast_viewers')! >= 1);
    assert.ok(metric(before.body, 'lancast_signaling_sockets')! >= 2);
    assert.ok(metric(before.body, 'lancast_signaling_messages_total{type="join"}')! >= 2);

    const refusedBefore = metric(before.body, 'lancast_signaling_errors_total{code="bad-json"}') ?? 0;
    b.socket.send('{oops');
    assert.equal((await b.socket.error()).code, 'bad-json');
    const after = await get('/metrics');
    assert.equal(metric(after.body, 'lancast_signaling_errors_total{code="bad-json"}'), refusedBefore + 1);
  });

  test('an unknown API path is a JSON 404; an unknown page is an HTML 404', async () => {
    const api = await get('/api/nothing');
    assert.equal(api.status, 404);
    assert.equal((JSON.parse(api.body) as { error: string }).error, 'not-found');
    const page = await get('/no/such/page');
    assert.equal(page.status, 404);
    assert.match(page.type, /^text\/html/);
  });
});

describe('pages', () => {
  test('GET /watch/main is HTML with the remote video, the starting state and the room name', async () => {
    const res = await get('/watch/main');
    assert.equal(res.status, 200);
    assert.match(res.type, /^text\/html; charset=utf-8/);
    assert.match(res.body, /<video [^>]*data-testid="remote-video"/);
    assert.match(res.body, /<body data-state="connecting">/);
    assert.match(res.body, /<html lang="en">/);
    assert.match(res.body, /<strong>main<\/strong>/);
    assert.match(res.body, /<script type="module" src="\/assets\/watch\.js\?v=[\w-]+">/);
  });

  test('GET /broadcast/main is HTML with the local preview and the room name', async () => {
    const res = await get('/broadcast/main');
    assert.equal(res.status, 200);
    assert.match(res.type, /^text\/html/);
    assert.match(res.body, /data-testid="local-video"/);
    assert.match(res.body, /<span id="room-name">main<\/span>/);
  });

  test('the page scripts and the style sheet are served', async () => {
    for (const [path, type] of [['/assets/watch.js', /javascript/], ['/assets/broadcast.js', /javascript/], ['/assets/style.css', /text\/css/]] as const) {
      const res = await get(path);
      assert.equal(res.status, 200, path);
      assert.match(res.type, type, path);
      assert.ok(res.body.length > 100, path);
    }
    assert.equal((await get('/assets/nope.js')).status, 404);
  });

  test('the asset a page links is cached for good; any other URL of it is checked again', async () => {
    const page = await get('/watch/main');
    const linked = /src="(\/assets\/watch\.js\?v=[\w-]+)"/.exec(page.body)?.[1];
    assert.ok(linked, 'the page links a versioned script');
    const css = /href="(\/assets\/style\.css\?v=[\w-]+)"/.exec(page.body)?.[1];
    assert.ok(css, 'and a versioned style sheet');
    const res = await fetch(`${server.url}${linked}`);
    assert.equal(res.status, 200);
    assert.equal(res.headers.get('cache-control'), 'public, max-age=31536000, immutable');
    const etag = res.headers.get('etag')!;
    assert.ok(etag);
    const plain = await fetch(`${server.url}/assets/watch.js`);
    assert.equal(plain.headers.get('cache-control'), 'no-cache');
    const stale = await fetch(`${server.url}/assets/watch.js?v=old`);
    assert.equal(stale.headers.get('cache-control'), 'no-cache');
    assert.equal((await get('/assets/watch.js', { 'if-none-match': etag })).status, 304);
  });

  test('a room name with markup is 400 and the body has no unescaped markup', async () => {
    for (const path of ['/watch/%3Cimg%20src%3Dx%3E', '/broadcast/%3Cimg%20src%3Dx%20onerror%3Dalert(1)%3E', '/watch/%22%3E%3Cscript%3Ealert(1)%3C%2Fscript%3E']) {
      const res = await get(path);
      assert.equal(res.status, 400, path);
      assert.match(res.type, /^text\/html/);
      assert.doesNotMatch(res.body, /<img|<script>alert/i, path);
      assert.match(res.body, /Room names use letters, digits, - and _/);
    }
    assert.equal((await get(`/watch/${'x'.repeat(65)}`)).status, 400, 'a name of 65 characters');
  });

  test('a room name in any script is fine', async () => {
    const res = await get(`/watch/${encodeURIComponent('直播-1')}`);
    assert.equal(res.status, 200);
    assert.match(res.body, /<strong>直播-1<\/strong>/);
  });

  test('/watch and /broadcast alone go to room main, keeping the query', async () => {
    const watch = await fetch(`${server.url}/watch`, { redirect: 'manual' });
    assert.deepEqual([watch.status, watch.headers.get('location')], [302, '/watch/main']);
    const broadcast = await fetch(`${server.url}/broadcast?autostart=1`, { redirect: 'manual' });
    assert.equal(broadcast.headers.get('location'), '/broadcast/main?autostart=1');
  });

  test('Accept-Language zh-CN gets the page in Chinese; other languages get English', async () => {
    const zh = await get('/watch/main', { 'accept-language': 'zh-CN,zh;q=0.9,en;q=0.8' });
    assert.match(zh.body, /<html lang="zh-CN">/);
    assert.match(zh.body, /正在连接…/);
    assert.match(zh.body, /全屏/);
    assert.doesNotMatch(zh.body, />Connecting…</);
    const zhBroadcast = await get('/broadcast/main', { 'accept-language': 'zh-CN' });
    assert.match(zhBroadcast.body, /开始直播/);
    const en = await get('/watch/main', { 'accept-language': 'fr-FR, en;q=0.5, zh;q=0.1' });
    assert.match(en.body, /<html lang="en">/);
    assert.match(en.body, /Connecting…/);
    assert.match((await get('/', { 'accept-language': 'zh-TW' })).body, /正在直播/);
  });
});

describe('https on the same port', () => {
  test('https GETs are served on the http port with the self-signed certificate', async () => {
    const health = await httpsGet('/healthz');
    assert.equal(health.status, 200);
    assert.equal((JSON.parse(health.body) as { ok: boolean }).ok, true);
    const page = await httpsGet('/watch/main');
    assert.equal(page.status, 200);
    assert.match(page.body, /data-testid="remote-video"/);
    assert.match(health.fingerprint, /^[0-9A-F:]{95}$/);
    // Plain http still works on that port afterwards.
    assert.equal((await get('/healthz')).status, 200);
  });

  test('a secure WebSocket (wss) on the same port joins and routes', async () => {
    const wss = `wss://127.0.0.1:${server.port}/ws`;
    const b = await TestSocket.join(wss, { role: 'broadcaster', room: 'secure', key: KEY }, { rejectUnauthorized: false });
    const v = await TestSocket.join(server.wsUrl, { role: 'viewer', room: 'secure' });
    assert.equal((await b.socket.next('viewer-joined')).id, v.id);
    const sdp = 'v=0\r\no=- 1 1 IN IP4 127.0.0.1\r\ns=-\r\nt=0 0\r\n';
    b.socket.send({ type: 'offer', to: v.id, cid: 'c', sdp });
    assert.deepEqual(await v.socket.next('offer'), { type: 'offer', from: b.id, cid: 'c', sdp });
  });
});

describe('the WebSocket endpoint', () => {
  test('without --legacy, a WebSocket on any path but /ws is refused with 404', async () => {
    for (const path of ['/', '/socket', '/ws/extra', '/WS', '/watch/main']) {
      const refusal = await TestSocket.refusal(`ws://127.0.0.1:${server.port}${path}`);
      assert.equal(refusal.status, 404, path);
    }
    const ok = await TestSocket.open(`${server.wsUrl}?room=main`);
    assert.equal(ok.open, true, '/ws with a query string is fine');
  });

  test(
    'failed WebSocket handshakes do not use up the sockets an address may open',
    async () => {
      const localAddress = '127.0.0.200';
      for (let i = 0; i < 70; i++) {
        await new Promise<void>((resolve) => {
          const c = net.connect({ port: server.port, host: '127.0.0.1', localAddress }, () =>
            // No Sec-WebSocket-Key: ws answers 400.
            c.write('GET /ws HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Version: 13\r\n\r\n'),
          );
          c.on('data', () => undefined);
          c.on('close', () => resolve());
          c.on('error', () => resolve());
        });
      }
      const socket = await TestSocket.open(server.wsUrl, { localAddress });
      assert.equal(socket.open, true);
    },
  );
});
