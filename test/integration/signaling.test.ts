/**
 * The signaling protocol against the real server process over real sockets: who may join, what
 * reaches whom, and what bad input gets back, while the other peers notice nothing.
 */
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { startLancast, type Lancast } from '../helpers/server.js';
import { TestSocket } from '../helpers/ws-client.js';

let server: Lancast;

before(async () => {
  server = await startLancast({ args: ['--mode', 'p2p'] });
});

after(async () => {
  await server?.stop();
});

const SDP = 'v=0\r\no=- 1 1 IN IP4 127.0.0.1\r\ns=-\r\nt=0 0\r\n';

async function room(name: string) {
  const b = await TestSocket.join(server.wsUrl, { role: 'broadcaster', room: name, key: 'test-key' });
  const v = await TestSocket.join(server.wsUrl, { role: 'viewer', room: name });
  await b.socket.next('viewer-joined', 3_000, (m) => m.id === v.id);
  return { b, v };
}

/** An offer from the broadcaster reaches the viewer: the pair still works. */
async function assertRoutes(b: { socket: TestSocket; id: string }, v: { socket: TestSocket; id: string }, cid: string) {
  b.socket.send({ type: 'offer', to: v.id, cid, sdp: SDP });
  const offer = await v.socket.next('offer', 3_000, (m) => m.cid === cid);
  assert.equal(offer.from, b.id);
  assert.equal(offer.sdp, SDP);
}

describe('joining', () => {
  test('a broadcaster with the key is welcomed with a server-assigned id', async () => {
    const socket = await TestSocket.open(server.wsUrl);
    socket.send({ type: 'join', role: 'broadcaster', room: 'join-ok', key: 'test-key' });
    const welcome = await socket.next('welcome');
    assert.equal(welcome.role, 'broadcaster');
    assert.equal(welcome.room, 'join-ok');
    assert.match(String(welcome.id), /^[\w-]{16}$/);
    socket.close();
  });

  test('a wrong key is refused with bad-key, and a retry with the right key on the same socket works', async () => {
    const socket = await TestSocket.open(server.wsUrl);
    socket.send({ type: 'join', role: 'broadcaster', room: 'join-retry', key: 'nope' });
    const err = await socket.error();
    assert.equal(err.code, 'bad-key');
    assert.equal(err.ref, 'join');
    assert.ok(socket.open);
    socket.send({ type: 'join', role: 'broadcaster', room: 'join-retry', key: 'test-key' });
    assert.equal((await socket.next('welcome')).role, 'broadcaster');
    socket.close();
  });

  test('a missing key is refused too', async () => {
    const socket = await TestSocket.open(server.wsUrl);
    socket.send({ type: 'join', role: 'broadcaster', room: 'no-key' });
    assert.equal((await socket.error()).code, 'bad-key');
    socket.close();
  });

  test('joining twice on one socket is already-joined', async () => {
    const { socket } = await TestSocket.join(server.wsUrl, { role: 'viewer', room: 'twice' });
    socket.send({ type: 'join', role: 'viewer', room: 'twice' });
    assert.equal((await socket.error()).code, 'already-joined');
    socket.close();
  });

  test('a viewer who arrives first is told the room is not live, then that it is', async () => {
    const v = await TestSocket.open(server.wsUrl);
    v.send({ type: 'join', role: 'viewer', room: 'early' });
    const welcome = await v.next('welcome');
    assert.equal(welcome.live, false);
    const b = await TestSocket.join(server.wsUrl, { role: 'broadcaster', room: 'early', key: 'test-key' });
    assert.equal((await b.socket.next('viewer-joined')).id, welcome.id);
    const status = await v.next('room', 3_000, (m) => m.live === true);
    assert.equal(status.viewers, 1);
    v.close();
    b.socket.close();
  });
});

