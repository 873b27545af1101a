/**
 * The signaling protocol against the real server process over real sockets: who may join, what
 * reaches whom, and what bad input gets back, while the other peers notice nothing.
 */
import assert from 'node:assert/strict';
import { after, afterEach, before, describe, test } from 'node:test';
import { listRooms, startLancast, type Lancast, type RoomInfo } from '../helpers/server.js';
import { TestSocket, type Message } from '../helpers/ws-client.js';

let server: Lancast;

before(async () => {
  server = await startLancast({ args: ['--mode', 'p2p'] });
});

afterEach(() => TestSocket.closeAll());

after(async () => {
  await server?.stop();
});

const KEY = 'test-key';
const SDP = 'v=0\r\no=- 1 1 IN IP4 127.0.0.1\r\ns=-\r\nt=0 0\r\nm=video 9 UDP/TLS/RTP/SAVPF 96\r\na=rtpmap:96 VP8/90000\r\n';
const ANSWER_SDP = SDP.replace('o=- 1 1', 'o=- 2 2');
const CANDIDATE = { candidate: 'candidate:1 1 udp 2122260223 192.168.1.20 50000 typ host', sdpMid: '0', sdpMLineIndex: 0 };

interface Joined {
  socket: TestSocket;
  id: string;
  welcome: Message;
}

/** Each client of these tests comes from its own loopback address, so guessing limits never mix. */
let nextAddress = 10;
const fromNewAddress = () => ({ localAddress: `127.0.0.${nextAddress++}` });

const broadcaster = (room: string) => TestSocket.join(server.wsUrl, { role: 'broadcaster', room, key: KEY });
const viewer = (room: string) => TestSocket.join(server.wsUrl, { role: 'viewer', room });

/** A live room: a broadcaster, then a viewer it has been told about. */
async function liveRoom(room: string): Promise<{ b: Joined; v: Joined }> {
  const b = await broadcaster(room);
  const v = await viewer(room);
  await b.socket.next('viewer-joined', 3_000, (m) => m.id === v.id);
  return { b, v };
}

/** Offer down, answer up, candidates both ways: the pair still talks, each message exactly as sent. */
async function assertPairTalks(b: Joined, v: Joined, cid: string): Promise<void> {
  b.socket.send({ type: 'offer', to: v.id, cid, sdp: SDP });
  assert.deepEqual(await v.socket.next('offer', 3_000, (m) => m.cid === cid), { type: 'offer', from: b.id, cid, sdp: SDP });
  v.socket.send({ type: 'answer', to: b.id, cid, sdp: ANSWER_SDP });
  assert.deepEqual(await b.socket.next('answer', 3_000, (m) => m.cid === cid), { type: 'answer', from: v.id, cid, sdp: ANSWER_SDP });
}

async function status(): Promise<RoomInfo[]> {
  return listRooms(server.url);
}

