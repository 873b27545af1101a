/**
 * A relay leg's UDP port is visible to anyone on the LAN. STUN binding requests to it are
 * hand-made here (not with werift's code, which is what is being judged) and sent from real UDP
 * sockets to the ports in a WHIP and a WHEP answer: an unknown ufrag gets no answer at all, our
 * ufrag without a valid MESSAGE-INTEGRITY gets no success (a 400/401 error at most), the right
 * credentials get an authenticated success, and a flood of bad requests makes the relay send no
 * connectivity checks of its own to the flooder.
 */
import assert from 'node:assert/strict';
import { createHmac, randomBytes } from 'node:crypto';
import { createSocket, type Socket } from 'node:dgram';
import { after, before, describe, test } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import { MediaStreamTrack, RTCPeerConnection, RtpHeader, RtpPacket } from 'werift';
import { waitFor } from '../helpers/browser.js';
import { roomInfo, startLancast, type Lancast } from '../helpers/server.js';
import { crc32 } from '../helpers/stun.js';
import { exchange, PEER, relayLeg } from '../helpers/werift-peer.js';

const COOKIE = 0x2112a442;
const BINDING_REQUEST = 0x0001;
const BINDING_SUCCESS = 0x0101;
const BINDING_ERROR = 0x0111;
const USERNAME = 0x0006;
const MESSAGE_INTEGRITY = 0x0008;
const ERROR_CODE = 0x0009;
const PRIORITY = 0x0024;
const XOR_MAPPED_ADDRESS = 0x0020;
const ICE_CONTROLLING = 0x802a;
const FINGERPRINT = 0x8028;

function attribute(type: number, value: Buffer): Buffer {
  const head = Buffer.alloc(4);
  head.writeUInt16BE(type, 0);
  head.writeUInt16BE(value.length, 2);
  return Buffer.concat([head, value, Buffer.alloc((4 - (value.length % 4)) % 4)]);
}

function header(type: number, length: number, txid: Buffer): Buffer {
  const h = Buffer.alloc(20);
  h.writeUInt16BE(type, 0);
  h.writeUInt16BE(length, 2);
  h.writeUInt32BE(COOKIE, 4);
  txid.copy(h, 8);
  return h;
}

interface RequestOptions {
  /** USERNAME as sent (none when undefined). */
  username?: string;
  /** MESSAGE-INTEGRITY: computed with this password, random bytes ('bogus'), or none. */
  integrity: { password: string } | 'bogus' | 'none';
}

/** An ICE connectivity check (RFC 8445 §7.1.1): PRIORITY, ICE-CONTROLLING, then integrity and FINGERPRINT. */
function bindingRequest(options: RequestOptions): { txid: Buffer; bytes: Buffer } {
  const txid = randomBytes(12);
  const priority = Buffer.alloc(4);
  priority.writeUInt32BE(0x6e7f00ff, 0);
  let attrs = Buffer.concat([
    ...(options.username !== undefined ? [attribute(USERNAME, Buffer.from(options.username))] : []),
    attribute(PRIORITY, priority),
    attribute(ICE_CONTROLLING, randomBytes(8)),
  ]);
  if (options.integrity !== 'none') {
    // RFC 5389 §15.4: HMAC-SHA1 over the message up to the attribute, its length counting it.
    const mac =
      options.integrity === 'bogus'
        ? randomBytes(20)
        : createHmac('sha1', options.integrity.password).update(Buffer.concat([header(BINDING_REQUEST, attrs.length + 24, txid), attrs])).digest();
    attrs = Buffer.concat([attrs, attribute(MESSAGE_INTEGRITY, mac)]);
  }
  const crc = Buffer.alloc(4);
  crc.writeUInt32BE((crc32(Buffer.concat([header(BINDING_REQUEST, attrs.length + 8, txid), attrs])) ^ 0x5354554e) >>> 0, 0);
  attrs = Buffer.concat([attrs, attribute(FINGERPRINT, crc)]);
  return { txid, bytes: Buffer.concat([header(BINDING_REQUEST, attrs.length, txid), attrs]) };
}

interface Stun {
  type: number;
  txid: string;
  attrs: Map<number, Buffer>;
  /** Where MESSAGE-INTEGRITY starts, to check it. */
  integrityAt?: number;
  raw: Buffer;
}

