/**
 * Access and limits on a shared network: passwords on every path, guessing slowed down, and each
 * limit refusing with a clear error while everyone else carries on.
 */
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { waitFor } from '../helpers/browser.js';
import { startLancast, type Lancast } from '../helpers/server.js';
import { TestSocket } from '../helpers/ws-client.js';
import { whipPublish } from '../helpers/wrtc.js';

let server: Lancast;

before(async () => {
  server = await startLancast({
    args: ['--view-password', 'pw', '--max-viewers', '2', '--max-rooms', '4', '--max-sockets-per-address', '12', '--mode', 'p2p'],
  });
});

after(async () => {
  await server?.stop();
});

const sdpWith = (mediaSections: number, extra = '') =>
  `v=0\r\no=- 1 1 IN IP4 127.0.0.1\r\ns=-\r\nt=0 0\r\n${'m=video 9 UDP/TLS/RTP/SAVPF 96\r\na=rtpmap:96 VP8/90000\r\n'.repeat(mediaSections)}${extra}`;

describe('view password', () => {
  test('the WebSocket needs it: none or wrong is bad-password, the right one is welcome', async () => {
    const s = await TestSocket.open(server.wsUrl);
    s.send({ type: 'join', role: 'viewer', room: 'pw-room' });
    assert.equal((await s.error()).code, 'bad-password');
    s.send({ type: 'join', role: 'viewer', room: 'pw-room', password: 'pw' });
    assert.equal((await s.next('welcome')).role, 'viewer');
    s.close();
  });

  test('WHEP needs it as a Bearer token', async () => {
    const b = await TestSocket.join(server.wsUrl, { role: 'broadcaster', room: 'pw-whep', key: 'test-key' });
    try {
      const res = await fetch(`${server.url}/whep/pw-whep`, { method: 'POST', headers: { 'content-type': 'application/sdp' }, body: sdpWith(1) });
      assert.equal(res.status, 401);
      assert.match(await res.text(), /view password/);
      // The right password gets past the lock (this room is p2p only, so the next answer is 409).
      const ok = await fetch(`${server.url}/whep/pw-whep`, { method: 'POST', headers: { 'content-type': 'application/sdp', authorization: 'Bearer pw' }, body: sdpWith(1) });
      assert.equal(ok.status, 409);
    } finally {
      b.socket.close();
    }
  });

  test('the API shows a protected room exists, and nothing else about it; no secret appears', async () => {
    const b = await TestSocket.join(server.wsUrl, { role: 'broadcaster', room: 'pw-api', key: 'test-key' });
    const v = await TestSocket.join(server.wsUrl, { role: 'viewer', room: 'pw-api', password: 'pw' });
    try {
      const text = await (await fetch(`${server.url}/api/rooms`)).text();
      const room = (JSON.parse(text) as { rooms: Record<string, unknown>[] }).rooms.find((r) => r.name === 'pw-api');
      assert.deepEqual(room, { name: 'pw-api', live: true, protected: true, viewers: 0, mode: 'p2p' });
      assert.doesNotMatch(text, /"pw"|test-key/);
    } finally {
      b.socket.close();
      v.socket.close();
    }
  });
});

describe('a room password set by its broadcaster', () => {
  test('viewers need the room password (or the server one); the broadcaster never echoes it', async () => {
    const plain = await startLancast({ args: ['--mode', 'p2p'] });
    try {
      const b = await TestSocket.join(plain.wsUrl, { role: 'broadcaster', room: 'private', key: 'test-key', viewPassword: 'family' });
      const v = await TestSocket.open(plain.wsUrl);
      v.send({ type: 'join', role: 'viewer', room: 'private', password: 'guess' });
      assert.equal((await v.error()).code, 'bad-password');
      v.send({ type: 'join', role: 'viewer', room: 'private', password: 'family' });
      await v.next('welcome');
      const text = await (await fetch(`${plain.url}/api/rooms`)).text();
      assert.doesNotMatch(text, /family/);
      assert.match(text, /"protected":true/);
      const open = await TestSocket.join(plain.wsUrl, { role: 'viewer', room: 'public' });
      assert.equal(typeof open.id, 'string');
      for (const s of [b.socket, v, open.socket]) s.close();
    } finally {
      await plain.stop();
    }
  });
});