describe('joining', () => {
  test('a broadcaster with the publish key is welcomed with an id the server chose', async () => {
    const socket = await TestSocket.open(server.wsUrl);
    // A client-chosen id is ignored: ids come from the server only.
    socket.send({ type: 'join', role: 'broadcaster', room: 'join-ok', key: KEY, id: 'my-own-id' });
    const welcome = await socket.next('welcome');
    assert.deepEqual({ ...welcome, id: '' }, { type: 'welcome', id: '', role: 'broadcaster', room: 'join-ok', mode: 'p2p', live: true, viewers: 0, iceServers: [] });
    assert.match(String(welcome.id), /^[A-Za-z0-9_-]{16}$/);
    const other = await broadcaster('join-ok-2');
    assert.notEqual(other.id, welcome.id);
  });

  test('a wrong publish key is refused with bad-key; the socket stays open and a retry with the right key is welcomed', async () => {
    const socket = await TestSocket.open(server.wsUrl, fromNewAddress());
    socket.send({ type: 'join', role: 'broadcaster', room: 'join-retry', key: 'not-the-key' });
    const err = await socket.error();
    assert.deepEqual([err.code, err.ref], ['bad-key', 'join']);
    assert.equal(socket.open, true);
    assert.equal((await status()).find((r) => r.name === 'join-retry'), undefined, 'a refused broadcaster made no room');
    socket.send({ type: 'join', role: 'broadcaster', room: 'join-retry', key: KEY });
    const welcome = await socket.next('welcome');
    assert.deepEqual([welcome.role, welcome.live], ['broadcaster', true]);
    assert.equal((await status()).find((r) => r.name === 'join-retry')?.live, true);
  });

  test('a broadcaster without a key is refused with bad-key', async () => {
    const socket = await TestSocket.open(server.wsUrl, fromNewAddress());
    assert.equal(await socket.errorFor({ type: 'join', role: 'broadcaster', room: 'no-key' }), 'bad-key');
    assert.equal(socket.open, true);
  });

  test('a viewer needs no key; in a room nobody broadcasts to it is welcomed as not live', async () => {
    const { welcome } = await viewer('empty-room');
    assert.deepEqual([welcome.role, welcome.live, welcome.viewers], ['viewer', false, 1]);
  });

  test('a viewer who arrives first hears the room go live, and the broadcaster is told about that viewer', async () => {
    const v = await viewer('early');
    assert.equal(v.welcome.live, false);
    const b = await broadcaster('early');
    assert.equal(b.welcome.viewers, 1);
    assert.deepEqual(await b.socket.next('viewer-joined'), { type: 'viewer-joined', id: v.id });
    const live = await v.socket.next('room', 3_000, (m) => m.live === true);
    assert.deepEqual([live.viewers, live.mode], [1, 'p2p']);
  });

  test('joining twice on one socket is already-joined, and the first membership stands', async () => {
    const { b, v } = await liveRoom('twice');
    assert.equal(await v.socket.errorFor({ type: 'join', role: 'viewer', room: 'elsewhere' }), 'already-joined');
    await assertPairTalks(b, v, 'still-here');
  });

  test('after leave a socket is out of the room (viewer-left), and may join again', async () => {
    const { b, v } = await liveRoom('rejoin');
    v.socket.send({ type: 'leave' });
    assert.deepEqual(await b.socket.next('viewer-left'), { type: 'viewer-left', id: v.id });
    assert.equal(await v.socket.errorFor({ type: 'answer', to: b.id, cid: 'c', sdp: SDP }), 'not-joined');
    v.socket.send({ type: 'join', role: 'viewer', room: 'rejoin' });
    await v.socket.next('welcome');
    assert.equal((await b.socket.next('viewer-joined')).id, v.id);
  });

  test('ping is answered with pong, joined or not', async () => {
    const socket = await TestSocket.open(server.wsUrl);
    socket.send({ type: 'ping' });
    assert.deepEqual(await socket.next('pong'), { type: 'pong' });
  });
});

describe('viewers coming and going', () => {
  test('the broadcaster hears viewer-joined with each viewer id, and the viewer count follows', async () => {
    const b = await broadcaster('arrivals');
    const v1 = await viewer('arrivals');
    const v2 = await viewer('arrivals');
    const joined = [await b.socket.next('viewer-joined'), await b.socket.next('viewer-joined')].map((m) => m.id);
    assert.deepEqual(joined.sort(), [v1.id, v2.id].sort());
    const count = await b.socket.next('room', 3_000, (m) => m.viewers === 2);
    assert.equal(count.live, true);
  });

  test('when a viewer closes its socket the broadcaster hears viewer-left within two seconds', async () => {
    const { b, v } = await liveRoom('leave-close');
    const t0 = Date.now();
    v.socket.close();
    assert.deepEqual(await b.socket.next('viewer-left', 4_000), { type: 'viewer-left', id: v.id });
    assert.ok(Date.now() - t0 < 2_000, `took ${Date.now() - t0} ms`);
    assert.equal((await b.socket.next('room', 3_000, (m) => m.viewers === 0)).live, true);
  });

  test('a viewer whose connection drops without a close frame is gone just as fast', async () => {
    const { b, v } = await liveRoom('leave-drop');
    const t0 = Date.now();
    v.socket.terminate();
    assert.equal((await b.socket.next('viewer-left', 4_000)).id, v.id);
    assert.ok(Date.now() - t0 < 2_000, `took ${Date.now() - t0} ms`);
  });

  test('when the broadcaster goes, viewers hear the room is not live; when one returns it is told about them', async () => {
    const { b, v } = await liveRoom('comeback');
    b.socket.close();
    const ended = await v.socket.next('room', 3_000, (m) => m.live === false);
    assert.equal(ended.viewers, 1);
    assert.equal(await v.socket.errorFor({ type: 'answer', to: b.id, cid: 'c', sdp: SDP }), 'no-such-peer');
    const again = await broadcaster('comeback');
    assert.equal((await again.socket.next('viewer-joined')).id, v.id);
    await v.socket.next('room', 3_000, (m) => m.live === true);
    await assertPairTalks(again, v, 'after-comeback');
  });
});

