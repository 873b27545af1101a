/**
 * Connections that send nothing, or their request too slowly, are closed; one address cannot hold
 * more than --max-connections-per-address; and while one address floods, others are served.
 * Real server process, real sockets from several loopback source addresses.
 */
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { readdirSync } from 'node:fs';
import http from 'node:http';
import net from 'node:net';
import tls from 'node:tls';
import { after, before, describe, test } from 'node:test';
import { metricValue, startLancast, type Lancast } from '../helpers/server.js';
import { TestSocket } from '../helpers/ws-client.js';

const OFFER = 'v=0\r\no=- 1 1 IN IP4 127.0.0.1\r\ns=-\r\nt=0 0\r\nm=video 9 UDP/TLS/RTP/SAVPF 96\r\na=rtpmap:96 VP8/90000\r\n';
/** Much longer than any timeout here: a connection still open by then is never closed. */
const NEVER_MS = 30_000;

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

interface Raw {
  socket: net.Socket;
  /** ms after the connect at which the connection closed. */
  closed: Promise<number>;
  isClosed(): boolean;
  received(): string;
}

function watch(socket: net.Socket): Raw {
  const start = Date.now();
  let done = false;
  let text = '';
  socket.on('data', (d: Buffer) => (text += d.toString('latin1')));
  socket.on('error', () => undefined);
  const closed = new Promise<number>((resolve) =>
    socket.once('close', () => {
      done = true;
      resolve(Date.now() - start);
    }),
  );
  return { socket, closed, isClosed: () => done, received: () => text };
}

/** A TCP connection to the server from `localAddress` (resolves once connected, or closed). */
function connect(port: number, localAddress: string): Promise<Raw> {
  return new Promise((resolve) => {
    const socket = net.connect({ port, host: '127.0.0.1', localAddress });
    const raw = watch(socket);
    socket.once('connect', () => resolve(raw));
    void raw.closed.then(() => resolve(raw));
  });
}

/** ms to the close, or undefined when the connection is still open after `limitMs`. */
function closedWithin(raw: Raw, limitMs = NEVER_MS): Promise<number | undefined> {
  return Promise.race([raw.closed, sleep(limitMs).then(() => undefined)]);
}

/** Writes `text` one byte per `everyMs` until it is all sent or the connection closes. */
async function dribble(raw: Raw, text: string, everyMs = 1_000): Promise<void> {
  for (const ch of text) {
    if (raw.isClosed()) return;
    raw.socket.write(ch);
    await Promise.race([sleep(everyMs), raw.closed]);
  }
}

/** One HTTP request on a connection of its own from `localAddress`. */
function request(port: number, localAddress: string, method: string, path: string, body?: string): Promise<{ status: number; text: string }> {
  return new Promise((resolve, reject) => {
    const req = http.request({ host: '127.0.0.1', port, localAddress, method, path, agent: false, headers: body ? { 'content-type': 'application/sdp' } : {} }, (res) => {
      let text = '';
      res.on('data', (d) => (text += d));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, text }));
      res.on('error', reject);
    });
    req.on('error', reject);
    req.end(body);
  });
}