describe('routing', () => {
  test('offer, answer and candidates travel between broadcaster and viewer, named by id and connection', async () => {
    const { b, v } = await room('route');
    await assertRoutes(b, v, 'c1');
    v.socket.send({ type: 'answer', to: b.id, cid: 'c1', sdp: SDP });
    const answer = await b.socket.next('answer');
    assert.deepEqual([answer.from, answer.cid], [v.id, 'c1']);
    const candidate = { candidate: 'candidate:1 1 udp 2122260223 127.0.0.1 50000 typ host', sdpMid: '0', sdpMLineIndex: 0 };
    v.socket.send({ type: 'candidate', to: b.id, cid: 'c1', candidate });
    const got = await b.socket.next('candidate');
    assert.deepEqual(got.candidate, candidate);
    b.socket.send({ type: 'candidate', to: v.id, cid: 'c1', candidate: null });
    assert.equal((await v.socket.next('candidate')).candidate, null);
    b.socket.close();
    v.socket.close();
  });

  test('a viewer cannot reach another viewer, nor send an offer, and the other viewer hears nothing', async () => {
    const { b, v } = await room('viewers');
    const other = await TestSocket.join(server.wsUrl, { role: 'viewer', room: 'viewers' });
    await b.socket.next('viewer-joined', 3_000, (m) => m.id === other.id);
    v.socket.send({ type: 'candidate', to: other.id, cid: 'x', candidate: null });
    assert.equal((await v.socket.error()).code, 'not-allowed');
    v.socket.send({ type: 'offer', to: b.id, cid: 'x', sdp: SDP });
    assert.equal((await v.socket.error()).code, 'not-allowed');
    const heard = (await other.socket.unclaimed()).filter((m) => m.type !== 'room');
    assert.deepEqual(heard, []);
    for (const s of [b.socket, v.socket, other.socket]) s.close();
  });

  test('peers of another room and peers that do not exist are no-such-peer', async () => {
    const one = await room('iso-1');
    const two = await room('iso-2');
    one.b.socket.send({ type: 'offer', to: two.v.id, cid: 'x', sdp: SDP });
    assert.equal((await one.b.socket.error()).code, 'no-such-peer');
    one.b.socket.send({ type: 'offer', to: 'nobody-at-all', cid: 'x', sdp: SDP });
    assert.equal((await one.b.socket.error()).code, 'no-such-peer');
    assert.deepEqual((await two.v.socket.unclaimed()).filter((m) => m.type === 'offer'), []);
    for (const s of [one.b.socket, one.v.socket, two.b.socket, two.v.socket]) s.close();
  });

  test('room status and viewer counts stay in their room', async () => {
    const one = await room('count-1');
    const two = await room('count-2');
    const extra = await TestSocket.join(server.wsUrl, { role: 'viewer', room: 'count-1' });
    const status = await one.b.socket.next('room', 3_000, (m) => m.viewers === 2);
    assert.equal(status.live, true);
    const seen = await two.b.socket.unclaimed(400);
    assert.ok(seen.every((m) => m.type !== 'room' || (m.viewers as number) <= 1), JSON.stringify(seen));
    for (const s of [one.b.socket, one.v.socket, two.b.socket, two.v.socket, extra.socket]) s.close();
  });

  test('when a viewer leaves, the broadcaster hears viewer-left at once', async () => {
    const { b, v } = await room('leave');
    const t0 = Date.now();
    v.socket.close();
    assert.equal((await b.socket.next('viewer-left')).id, v.id);
    assert.ok(Date.now() - t0 < 1_000);
    b.socket.close();
  });

  test('a second broadcaster with the key takes over; the first is told and closed with 4009', async () => {
    const { b, v } = await room('takeover');
    const next = await TestSocket.join(server.wsUrl, { role: 'broadcaster', room: 'takeover', key: 'test-key' });
    assert.equal((await b.socket.error()).code, 'replaced');
    assert.equal((await b.socket.closed).code, 4009);
    assert.equal((await next.socket.next('viewer-joined')).id, v.id);
    await assertRoutes(next, v, 'after');
    next.socket.close();
    v.socket.close();
  });
});

describe('bad input', () => {
  test('each kind of bad frame gets its error code; the sender stays connected and the room keeps working', async () => {
    const { b, v } = await room('bad');
    const bad = await TestSocket.open(server.wsUrl);
    const cases: [string | Buffer, string][] = [
      ['{nope', 'bad-json'],
      ['[1,2,3]', 'bad-message'],
      ['"just a string"', 'bad-message'],
      ['{"no":"type"}', 'bad-message'],
      ['{"type":"dance"}', 'unknown-type'],
      ['{"type":"join","role":"viewer"}', 'bad-message'],
      ['{"type":"join","role":"king","room":"bad"}', 'bad-message'],
      ['{"type":"join","role":"viewer","room":"<img src=x onerror=alert(1)>"}', 'bad-message'],
      ['{"type":"offer","to":"x","cid":"c","sdp":"v=0"}', 'not-joined'],
      [Buffer.from([1, 2, 3]), 'bad-message'],
    ];
    for (const [frame, code] of cases) {
      if (Buffer.isBuffer(frame)) bad.ws.send(frame);
      else bad.send(frame);
      const err = await bad.error();
      assert.equal(err.code, code, `for ${String(frame)}: ${JSON.stringify(err)}`);
      assert.equal(typeof err.message, 'string');
    }
    assert.ok(bad.open);
    await assertRoutes(b, v, 'still-fine');
    for (const s of [b.socket, v.socket, bad]) s.close();
  });

  test('a frame over 64 KiB closes that socket with 1009, and nobody else notices', async () => {
    const { b, v } = await room('big');
    const big = await TestSocket.open(server.wsUrl);
    big.send(JSON.stringify({ type: 'join', role: 'viewer', room: 'big', pad: 'x'.repeat(70 * 1024) }));
    assert.equal((await big.closed).code, 1009);
    await assertRoutes(b, v, 'after-big');
    assert.ok(b.socket.open && v.socket.open);
    assert.equal((await fetch(`${server.url}/healthz`)).status, 200);
    b.socket.close();
    v.socket.close();
  });

  test('an SDP over its limit inside a frame is a clear bad-message', async () => {
    const { b, v } = await room('long-sdp');
    b.socket.send({ type: 'offer', to: v.id, cid: 'c', sdp: 'a'.repeat(40 * 1024) });
    const err = await b.socket.error();
    assert.equal(err.code, 'bad-message');
    assert.match(String(err.message), /sdp/);
    b.socket.close();
    v.socket.close();
  });
});