describe('routing', () => {
  test('offer, answer and candidates reach exactly the peer named, from the sender id, and nobody else', async () => {
    const { b, v } = await liveRoom('route');
    const bystander = await viewer('route');
    await b.socket.next('viewer-joined', 3_000, (m) => m.id === bystander.id);
    const elsewhere = await liveRoom('route-elsewhere');

    await assertPairTalks(b, v, 'c1');
    v.socket.send({ type: 'candidate', to: b.id, cid: 'c1', candidate: CANDIDATE });
    assert.deepEqual(await b.socket.next('candidate'), { type: 'candidate', from: v.id, cid: 'c1', candidate: CANDIDATE });
    b.socket.send({ type: 'candidate', to: v.id, cid: 'c1', candidate: CANDIDATE });
    assert.deepEqual(await v.socket.next('candidate'), { type: 'candidate', from: b.id, cid: 'c1', candidate: CANDIDATE });
    b.socket.send({ type: 'candidate', to: v.id, cid: 'c1', candidate: null });
    assert.deepEqual(await v.socket.next('candidate'), { type: 'candidate', from: b.id, cid: 'c1', candidate: null });
    v.socket.send({ type: 'restart', to: b.id });
    assert.deepEqual(await b.socket.next('restart'), { type: 'restart', from: v.id });
    b.socket.send({ type: 'hangup', to: v.id, cid: 'c1' });
    assert.deepEqual(await v.socket.next('hangup'), { type: 'hangup', from: b.id, cid: 'c1' });

    const heard = await Promise.all([b, v, bystander, elsewhere.b, elsewhere.v].map((p) => p.socket.quiet(200)));
    assert.deepEqual(heard, [[], [], [], [], []], 'nobody else heard anything');
  });

  test('a viewer cannot send anything to another viewer (not-allowed), and that viewer hears nothing', async () => {
    const { b, v } = await liveRoom('viewer-to-viewer');
    const other = await viewer('viewer-to-viewer');
    await b.socket.next('viewer-joined', 3_000, (m) => m.id === other.id);
    for (const msg of [
      { type: 'answer', to: other.id, cid: 'x', sdp: SDP },
      { type: 'candidate', to: other.id, cid: 'x', candidate: CANDIDATE },
      { type: 'restart', to: other.id },
      { type: 'hangup', to: other.id, cid: 'x' },
      { type: 'offer', to: other.id, cid: 'x', sdp: SDP },
    ]) {
      v.socket.send(msg);
      const err = await v.socket.error();
      assert.deepEqual([err.code, err.ref], ['not-allowed', msg.type], msg.type);
    }
    assert.deepEqual(await other.socket.quiet(), []);
    assert.deepEqual(await b.socket.quiet(100), []);
  });

  test('a viewer cannot send an offer, and a broadcaster cannot send an answer or a restart', async () => {
    const { b, v } = await liveRoom('directions');
    assert.equal(await v.socket.errorFor({ type: 'offer', to: b.id, cid: 'x', sdp: SDP }), 'not-allowed');
    assert.equal(await b.socket.errorFor({ type: 'answer', to: v.id, cid: 'x', sdp: SDP }), 'not-allowed');
    assert.equal(await b.socket.errorFor({ type: 'restart', to: v.id }), 'not-allowed');
    assert.deepEqual(await b.socket.quiet(100), []);
    assert.deepEqual(await v.socket.quiet(100), []);
  });

  test('peers of another room are no-such-peer, both ways, and that room hears nothing', async () => {
    const one = await liveRoom('iso-1');
    const two = await liveRoom('iso-2');
    assert.equal(await one.v.socket.errorFor({ type: 'answer', to: two.b.id, cid: 'x', sdp: SDP }), 'no-such-peer');
    assert.equal(await one.v.socket.errorFor({ type: 'candidate', to: two.b.id, cid: 'x', candidate: CANDIDATE }), 'no-such-peer');
    assert.equal(await one.b.socket.errorFor({ type: 'offer', to: two.v.id, cid: 'x', sdp: SDP }), 'no-such-peer');
    assert.equal(await one.b.socket.errorFor({ type: 'hangup', to: two.v.id, cid: 'x' }), 'no-such-peer');
    assert.deepEqual(await two.b.socket.quiet(), []);
    assert.deepEqual(await two.v.socket.quiet(0), []);
  });

  test('messages to peers that do not exist, or to oneself, are no-such-peer', async () => {
    const { b, v } = await liveRoom('nobody');
    const to = 'no-such-peer-id';
    for (const msg of [
      { type: 'offer', to, cid: 'x', sdp: SDP },
      { type: 'candidate', to, cid: 'x', candidate: null },
      { type: 'hangup', to, cid: 'x' },
      { type: 'offer', to: b.id, cid: 'x', sdp: SDP },
      // A p2p room has no relay peer.
      { type: 'offer', to: 'relay', cid: 'x', sdp: SDP },
    ]) {
      b.socket.send(msg);
      const err = await b.socket.error();
      assert.equal(err.code, 'no-such-peer', JSON.stringify(msg));
      assert.equal(err.ref, msg.type);
    }
    for (const msg of [{ type: 'answer', to, cid: 'x', sdp: SDP }, { type: 'restart', to }]) {
      assert.equal(await v.socket.errorFor(msg), 'no-such-peer', JSON.stringify(msg));
    }
    assert.deepEqual(await v.socket.quiet(), []);
    assert.deepEqual(await b.socket.quiet(0), []);
  });

  test('before join, an offer or a candidate is not-joined', async () => {
    const { v } = await liveRoom('unjoined');
    const stranger = await TestSocket.open(server.wsUrl);
    assert.equal(await stranger.errorFor({ type: 'offer', to: v.id, cid: 'x', sdp: SDP }), 'not-joined');
    assert.equal(await stranger.errorFor({ type: 'candidate', to: v.id, cid: 'x', candidate: null }), 'not-joined');
    assert.deepEqual(await v.socket.quiet(), []);
  });
});