describe('slow and idle connections (--idle-timeout 2 --headers-timeout 4)', { concurrency: true }, () => {
  let server: Lancast;
  before(async () => {
    server = await startLancast({ args: ['--idle-timeout', '2', '--headers-timeout', '4', '--max-connections-per-address', '20'] });
  });
  after(async () => {
    TestSocket.closeAll();
    await server?.stop();
  });

  test('a connection that sends nothing is closed after the idle timeout', async () => {
    const raw = await connect(server.port, '127.0.0.4');
    const at = await closedWithin(raw);
    assert.ok(at !== undefined, `a silent connection was still open after ${NEVER_MS} ms`);
    assert.ok(at >= 1_500, `closed after ${at} ms, before the 2 s idle timeout`);
    assert.equal(raw.received(), '', 'nothing is answered to a connection that said nothing');
  });

  test('slowloris: headers sent one byte a second, never finished, are cut after the headers timeout', async () => {
    const raw = await connect(server.port, '127.0.0.4');
    raw.socket.write('GET /healthz HTTP/1.1\r\nHost: x\r\n');
    void dribble(raw, 'X-Slow: ' + 'a'.repeat(200));
    const at = await closedWithin(raw);
    assert.ok(at !== undefined, `a request dribbling its headers was still open after ${NEVER_MS} ms`);
    assert.ok(at >= 3_500, `closed after ${at} ms: before the 4 s headers timeout (it was sending all along)`);
    assert.doesNotMatch(raw.received(), /200 OK/);
  });

  test('slowloris on the second request of a keep-alive connection is cut as well', async () => {
    const raw = await connect(server.port, '127.0.0.4');
    raw.socket.write('GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n');
    const deadline = Date.now() + 10_000;
    while (!/"ok":true/.test(raw.received()) && !raw.isClosed() && Date.now() < deadline) await sleep(20);
    assert.match(raw.received(), /^HTTP\/1\.1 200 OK/, 'the first request is answered');
    const secondStart = Date.now();
    void dribble(raw, 'GET /healthz HTTP/1.1\r\nHost: x\r\nX-Slow: ' + 'a'.repeat(200));
    await closedWithin(raw);
    assert.ok(raw.isClosed(), `the dribbled second request was still open after ${NEVER_MS} ms`);
    assert.ok(Date.now() - secondStart >= 3_500, 'closed by the headers timeout, not before it');
  });

  test('a keep-alive connection left idle after its answer is closed (Node\'s 5 s keepAliveTimeout)', async () => {
    const raw = await connect(server.port, '127.0.0.4');
    raw.socket.write('GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n');
    const at = await closedWithin(raw);
    assert.ok(at !== undefined, `an idle keep-alive connection was still open after ${NEVER_MS} ms`);
    assert.match(raw.received(), /^HTTP\/1\.1 200 OK/);
  });

  test('a bare request line without its blank line is closed', async () => {
    const raw = await connect(server.port, '127.0.0.4');
    raw.socket.write('GET / HTTP/1.1\r\n');
    const at = await closedWithin(raw);
    assert.ok(at !== undefined, `a bare request line was still open after ${NEVER_MS} ms`);
    assert.ok(at >= 3_500, `closed after ${at} ms, before the 4 s headers timeout`);
  });

  test('a TLS connection that finishes its handshake, then says nothing, is closed', async () => {
    const tcp = net.connect({ host: '127.0.0.1', port: server.port, localAddress: '127.0.0.4' });
    const socket = tls.connect({ socket: tcp, rejectUnauthorized: false });
    const raw = watch(socket);
    await new Promise((resolve, reject) => socket.once('secureConnect', resolve).once('error', reject));
    const at = await closedWithin(raw);
    assert.ok(at !== undefined, `an idle TLS connection was still open after ${NEVER_MS} ms`);
    assert.ok(at >= 3_500, `closed after ${at} ms, before the 4 s headers timeout`);
  });

  test('a TLS handshake that stops halfway is closed', async () => {
    const raw = await connect(server.port, '127.0.0.4');
    // A handshake record announcing 512 bytes, of which one arrives.
    raw.socket.write(Buffer.from([0x16, 0x03, 0x01, 0x02, 0x00, 0x01]));
    const at = await closedWithin(raw);
    assert.ok(at !== undefined, `a half TLS handshake was still open after ${NEVER_MS} ms`);
    assert.ok(at >= 3_500, `closed after ${at} ms, before the 4 s headers timeout`);
  });

  test('a request whose headers are complete may send its body slowly', async () => {
    const raw = await connect(server.port, '127.0.0.4');
    raw.socket.write(`POST /whep/nobody HTTP/1.1\r\nHost: x\r\nContent-Type: application/sdp\r\nContent-Length: ${OFFER.length}\r\nConnection: close\r\n\r\n`);
    await dribble(raw, OFFER.slice(0, 6), 1_000);
    raw.socket.write(OFFER.slice(6));
    await closedWithin(raw);
    assert.match(raw.received(), /^HTTP\/1\.1 404 /, 'answered, past the headers timeout');
    assert.match(raw.received(), /room "nobody" is not live/);
  });

  test('WebSockets (ws and wss) live on past both timeouts', async () => {
    const plain = await TestSocket.join(server.wsUrl, { role: 'viewer', room: 'quiet' }, { localAddress: '127.0.0.7' });
    const secure = await TestSocket.join(`wss://127.0.0.1:${server.port}/ws`, { role: 'viewer', room: 'quiet' }, { localAddress: '127.0.0.7', rejectUnauthorized: false });
    await sleep(7_000);
    for (const s of [plain, secure]) {
      s.socket.send({ type: 'ping' });
      assert.equal((await s.socket.next('pong')).type, 'pong');
    }
  });

  test('past --max-connections-per-address (WebSockets counted) an address is refused; another is served', async () => {
    const sockets: TestSocket[] = [];
    for (let i = 0; i < 20; i++) sockets.push(await TestSocket.open(server.wsUrl, { localAddress: '127.0.0.5' }));
    await assert.rejects(request(server.port, '127.0.0.5', 'GET', '/healthz'), /ECONNRESET|socket hang up/, 'the 21st connection of 127.0.0.5');
    assert.equal((await request(server.port, '127.0.0.6', 'GET', '/healthz')).status, 200, 'another address');
    for (const s of sockets) assert.equal(s.ws.readyState, s.ws.OPEN, 'the refusal leaves the open ones alone');
    sockets.pop()!.ws.close();
    const deadline = Date.now() + 10_000;
    let status = 0;
    while (status !== 200 && Date.now() < deadline) status = await request(server.port, '127.0.0.5', 'GET', '/healthz').then((r) => r.status, () => 0);
    assert.equal(status, 200, 'once one closes, the address may connect again');
  });
});