function parseStun(raw: Buffer): Stun | undefined {
  if (raw.length < 20 || raw.readUInt32BE(4) !== COOKIE || (raw[0] & 0xc0) !== 0) return undefined;
  const attrs = new Map<number, Buffer>();
  let integrityAt: number | undefined;
  for (let i = 20; i + 4 <= raw.length; ) {
    const type = raw.readUInt16BE(i);
    const len = raw.readUInt16BE(i + 2);
    if (type === MESSAGE_INTEGRITY) integrityAt = i;
    attrs.set(type, raw.subarray(i + 4, i + 4 + len));
    i += 4 + len + ((4 - (len % 4)) % 4);
  }
  return { type: raw.readUInt16BE(0), txid: raw.subarray(8, 20).toString('hex'), attrs, integrityAt, raw };
}

/** A response's MESSAGE-INTEGRITY is right for `password`. */
function integrityValid(m: Stun, password: string): boolean {
  if (m.integrityAt === undefined) return false;
  const head = Buffer.from(m.raw.subarray(0, m.integrityAt));
  head.writeUInt16BE(m.integrityAt - 20 + 24, 2);
  return createHmac('sha1', password).update(head).digest().equals(m.attrs.get(MESSAGE_INTEGRITY)!);
}

function errorCode(m: Stun): number | undefined {
  const v = m.attrs.get(ERROR_CODE);
  return v ? (v[2] & 0x07) * 100 + v[3] : undefined;
}

/** A UDP socket on 127.0.0.1 that keeps every STUN message it receives. */
async function prober(): Promise<{ socket: Socket; port: number; received: Stun[]; close(): void }> {
  const socket = createSocket('udp4');
  const received: Stun[] = [];
  socket.on('message', (raw) => {
    const m = parseStun(raw);
    if (m) received.push(m);
  });
  await new Promise<void>((resolve) => socket.bind(0, '127.0.0.1', resolve));
  return { socket, port: socket.address().port, received, close: () => socket.close() };
}

function send(socket: Socket, bytes: Buffer, port: number): Promise<void> {
  return new Promise((resolve, reject) => socket.send(bytes, port, '127.0.0.1', (err) => (err ? reject(err) : resolve())));
}

let server: Lancast;
interface Leg {
  name: string;
  port: number;
  ufrag: string;
  pwd: string;
}
const legs: Leg[] = [];
const peers: RTCPeerConnection[] = [];
let mediaTimer: NodeJS.Timeout | undefined;

before(async () => {
  server = await startLancast();
  // A connected WHIP publisher sending a little media (a room is live once each kind it offered
  // has arrived) and a WHEP player: two live relay legs.
  const publisher = new RTCPeerConnection(PEER);
  const audio = new MediaStreamTrack({ kind: 'audio' });
  const video = new MediaStreamTrack({ kind: 'video' });
  publisher.addTransceiver(audio, { direction: 'sendonly' });
  publisher.addTransceiver(video, { direction: 'sendonly' });
  peers.push(publisher);
  legs.push({ name: 'WHIP', ...relayLeg((await exchange(publisher, `${server.url}/whip/stun`, server.publishKey)).answer) });
  await waitFor(async () => publisher.connectionState, (s) => s === 'connected', 15_000, 'the publisher to connect');
  let seq = 0;
  mediaTimer = setInterval(() => {
    seq = (seq + 1) & 0xffff;
    audio.writeRtp(new RtpPacket(new RtpHeader({ payloadType: 111, sequenceNumber: seq, timestamp: seq * 960, ssrc: 1 }), randomBytes(80)));
    video.writeRtp(new RtpPacket(new RtpHeader({ payloadType: 96, sequenceNumber: seq, timestamp: seq * 1800, marker: true, ssrc: 2 }), randomBytes(200)));
  }, 20);
  await waitFor(async () => (await roomInfo(server.url, 'stun'))?.live, Boolean, 15_000, 'the room to be live');
  const player = new RTCPeerConnection(PEER);
  player.addTransceiver('audio', { direction: 'recvonly' });
  player.addTransceiver('video', { direction: 'recvonly' });
  peers.push(player);
  legs.push({ name: 'WHEP', ...relayLeg((await exchange(player, `${server.url}/whep/stun`)).answer) });
  await waitFor(async () => player.connectionState, (s) => s === 'connected', 15_000, 'the player to connect');
});

after(async () => {
  clearInterval(mediaTimer);
  for (const pc of peers) await pc.close();
  await server?.stop();
});

/**
 * Send `bad` requests, then one with the right credentials from the same socket, and wait for the
 * answer to that one: by then the relay has handled the others (one socket, in order). Returns
 * what came back for the bad ones, the good one's answer and the socket's port.
 */