describe('bad input', () => {
  test('each kind of bad frame gets its own error code; the room keeps working and the server stays up', async () => {
    const { b, v } = await liveRoom('barrage');
    const stranger = await TestSocket.open(server.wsUrl);
    const casesFor = (self: Joined, peer: Joined): [string, string | Buffer | Message, string][] => [
      ['invalid JSON', '{"type":"offer",', 'bad-json'],
      ['text that is not JSON', 'hello', 'bad-json'],
      ['an empty frame', '', 'bad-json'],
      ['JSON null', 'null', 'bad-message'],
      ['a JSON number', '42', 'bad-message'],
      ['a JSON string', '"offer"', 'bad-message'],
      ['a JSON array', `[${JSON.stringify({ type: 'offer', to: peer.id, cid: 'x', sdp: SDP })}]`, 'bad-message'],
      ['deeply nested JSON', `${'['.repeat(20_000)}${']'.repeat(20_000)}`, 'bad-message'],
      ['an object without a type', { to: peer.id }, 'bad-message'],
      ['a type that is not a string', { type: 7 }, 'bad-message'],
      ['an unknown type', { type: 'teleport' }, 'unknown-type'],
      ['a type only the server sends', { type: 'welcome' }, 'unknown-type'],
      ['an offer without sdp', { type: 'offer', to: peer.id, cid: 'x' }, 'bad-message'],
      ['an answer without to', { type: 'answer', cid: 'x', sdp: SDP }, 'bad-message'],
      ['a candidate without cid', { type: 'candidate', to: peer.id, candidate: null }, 'bad-message'],
      ['a join without room', { type: 'join', role: 'viewer' }, 'bad-message'],
      ['a field of the wrong type', { type: 'hangup', to: 12, cid: 'x' }, 'bad-message'],
      ['markup as a room name', { type: 'join', role: 'viewer', room: '<img src=x>' }, 'bad-message'],
      ['SDP that is not SDP', { type: self === b ? 'offer' : 'answer', to: peer.id, cid: 'x', sdp: 'hello' }, 'bad-message'],
      ['an SDP over 32 KiB', { type: self === b ? 'offer' : 'answer', to: peer.id, cid: 'x', sdp: `${SDP}a=x:${'y'.repeat(33 * 1024)}` }, 'bad-message'],
      ['a binary frame', Buffer.from(JSON.stringify({ type: 'ping' })), 'bad-message'],
      ['a second join', { type: 'join', role: 'viewer', room: 'barrage' }, 'already-joined'],
      ['an offer to a peer that does not exist', { type: 'offer', to: 'ghost', cid: 'x', sdp: SDP }, 'no-such-peer'],
      ['a candidate to a peer that does not exist', { type: 'candidate', to: 'ghost', cid: 'x', candidate: null }, 'no-such-peer'],
    ];
    for (const self of [b, v]) {
      const peer = self === b ? v : b;
      for (const [what, frame, code] of casesFor(self, peer)) {
        if (Buffer.isBuffer(frame)) self.socket.sendBinary(frame);
        else self.socket.send(frame);
        const err = await self.socket.error();
        assert.equal(err.code, code, `${self === b ? 'broadcaster' : 'viewer'} sent ${what}: ${JSON.stringify(err)}`);
        assert.ok(typeof err.message === 'string' && err.message.length > 0, what);
      }
    }
    // A socket that never joined: the same, plus not-joined.
    for (const [frame, code] of [['{', 'bad-json'], ['[]', 'bad-message'], ['{"type":"nope"}', 'unknown-type'], [{ type: 'offer', to: v.id, cid: 'x', sdp: SDP }, 'not-joined']] as const) {
      assert.equal(await stranger.errorFor(frame), code, JSON.stringify(frame));
    }

    assert.ok(b.socket.open && v.socket.open && stranger.open, 'nobody was disconnected');
    assert.deepEqual(await b.socket.quiet(), [], 'the broadcaster heard nothing of the bad input');
    assert.deepEqual(await v.socket.quiet(0), [], 'the viewer heard nothing of the bad input');
    await assertPairTalks(b, v, 'after-barrage');
    assert.equal(server.proc.exitCode, null);
    assert.equal((await fetch(`${server.url}/healthz`)).status, 200);
  });

  test('a frame over 64 KiB closes that socket with 1009; the room notices only a viewer leaving', async () => {
    const { b, v } = await liveRoom('big');
    const big = await viewer('big');
    await b.socket.next('viewer-joined', 3_000, (m) => m.id === big.id);
    big.socket.send(JSON.stringify({ type: 'ping', pad: 'x'.repeat(64 * 1024) }));
    assert.equal((await big.socket.closedWithin()).code, 1009);
    assert.equal((await b.socket.next('viewer-left')).id, big.id);
    assert.ok(b.socket.open && v.socket.open);
    await assertPairTalks(b, v, 'after-big');
    assert.equal((await fetch(`${server.url}/healthz`)).status, 200);
  });

  test('a frame of exactly 64 KiB is still read', async () => {
    const socket = await TestSocket.open(server.wsUrl);
    const head = '{"type":"ping","pad":"';
    const frame = `${head}${'x'.repeat(64 * 1024 - head.length - 2)}"}`;
    assert.equal(Buffer.byteLength(frame), 64 * 1024);
    socket.send(frame);
    await socket.next('pong');
    assert.equal(socket.open, true);
  });

  test("without --legacy, the seed's opening message is refused with legacy-disabled and close 4003", async () => {
    const socket = await TestSocket.open(server.wsUrl);
    socket.send({ type: 'push_init' });
    assert.equal((await socket.error()).code, 'legacy-disabled');
    assert.deepEqual(await socket.closedWithin(), { code: 4003, reason: 'legacy protocol disabled' });
  });
});

