/**
 * The hub's routing, takeover, limits and relay decisions, driven through fake links and a fake
 * relay in milliseconds (test/integration/signaling.test.ts drives the same over real sockets).
 */
import assert from 'node:assert/strict';
import { afterEach, describe, test } from 'node:test';
import { pino } from 'pino';
import { RelayError, type Consumer, type ConsumerEvents, type MediaRelay, type Publication, type PublicationEvents } from '../../src/relay/api.js';
import { Emitter } from '../../src/relay/emitter.js';
import { Hub, MediaRequestError, type HubOptions } from '../../src/signaling/hub.js';
import type { Peer, PeerLink } from '../../src/signaling/peer.js';
import { ServerMessage, type ClientMessage } from '../../src/signaling/protocol.js';

const KEY = 'test-key';
const SDP = 'v=0\r\no=- 1 1 IN IP4 127.0.0.1\r\ns=-\r\nt=0 0\r\nm=video 9 UDP/TLS/RTP/SAVPF 96\r\na=rtpmap:96 VP8/90000\r\n';
const RELAY_SDP = SDP.replace('o=- 1 1', 'o=relay 7 7');
const CANDIDATE = { candidate: 'candidate:1 1 udp 2122260223 192.168.1.20 50000 typ host', sdpMid: '0', sdpMLineIndex: 0 };

class FakeLink implements PeerLink {
  readonly sent: ServerMessage[] = [];
  closedWith: [number, string] | undefined;
  readonly address: string;
  constructor(address: string) {
    this.address = address;
  }
  send(msg: ServerMessage): void {
    this.sent.push(msg);
  }
  close(code: number, reason: string): void {
    this.closedWith ??= [code, reason];
  }
  all<T extends ServerMessage['type']>(type: T): Extract<ServerMessage, { type: T }>[] {
    return this.sent.filter((m): m is Extract<ServerMessage, { type: T }> => m.type === type);
  }
  last<T extends ServerMessage['type']>(type: T): Extract<ServerMessage, { type: T }> | undefined {
    return this.all(type).at(-1);
  }
}

class FakeConsumer extends Emitter<ConsumerEvents> implements Consumer {
  static count = 0;
  readonly id = `leg-${++FakeConsumer.count}`;
  readonly sdp: Promise<string>;
  readonly answers: string[] = [];
  readonly qualities: (number | 'auto')[] = [];
  closed = false;
  constructor(offerSdp: string | undefined) {
    super();
    this.sdp = Promise.resolve(offerSdp === undefined ? RELAY_SDP : `${RELAY_SDP}a=answer\r\n`);
  }
  async acceptAnswer(sdp: string): Promise<void> {
    this.answers.push(sdp);
  }
  async addCandidate(): Promise<void> {}
  setQuality(choice: number | 'auto'): void {
    this.qualities.push(choice);
  }
  /** The relay says which layer the leg is sent. */
  play(playing: ConsumerEvents['playing'][0]): void {
    this.emit('playing', playing);
  }
  close(reason = 'closed'): void {
    if (this.closed) return;
    this.closed = true;
    this.emit('closed', reason);
  }
}