describe('guessing', () => {
  test('after three wrong keys an address must wait, on the WebSocket and on WHIP alike', async () => {
    const s = await TestSocket.open(server.wsUrl);
    for (let i = 0; i < 3; i++) {
      s.send({ type: 'join', role: 'broadcaster', room: 'guess', key: `wrong-${i}` });
      assert.equal((await s.error()).code, 'bad-key');
    }
    s.send({ type: 'join', role: 'broadcaster', room: 'guess', key: 'test-key' });
    const slowed = await s.error();
    assert.equal(slowed.code, 'too-many-attempts');
    assert.ok((slowed.retryAfterMs as number) > 0 && (slowed.retryAfterMs as number) <= 1_000);
    const whip = await fetch(`${server.url}/whip/guess`, { method: 'POST', headers: { 'content-type': 'application/sdp', authorization: 'Bearer test-key' }, body: sdpWith(1) });
    assert.equal(whip.status, 429);
    assert.ok(Number(whip.headers.get('retry-after')) >= 1);
    // Once the wait is over the right key works again, and clears the record.
    await new Promise((r) => setTimeout(r, (slowed.retryAfterMs as number) + 50));
    s.send({ type: 'join', role: 'broadcaster', room: 'guess', key: 'test-key' });
    assert.equal((await s.next('welcome')).role, 'broadcaster');
    s.close();
  });
});