describe('a second broadcaster', () => {
  test('takes the room over: the first is told replaced and closed with 4009; the viewers get offers from the new one', async () => {
    const { b: first, v: v1 } = await liveRoom('takeover');
    const v2 = await viewer('takeover');
    await first.socket.next('viewer-joined', 3_000, (m) => m.id === v2.id);

    const second = await broadcaster('takeover');
    assert.equal(second.welcome.viewers, 2);
    const err = await first.socket.error();
    assert.equal(err.code, 'replaced');
    assert.deepEqual(await first.socket.closedWithin(), { code: 4009, reason: 'replaced by another broadcaster' });

    const joined = [await second.socket.next('viewer-joined'), await second.socket.next('viewer-joined')].map((m) => m.id);
    assert.deepEqual(joined.sort(), [v1.id, v2.id].sort());
    await assertPairTalks(second, v1, 'new-1');
    await assertPairTalks(second, v2, 'new-2');
    // The old broadcaster is gone from the room: nothing reaches it any more.
    assert.equal(await v1.socket.errorFor({ type: 'answer', to: first.id, cid: 'x', sdp: SDP }), 'no-such-peer');
    assert.ok(v1.socket.open && v2.socket.open, 'viewers stay connected through the takeover');
  });

  test('a replaced broadcaster cannot take the room back while its socket is closing', async () => {
    const { b: first, v } = await liveRoom('takeback');
    const join = JSON.stringify({ type: 'join', role: 'broadcaster', room: 'takeback', key: KEY });
    // The moment it hears it was replaced (before the close frame is read), it joins again.
    first.socket.ws.on('message', (data) => {
      if ((data as Buffer).toString().includes('"replaced"') && first.socket.open) first.socket.ws.send(join);
    });
    const second = await broadcaster('takeback');
    assert.equal((await first.socket.closedWithin()).code, 4009);
    await new Promise((r) => setTimeout(r, 300));
    assert.equal(second.socket.open, true, `the new broadcaster was closed: ${JSON.stringify(second.socket.closeEvent)}`);
    assert.equal((await second.socket.next('viewer-joined')).id, v.id);
    assert.deepEqual(await second.socket.quiet(0), [], 'the new broadcaster heard no error');
    await assertPairTalks(second, v, 'kept');
    assert.equal((await status()).find((r) => r.name === 'takeback')?.live, true);
  });
});