class FakePublication extends Emitter<PublicationEvents> implements Publication {
  readonly consumers = new Set<FakeConsumer>();
  readonly candidates: unknown[] = [];
  readonly answer: Promise<string>;
  ready = false;
  paused = false;
  closed = false;
  watched: boolean | undefined;
  #settle!: (sdp: string) => void;
  constructor(
    readonly room: string,
    readonly offer: string,
    readonly pausable: boolean,
  ) {
    super();
    this.answer = new Promise((resolve) => (this.#settle = resolve));
  }
  answerWith(sdp: string): void {
    this.#settle(sdp);
  }
  goLive(): void {
    this.ready = true;
    this.emit('ready');
  }
  pause(paused: boolean): void {
    this.paused = paused;
    this.emit('paused', paused);
  }
  pauseLayers(rids: string[]): void {
    this.emit('layers', rids);
  }
  async addCandidate(candidate: unknown): Promise<void> {
    this.candidates.push(candidate);
  }
  setWatched(watched: boolean): void {
    this.watched = watched;
  }
  close(): void {
    if (this.closed) return;
    this.closed = true;
    for (const c of [...this.consumers]) c.close();
    this.emit('closed');
  }
}

class FakeRelay extends Emitter<{ live: [string] }> implements MediaRelay {
  readonly rooms = new Map<string, FakePublication>();
  publish(room: string, offerSdp: string, options: { pausable?: boolean } = {}): FakePublication {
    this.rooms.get(room)?.close();
    const p = new FakePublication(room, offerSdp, options.pausable ?? false);
    this.rooms.set(room, p);
    p.on('ready', () => this.emit('live', room));
    p.on('closed', () => this.rooms.get(room) === p && this.rooms.delete(room));
    return p;
  }
  consume(room: string, offerSdp?: string): FakeConsumer {
    const p = this.rooms.get(room);
    if (!p?.ready) throw new RelayError('not-live', 'the room is not live');
    const c = new FakeConsumer(offerSdp);
    p.consumers.add(c);
    c.on('closed', () => p.consumers.delete(c));
    return c;
  }
  live(room: string, timeoutMs: number): Promise<boolean> {
    if (this.rooms.get(room)?.ready) return Promise.resolve(true);
    return new Promise((resolve) => {
      const timer = setTimeout(() => resolve(false), timeoutMs);
      const off = this.on('live', (name) => {
        if (name !== room) return;
        off();
        clearTimeout(timer);
        resolve(true);
      });
    });
  }
}

interface Member {
  peer: Peer;
  link: FakeLink;
  send(msg: ClientMessage): void;
}

let hubs: Hub[] = [];
afterEach(() => {
  for (const hub of hubs) hub.shutdown(); // stops the rooms' status timers
  hubs = [];
});

let nextAddress = 1;

function setup(options: Partial<HubOptions> = {}) {
  const relay = new FakeRelay();
  const hub = new Hub({ publishKey: KEY, mode: 'auto', iceServers: [], logger: pino({ level: 'silent' }), relay, relayThreshold: 2, ...options });
  hubs.push(hub);
  const connect = (address = `10.0.0.${nextAddress++}`): Member => {
    const link = new FakeLink(address);
    const peer = hub.connect(link);
    return { peer, link, send: (msg) => hub.receive(peer, msg) };
  };
  const join = (role: 'broadcaster' | 'viewer', room: string, extra: Partial<Extract<ClientMessage, { type: 'join' }>> = {}, address?: string): Member => {
    const m = connect(address);
    m.send({ type: 'join', role, room, ...(role === 'broadcaster' ? { key: KEY } : {}), ...extra });
    return m;
  };
  return { hub, relay, connect, join };
}

/** Let promise callbacks (answers, offers) run. */
const settle = () => new Promise((resolve) => setImmediate(resolve));

const errorsOf = (m: Member) => m.link.all('error').map((e) => e.code);

describe('routing', () => {
  test('offers, answers and candidates pass along broadcaster-viewer edges of one room, each as sent', () => {
    const { join, connect } = setup({ mode: 'p2p' });
    const b = join('broadcaster', 'a');
    const v1 = join('viewer', 'a');
    const v2 = join('viewer', 'a');
    const elsewhere = join('viewer', 'b');
    assert.deepEqual(b.link.all('viewer-joined').map((m) => m.id), [v1.peer.id, v2.peer.id]);

    b.send({ type: 'offer', to: v1.peer.id, cid: 'c1', sdp: SDP });
    assert.deepEqual(v1.link.last('offer'), { type: 'offer', from: b.peer.id, cid: 'c1', sdp: SDP });
    v1.send({ type: 'answer', to: b.peer.id, cid: 'c1', sdp: SDP });
    assert.deepEqual(b.link.last('answer'), { type: 'answer', from: v1.peer.id, cid: 'c1', sdp: SDP });
    v1.send({ type: 'candidate', to: b.peer.id, cid: 'c1', candidate: CANDIDATE });
    assert.deepEqual(b.link.last('candidate'), { type: 'candidate', from: v1.peer.id, cid: 'c1', candidate: CANDIDATE });
    v1.send({ type: 'restart', to: b.peer.id });
    assert.deepEqual(b.link.last('restart'), { type: 'restart', from: v1.peer.id });

    v1.send({ type: 'candidate', to: v2.peer.id, cid: 'c1', candidate: CANDIDATE });
    v1.send({ type: 'offer', to: b.peer.id, cid: 'c2', sdp: SDP });
    v1.send({ type: 'offer', to: elsewhere.peer.id, cid: 'c3', sdp: SDP });
    b.send({ type: 'offer', to: b.peer.id, cid: 'c4', sdp: SDP });
    b.send({ type: 'offer', to: v1.peer.id, cid: 'c5', sdp: 'not sdp' });
    assert.deepEqual(errorsOf(v1), ['not-allowed', 'not-allowed', 'no-such-peer']);
    assert.deepEqual(errorsOf(b), ['no-such-peer', 'bad-message']);
    assert.equal(v2.link.all('candidate').length + v2.link.all('offer').length + elsewhere.link.all('offer').length, 0);

    const stranger = connect();
    stranger.send({ type: 'offer', to: v1.peer.id, cid: 'c6', sdp: SDP });
    assert.deepEqual(errorsOf(stranger), ['not-joined']);
  });

  test('a viewer leaving is told to the broadcaster; the broadcaster leaving makes the room offline', () => {
    const { hub, join } = setup({ mode: 'p2p' });
    const b = join('broadcaster', 'a');
    const v1 = join('viewer', 'a');
    const v2 = join('viewer', 'a');
    hub.disconnect(v1.peer);
    assert.deepEqual(b.link.last('viewer-left'), { type: 'viewer-left', id: v1.peer.id });
    hub.disconnect(b.peer);
    assert.equal(v2.link.last('room')?.live, false);
    hub.disconnect(v2.peer);
    assert.equal(hub.rooms.size, 0, 'an empty room is forgotten');
  });
});

describe('takeover', () => {
  test('a second broadcaster with the key replaces the first, which is told and closed; viewers go to the newcomer', () => {
    const { join } = setup({ mode: 'p2p' });
    const b1 = join('broadcaster', 'a');
    const v = join('viewer', 'a');
    const b2 = join('broadcaster', 'a');
    assert.equal(b1.link.last('error')?.code, 'replaced');
    assert.deepEqual(b1.link.closedWith, [4009, 'replaced by another broadcaster']);
    assert.deepEqual(b2.link.all('viewer-joined').map((m) => m.id), [v.peer.id]);
    b1.send({ type: 'offer', to: v.peer.id, cid: 'old', sdp: SDP });
    assert.equal(b1.link.last('error')?.code, 'not-joined');
    assert.equal(v.link.all('offer').length, 0);
  });

  test("in a relayed room the replaced broadcaster's publication closes with its viewers' legs", async () => {
    const { relay, join } = setup({ mode: 'relay' });
    const b1 = join('broadcaster', 'a');
    const v = join('viewer', 'a');
    b1.send({ type: 'offer', to: 'relay', cid: 'p1', sdp: SDP });
    const publication = relay.rooms.get('a')!;
    publication.goLive();
    await settle();
    const [leg] = publication.consumers;
    assert.ok(leg);
    const b2 = join('broadcaster', 'a');
    assert.equal(publication.closed, true);
    assert.equal(leg.closed, true);
    b2.send({ type: 'offer', to: 'relay', cid: 'p2', sdp: SDP });
    relay.rooms.get('a')!.goLive();
    await settle();
    assert.equal(v.link.all('offer').length, 2, 'the viewer is offered a leg of the new publication');
  });
});

describe('limits', () => {
  test('a full room, too many rooms, a wrong key, a wrong password', () => {
    const { join } = setup({ mode: 'p2p', maxViewers: 2, maxRooms: 1, viewPassword: 'pw' });
    join('broadcaster', 'a');
    const ok = [join('viewer', 'a', { password: 'pw' }), join('viewer', 'a', { password: 'pw' })];
    assert.deepEqual(ok.flatMap(errorsOf), []);
    const third = join('viewer', 'a', { password: 'pw' });
    assert.deepEqual(third.link.last('error'), { type: 'error', code: 'room-full', message: 'room "a" is full (2 viewers)', ref: 'join' });
    assert.deepEqual(errorsOf(join('viewer', 'b', { password: 'pw' })), ['too-many-rooms']);
    assert.deepEqual(errorsOf(join('broadcaster', 'a', { key: 'nope' })), ['bad-key']);
    assert.deepEqual(errorsOf(join('viewer', 'a', { password: 'nope' })), ['bad-password']);
  });

  test('wrong guesses from one address are slowed down; other addresses are not', () => {
    const { join } = setup({ mode: 'p2p' });
    const guesses = [1, 2, 3, 4].map(() => join('broadcaster', 'a', { key: 'nope' }, '10.9.9.9').link.last('error')!);
    assert.deepEqual(guesses.map((e) => e.code), ['bad-key', 'bad-key', 'bad-key', 'too-many-attempts']);
    assert.ok((guesses[3].retryAfterMs ?? 0) > 0);
    assert.deepEqual(errorsOf(join('broadcaster', 'a', {}, '10.9.9.10')), []);
  });
});

describe('the relay', () => {
  test('auto: past the threshold the room moves to the relay, which offers to every viewer once the broadcaster publishes', async () => {
    const { hub, relay, join } = setup();
    const b = join('broadcaster', 'a');
    const viewers = [join('viewer', 'a'), join('viewer', 'a')];
    assert.equal(hub.rooms.get('a')!.mode, 'p2p');
    viewers.push(join('viewer', 'a'));
    assert.deepEqual(b.link.last('room'), { type: 'room', live: true, viewers: 3, mode: 'relay', reason: 'relay: more than 2 viewers' });

    b.send({ type: 'offer', to: 'relay', cid: 'pub', sdp: SDP });
    const publication = relay.rooms.get('a')!;
    assert.equal(publication.pausable, true);
    assert.equal(publication.watched, true);
    publication.answerWith(RELAY_SDP);
    await settle();
    assert.deepEqual(b.link.last('answer'), { type: 'answer', from: 'relay', cid: 'pub', sdp: RELAY_SDP });
    b.send({ type: 'candidate', to: 'relay', cid: 'pub', candidate: CANDIDATE });
    b.send({ type: 'candidate', to: 'relay', cid: 'other', candidate: CANDIDATE });
    assert.deepEqual(publication.candidates, [CANDIDATE]);

    publication.goLive();
    await settle();
    const legs = [...publication.consumers];
    assert.equal(legs.length, 3);
    viewers.forEach((v, i) => assert.deepEqual(v.link.last('offer'), { type: 'offer', from: 'relay', cid: legs[i].id, sdp: RELAY_SDP }));
    viewers[0].send({ type: 'answer', to: 'relay', cid: legs[0].id, sdp: SDP });
    viewers[0].send({ type: 'answer', to: 'relay', cid: legs[1].id, sdp: SDP });
    assert.deepEqual(legs[0].answers, [SDP]);
    assert.deepEqual(legs[1].answers, [], "a viewer cannot answer another viewer's leg");

    viewers[1].send({ type: 'restart', to: 'relay' });
    await settle();
    assert.equal(legs[1].closed, true, 'a restart replaces the leg');
    assert.equal(viewers[1].link.all('offer').length, 2);

    publication.pause(true);
    assert.deepEqual(b.link.last('pause'), { type: 'pause', from: 'relay', cid: 'pub', paused: true });
    publication.pauseLayers(['q', 'h']);
    const layers = b.link.last('layers');
    assert.deepEqual(layers, { type: 'layers', from: 'relay', cid: 'pub', paused: ['q', 'h'] }, 'the layers nobody wants, told to the broadcaster');
    assert.equal(ServerMessage.safeParse(layers).success, true);

    hub.disconnect(viewers[0].peer);
    assert.equal(legs[0].closed, true);
    assert.deepEqual(b.link.last('viewer-left'), { type: 'viewer-left', id: viewers[0].peer.id });

    publication.close(); // its connection failed
    assert.equal([...publication.consumers].length, 0);
    assert.deepEqual(b.link.last('hangup'), { type: 'hangup', from: 'relay', cid: 'pub' });

    for (const v of viewers.slice(1)) hub.disconnect(v.peer);
    assert.equal(hub.rooms.get('a')!.mode, 'p2p', 'an empty room goes back to p2p');
    assert.equal(publication.watched, true, 'the closed publication heard nothing more');
  });

  test('nobody watching is told to the publication; a broadcaster hanging up its connection ends it', () => {
    const { hub, relay, join } = setup({ mode: 'relay' });
    const b = join('broadcaster', 'a');
    b.send({ type: 'offer', to: 'relay', cid: 'pub', sdp: SDP });
    const publication = relay.rooms.get('a')!;
    assert.equal(publication.watched, false);
    const v = join('viewer', 'a');
    assert.equal(publication.watched, true);
    hub.disconnect(v.peer);
    assert.equal(publication.watched, false);
    b.send({ type: 'hangup', to: 'relay', cid: 'not-this-one' });
    assert.equal(publication.closed, false);
    b.send({ type: 'hangup', to: 'relay', cid: 'pub' });
    assert.equal(publication.closed, true);
  });

  test("a viewer's quality choice reaches its own leg only; the leg's layer goes back to that viewer", async () => {
    const { relay, join } = setup({ mode: 'relay' });
    const b = join('broadcaster', 'a');
    const [v1, v2] = [join('viewer', 'a'), join('viewer', 'a')];
    b.send({ type: 'offer', to: 'relay', cid: 'pub', sdp: SDP });
    const publication = relay.rooms.get('a')!;
    publication.answerWith(RELAY_SDP);
    publication.goLive();
    await settle();
    const [leg1, leg2] = [...publication.consumers];
    v1.send({ type: 'quality', to: 'relay', cid: leg1.id, choice: 360 });
    v1.send({ type: 'quality', to: 'relay', cid: leg2.id, choice: 180 });
    v2.send({ type: 'quality', to: 'relay', cid: leg2.id, choice: 'auto' });
    assert.deepEqual([leg1.qualities, leg2.qualities], [[360], ['auto']], "a viewer cannot choose for another viewer's leg");
    leg1.play({ layers: [180, 360, 720], height: 360, reason: 'manual' });
    assert.deepEqual(v1.link.last('quality'), { type: 'quality', from: 'relay', cid: leg1.id, layers: [180, 360, 720], height: 360, reason: 'manual' });
    assert.equal(v2.link.last('quality'), undefined);
    const p2p = setup({ mode: 'p2p' });
    p2p.join('broadcaster', 'a');
    const pv = p2p.join('viewer', 'a');
    pv.send({ type: 'quality', to: 'relay', cid: 'x', choice: 'auto' });
    pv.send({ type: 'quality', to: 'someone', cid: 'x', choice: 'auto' });
    assert.deepEqual(errorsOf(pv), ['no-such-peer', 'not-allowed']);
  });

  test('what may not go to the relay', () => {
    const { join } = setup({ mode: 'p2p' });
    const b = join('broadcaster', 'a');
    b.send({ type: 'offer', to: 'relay', cid: 'pub', sdp: SDP });
    assert.deepEqual(errorsOf(b), ['no-such-peer']);
    const r = setup({ mode: 'relay' });
    const rb = r.join('broadcaster', 'a');
    const rv = r.join('viewer', 'a');
    rv.send({ type: 'offer', to: 'relay', cid: 'x', sdp: SDP });
    rb.send({ type: 'answer', to: 'relay', cid: 'x', sdp: SDP });
    assert.deepEqual(errorsOf(rv), ['not-allowed']);
    assert.deepEqual(errorsOf(rb), ['not-allowed']);
  });
});

describe('WHEP and WHIP', () => {
  test('a WHEP player moves an auto room to the relay, counts while it plays, and leaves the count when stopped', async () => {
    const { hub, relay, join } = setup();
    const b = join('broadcaster', 'a');
    const playing = hub.play('a', SDP);
    const room = hub.rooms.get('a')!;
    assert.equal(room.players.size, 1);
    assert.deepEqual(b.link.last('room'), { type: 'room', live: true, viewers: 0, mode: 'relay', reason: 'relay: WHEP players are watching' });
    b.send({ type: 'offer', to: 'relay', cid: 'pub', sdp: SDP });
    const publication = relay.rooms.get('a')!;
    assert.equal(publication.watched, true);
    publication.goLive();
    const { id, answer } = await playing;
    assert.equal(answer, `${RELAY_SDP}a=answer\r\n`);
    assert.equal(hub.stopPlayer('a', 'nope'), false);
    assert.equal(hub.stopPlayer('a', id), true);
    assert.equal(room.players.size, 0);
    assert.equal(room.mode, 'p2p');
    assert.equal(publication.closed, true);
  });

  test('WHEP refuses a room that is not live or streams p2p only', async () => {
    const { hub, join } = setup();
    await assert.rejects(hub.play('nowhere', SDP), (e: MediaRequestError) => e.code === 'not-live');
    join('broadcaster', 'p', { mode: 'p2p' });
    await assert.rejects(hub.play('p', SDP), (e: MediaRequestError) => e.code === 'p2p-only');
    assert.equal(hub.rooms.get('p')!.players.size, 0);
  });

  test('a WHIP publisher has no socket: its room is relayed, a second is refused, stopping it ends the room', async () => {
    const { hub, relay, join } = setup({ mode: 'p2p' });
    const v = join('viewer', 'w');
    const publishing = hub.publishWhip('w', SDP, '10.1.1.1');
    const publication = relay.rooms.get('w')!;
    assert.equal(publication.pausable, false);
    publication.answerWith(RELAY_SDP);
    const { id, answer } = await publishing;
    assert.equal(answer, RELAY_SDP);
    assert.deepEqual(v.link.last('room'), { type: 'room', live: true, viewers: 1, mode: 'relay', reason: 'relay: the broadcaster publishes over WHIP' });
    await assert.rejects(hub.publishWhip('w', SDP, '10.1.1.1'), (e: MediaRequestError) => e.code === 'busy');
    publication.goLive();
    await settle();
    assert.equal(v.link.last('offer')?.from, 'relay');
    assert.equal(hub.stopWhip('w', 'nope'), false);
    assert.equal(hub.stopWhip('w', id), true);
    assert.equal(publication.closed, true);
    assert.equal(v.link.last('room')?.live, false);
  });

  test('a WHIP broadcaster whose media fails leaves its room', async () => {
    const { hub, relay } = setup();
    const publishing = hub.publishWhip('w', SDP, '10.1.1.1');
    relay.rooms.get('w')!.answerWith(RELAY_SDP);
    await publishing;
    assert.equal(hub.rooms.get('w')?.live, true);
    relay.rooms.get('w')!.close();
    assert.equal(hub.rooms.get('w'), undefined);
  });
});