async function probe(leg: Leg, bad: RequestOptions[]): Promise<{ forBad: Stun[]; good: Stun; port: number }> {
  const p = await prober();
  try {
    const badIds = new Set<string>();
    for (const options of bad) {
      const request = bindingRequest(options);
      badIds.add(request.txid.toString('hex'));
      await send(p.socket, request.bytes, leg.port);
    }
    const good = bindingRequest({ username: `${leg.ufrag}:prober`, integrity: { password: leg.pwd } });
    const goodId = good.txid.toString('hex');
    // Sent again every 500 ms until answered, as a STUN client retransmits (RFC 8489 §6.2.1): a
    // flood the relay has not read yet can fill its socket's receive buffer, and the kernel then
    // drops what arrives, this request included.
    await send(p.socket, good.bytes, leg.port);
    const resend = setInterval(() => void send(p.socket, good.bytes, leg.port).catch(() => {}), 500);
    try {
      await waitFor(async () => p.received.some((m) => m.txid === goodId), Boolean, 10_000, `the relay to answer a request with its credentials (${leg.name})`);
    } finally {
      clearInterval(resend);
    }
    return { forBad: p.received.filter((m) => badIds.has(m.txid)), good: p.received.find((m) => m.txid === goodId)!, port: p.port };
  } finally {
    p.close();
  }
}

for (const legIndex of [0, 1]) {
  describe(`STUN binding requests to a relay leg (${legIndex === 0 ? 'WHIP' : 'WHEP'})`, () => {
    test('the right ufrag and MESSAGE-INTEGRITY get an authenticated success naming our address', async () => {
      const leg = legs[legIndex];
      const { good, port } = await probe(leg, []);
      assert.equal(good.type, BINDING_SUCCESS);
      assert.ok(integrityValid(good, leg.pwd), "the success response carries MESSAGE-INTEGRITY keyed with the leg's ice-pwd");
      const xor = good.attrs.get(XOR_MAPPED_ADDRESS);
      assert.ok(xor, 'XOR-MAPPED-ADDRESS');
      assert.equal(xor.readUInt16BE(2) ^ (COOKIE >>> 16), port, 'XOR-MAPPED-ADDRESS names the sending port');
    });

    test('an unknown ufrag gets no answer at all, even with integrity computed from the right password', async () => {
      const leg = legs[legIndex];
      const { forBad } = await probe(leg, [
        { username: `stranger:prober`, integrity: { password: leg.pwd } },
        { username: `stranger:prober`, integrity: 'bogus' },
        { username: `${leg.ufrag}x:prober`, integrity: { password: leg.pwd } },
        { username: leg.ufrag, integrity: { password: leg.pwd } }, // no ':' and no remote part
        { username: `constructor:prober`, integrity: 'bogus' },
        { integrity: 'bogus' }, // no USERNAME
      ]);
      assert.deepEqual(forBad.map((m) => m.type.toString(16)), []);
    });

    test('our ufrag with a wrong or missing MESSAGE-INTEGRITY gets no success, at most a 401 or 400 error', async () => {
      const leg = legs[legIndex];
      const { forBad } = await probe(leg, [
        { username: `${leg.ufrag}:prober`, integrity: 'bogus' },
        { username: `${leg.ufrag}:prober`, integrity: { password: `${leg.pwd}x` } },
        { username: `${leg.ufrag}:prober`, integrity: 'none' },
      ]);
      for (const m of forBad) {
        assert.equal(m.type, BINDING_ERROR, `an answer to an unauthenticated request was type 0x${m.type.toString(16)}`);
        assert.ok([400, 401].includes(errorCode(m)!), `error code ${errorCode(m)}`);
      }
    });

    test('a flood of bad requests from one port makes the relay send no checks or successes there', async () => {
      const leg = legs[legIndex];
      const flood = await prober();
      try {
        const kinds: RequestOptions[] = [
          { username: 'stranger:flood', integrity: { password: leg.pwd } },
          { username: `${leg.ufrag}:flood`, integrity: 'bogus' },
          { username: `${leg.ufrag}:flood`, integrity: 'none' },
        ];
        for (let i = 0; i < 300; i++) await send(flood.socket, bindingRequest(kinds[i % kinds.length]).bytes, leg.port);
        // A request with the right credentials from another port, after the flood: once the relay
        // has answered it, it has handled the whole flood (what the kernel kept of it). werift
        // starts a triggered check as it handles a request; a second more catches any that is
        // slow to leave.
        await probe(leg, []);
        await sleep(1_000);
        const checks = flood.received.filter((m) => m.type === BINDING_REQUEST).length;
        const successes = flood.received.filter((m) => m.type === BINDING_SUCCESS).length;
        const errors = flood.received.filter((m) => m.type === BINDING_ERROR).length;
        assert.deepEqual({ checks, successes }, { checks: 0, successes: 0 }, `the flooder got ${checks} checks and ${successes} successes`);
        assert.ok(errors <= 200, `no more errors than requests with our ufrag (${errors})`);
      } finally {
        flood.close();
      }
    });
  });
}