describe('rooms are isolated', () => {
  test('viewer counts, room status and departures of one room never reach another', async () => {
    const one = await liveRoom('iso-a');
    const two = await liveRoom('iso-b');
    // Let the coalesced status messages of the set-up arrive, then start from silence.
    await Promise.all([one.b, one.v, two.b, two.v].map((p) => p.socket.unclaimed(400)));

    const extra = await viewer('iso-a');
    assert.equal(extra.welcome.viewers, 2);
    assert.equal((await one.b.socket.next('viewer-joined')).id, extra.id);
    assert.equal((await one.b.socket.next('room', 3_000, (m) => m.viewers === 2)).live, true);
    assert.equal((await one.v.socket.next('room', 3_000, (m) => m.viewers === 2)).live, true);
    assert.equal((await extra.socket.next('room', 3_000, (m) => m.viewers === 2)).live, true);

    two.b.socket.close();
    assert.equal((await two.v.socket.next('room', 3_000, (m) => m.live === false)).viewers, 1);

    const heard = await Promise.all([one.b, one.v, extra].map((p) => p.socket.unclaimed(300)));
    assert.deepEqual(heard, [[], [], []], 'room iso-a heard nothing of iso-b');
    assert.deepEqual(await two.v.socket.unclaimed(0), [], 'room iso-b heard nothing of iso-a');

    const rooms = await status();
    assert.deepEqual(
      ['iso-a', 'iso-b'].map((name) => rooms.find((r) => r.name === name)).map((r) => [r?.live, r?.viewers]),
      [[true, 2], [false, 1]],
    );
  });
});