describe('one address floods (default limits, the server allowed 1024 descriptors)', () => {
  let server: Lancast;
  const flood: Raw[] = [];
  before(async () => {
    // Idle flood sockets must outlast the test: the cap, not the idle timeout, is under test.
    server = await startLancast({ args: ['--idle-timeout', '120'] });
    execFileSync('prlimit', ['--pid', String(server.proc.pid), '--nofile=1024:1024']);
  });
  after(async () => {
    for (const r of flood) r.socket.destroy();
    await server?.stop();
  });

  test('2,000 idle connections from 127.0.0.3: 256 held, the rest refused, 127.0.0.2 still served', async (t) => {
    const fds = () => readdirSync(`/proc/${server.proc.pid}/fd`).length;
    const baseline = fds();
    for (let i = 0; i < 2_000; i += 100) {
      flood.push(...(await Promise.all(Array.from({ length: 100 }, () => connect(server.port, '127.0.0.3')))));
    }
    const deadline = Date.now() + 20_000;
    const held = () => flood.filter((r) => !r.isClosed()).length;
    while (held() > 256 && Date.now() < deadline) await sleep(50);
    t.diagnostic(`server descriptors ${baseline} before the flood, ${fds()} during it; flood sockets held ${held()}`);

    const health = await request(server.port, '127.0.0.2', 'GET', '/healthz');
    assert.deepEqual([health.status, (JSON.parse(health.text) as { ok: boolean }).ok], [200, true], 'GET /healthz from 127.0.0.2');
    const whep = await request(server.port, '127.0.0.2', 'POST', '/whep/nobody', OFFER);
    assert.equal(whep.status, 404, 'POST /whep from 127.0.0.2');
    assert.match(whep.text, /room "nobody" is not live/);

    assert.equal(held(), 256, 'connections 127.0.0.3 holds');

    assert.equal(await metricValue(server.url, 'lancast_connections_refused_total'), 2_000 - 256);
    const lines = server.output().split('\n').filter((l) => l.includes('connections refused') && l.includes('127.0.0.3'));
    assert.ok(lines.length >= 1 && lines.length <= 3, `the refusals are logged, a line per 10 s at most (${lines.length} lines)`);
  });
});