describe('limits', () => {
  test('a full room refuses the next viewer with room-full; its viewers are untouched', async () => {
    const b = await TestSocket.join(server.wsUrl, { role: 'broadcaster', room: 'full', key: 'test-key' });
    const v1 = await TestSocket.join(server.wsUrl, { role: 'viewer', room: 'full', password: 'pw' });
    const v2 = await TestSocket.join(server.wsUrl, { role: 'viewer', room: 'full', password: 'pw' });
    const v3 = await TestSocket.open(server.wsUrl);
    v3.send({ type: 'join', role: 'viewer', room: 'full', password: 'pw' });
    const err = await v3.error();
    assert.equal(err.code, 'room-full');
    assert.match(String(err.message), /full/);
    b.socket.send({ type: 'offer', to: v2.id, cid: 'c', sdp: sdpWith(1) });
    assert.equal((await v2.socket.next('offer')).cid, 'c');
    for (const s of [b.socket, v1.socket, v2.socket, v3]) s.close();
  });

  test('past --max-rooms a new room is refused with too-many-rooms', async () => {
    const sockets: TestSocket[] = [];
    try {
      // Other tests' rooms may still be closing: fill up to the limit, then one more.
      let refused: Record<string, unknown> | undefined;
      for (let i = 0; i < 6 && !refused; i++) {
        const s = await TestSocket.open(server.wsUrl);
        sockets.push(s);
        s.send({ type: 'join', role: 'broadcaster', room: `many-${i}`, key: 'test-key' });
        const reply = await Promise.race([s.next('welcome'), s.next('error')]);
        if (reply.type === 'error') refused = reply;
      }
      assert.equal(refused?.code, 'too-many-rooms');
    } finally {
      for (const s of sockets) s.close();
    }
  });

  test('past --max-rooms a WHIP publisher to a new room is refused with 503, not left publishing where nobody can watch', async () => {
    const sockets: TestSocket[] = [];
    let whip: Awaited<ReturnType<typeof whipPublish>> | undefined;
    try {
      // The rooms of the tests before must be gone: one closing between the fill and the WHIP post frees a place.
      const listed = async () => ((await (await fetch(`${server.url}/api/rooms`)).json()) as { rooms: unknown[] }).rooms;
      await waitFor(listed, (rooms) => rooms.length === 0, 10_000, 'no rooms left from earlier tests');
      let full = false;
      for (let i = 0; i < 6 && !full; i++) {
        const s = await TestSocket.open(server.wsUrl);
        sockets.push(s);
        s.send({ type: 'join', role: 'broadcaster', room: `whip-many-${i}`, key: 'test-key' });
        const reply = await Promise.race([s.next('welcome'), s.next('error')]);
        full = reply.type === 'error' && reply.code === 'too-many-rooms';
      }
      assert.ok(full, 'the server is full');
      whip = await whipPublish(server.url, 'whip-one-too-many', 'test-key');
      assert.equal(whip.status, 503, whip.body);
      assert.match(whip.body, /rooms already/);
    } finally {
      if (whip?.status === 201) await whip.stop();
      else whip?.pc.close();
      for (const s of sockets) s.close();
    }
  });

  test('past --max-sockets-per-address the upgrade is refused with 429', async () => {
    const sockets: TestSocket[] = [];
    try {
      let status: string | undefined;
      for (let i = 0; i < 14 && !status; i++) {
        try {
          sockets.push(await TestSocket.open(server.wsUrl));
        } catch (err) {
          status = (err as Error).message;
        }
      }
      assert.match(status ?? '', /429/);
    } finally {
      for (const s of sockets) s.close();
    }
    await new Promise((r) => setTimeout(r, 200));
    const again = await TestSocket.open(server.wsUrl);
    again.close();
  });

  test('a flooding socket is told rate-limited, then closed with 1008; its room carries on', async () => {
    const b = await TestSocket.join(server.wsUrl, { role: 'broadcaster', room: 'flood', key: 'test-key' });
    const v = await TestSocket.join(server.wsUrl, { role: 'viewer', room: 'flood', password: 'pw' });
    const flood = await TestSocket.open(server.wsUrl);
    for (let i = 0; i < 1_500; i++) flood.ws.send('{"type":"leave"}');
    assert.equal((await flood.next('error', 3_000, (m) => m.code === 'rate-limited')).code, 'rate-limited');
    assert.equal((await flood.closedWithin()).code, 1008);
    b.socket.send({ type: 'offer', to: v.id, cid: 'after-flood', sdp: sdpWith(1) });
    assert.equal((await v.socket.next('offer')).cid, 'after-flood');
    for (const s of [b.socket, v.socket]) s.close();
  });

  test('a socket that keeps sending at 2.5x the rate is closed with 1008, though some of its messages get through', async () => {
    // Paced, so the bucket refills as it goes: every few messages one is accepted, and a streak of
    // refusals never builds up. The server reads a flood on a busy machine the same way.
    const flood = await TestSocket.open(server.wsUrl);
    let sent = 0;
    while (flood.open && sent < 5_000) {
      for (let i = 0; i < 10; i++) flood.ws.send('{"type":"leave"}');
      sent += 10;
      await new Promise((r) => setTimeout(r, 20));
    }
    assert.equal((await flood.closedWithin(5_000)).code, 1008);
    assert.ok(sent < 5_000, `still open after ${sent} messages at 500 a second`);
  });

  test('absurd SDP is refused before it reaches anyone: too many sections, candidates or bad ports', async () => {
    const b = await TestSocket.join(server.wsUrl, { role: 'broadcaster', room: 'sdp', key: 'test-key' });
    const v = await TestSocket.join(server.wsUrl, { role: 'viewer', room: 'sdp', password: 'pw' });
    const cases: [string, RegExp][] = [
      [sdpWith(20), /media sections/],
      [sdpWith(1, 'a=candidate:1 1 udp 1 127.0.0.1 99999 typ host\r\n'), /impossible port/],
      [sdpWith(1, 'a=candidate:1 1 udp 1 127.0.0.1 5000 typ host\r\n'.repeat(100)), /candidates/],
      ['hello', /v=0/],
    ];
    for (const [sdp, why] of cases) {
      b.socket.send({ type: 'offer', to: v.id, cid: 'c', sdp });
      const err = await b.socket.error();
      assert.equal(err.code, 'bad-message');
      assert.match(String(err.message), why);
    }
    b.socket.send({ type: 'candidate', to: v.id, cid: 'c', candidate: { candidate: 'candidate:x 1 udp 1 1.2.3.4 70000 typ host' } });
    assert.equal((await b.socket.error()).code, 'bad-message');
    assert.deepEqual((await v.socket.unclaimed()).filter((m) => m.type === 'offer' || m.type === 'candidate'), []);
    const whip = await fetch(`${server.url}/whip/sdp-whip`, { method: 'POST', headers: { 'content-type': 'application/sdp', authorization: 'Bearer test-key' }, body: sdpWith(20) });
    assert.equal(whip.status, 400);
    assert.match(await whip.text(), /media sections/);
    for (const s of [b.socket, v.socket]) s.close();
  });

  test('a WHIP body over 64 KiB is refused with 413', async () => {
    const res = await fetch(`${server.url}/whip/big`, { method: 'POST', headers: { 'content-type': 'application/sdp', authorization: 'Bearer test-key' }, body: sdpWith(1, `a=x:${'y'.repeat(70_000)}\r\n`) });
    assert.equal(res.status, 413);
  });
});

