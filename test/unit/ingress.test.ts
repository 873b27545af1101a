/**
 * The publisher leg's native SRTP decrypt (native/fanout.c `unprotect`), checked against an
 * independent implementation: werift's SRTP session encrypts what a broadcaster would send, the
 * native ingress must give back exactly the plain RTP, across a sequence-number wrap and with
 * header extensions, and must refuse a tampered packet or a wrong key. Then the swap itself on a
 * connected werift leg (werift as the relay runs it, through the installer); last, `drain`, which
 * reads a gated publisher leg's socket (ingress-gate.ts), and `route` and `take`, which forward a
 * watched leg's routed streams as they are read and keep everything for JavaScript.
 */
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { createSocket } from 'node:dgram';
import { test } from 'node:test';
import { MediaStreamTrack, RTCPeerConnection, RtpHeader, RtpPacket, SrtpSession } from 'werift';
import { AEAD_AES_128_GCM, AES_CM_128_HMAC_SHA1_80, native, NO_SRTP_FOR_BENCHMARKS } from '../../src/relay/egress.js';
import { iceConfig } from '../../src/relay/ice.js';
import { ingressCounters, useNativeIngress } from '../../src/relay/ingress.js';
import { pauseReading, socketFd } from '../../src/relay/native.js';
import { connectPair } from '../helpers/werift-pair.js';
import { installWeriftPatches } from '../../src/relay/werift/index.js';

const PROFILES = [
  { name: 'AEAD_AES_128_GCM', profile: AEAD_AES_128_GCM, saltLength: 12 },
  { name: 'AES_CM_128_HMAC_SHA1_80', profile: AES_CM_128_HMAC_SHA1_80, saltLength: 14 },
];

type Ctx = { srtpSessionKey: Buffer; srtpSessionSalt: Buffer; srtpSessionAuthTag: Buffer };

/** The broadcaster's side (a werift session) and a native ingress with the receiving keys. */
function pair(profile: number, saltLength: number, wrongKey = false) {
  const masterKey = randomBytes(16);
  const masterSalt = randomBytes(saltLength);
  const sender = new SrtpSession({
    keys: { localMasterKey: masterKey, localMasterSalt: masterSalt, remoteMasterKey: masterKey, remoteMasterSalt: masterSalt },
    profile: profile,
  });
  const ctx = (sender as unknown as { remoteContext: Ctx }).remoteContext;
  // A wrong key: another session's (both its cipher key and, for AES-CM, its authentication key).
  const key = wrongKey ? randomBytes(16) : ctx.srtpSessionKey;
  const authKey = wrongKey ? randomBytes(20) : ctx.srtpSessionAuthTag;
  const ingress = native!.ingress(profile, key, ctx.srtpSessionSalt, profile === AES_CM_128_HMAC_SHA1_80 ? authKey : null);
  return { sender, ingress };
}

function rtp(seq: number, payload: Buffer, withExtension = false): RtpPacket {
  const header = new RtpHeader({ payloadType: 96, sequenceNumber: seq, timestamp: seq * 3000, marker: seq % 9 === 0, ssrc: 0x1234abcd });
  if (withExtension) {
    header.extension = true;
    header.extensionProfile = 0xbede;
    header.extensions = [{ id: 3, payload: Buffer.from([1, 2, 3]) }];
  }
  return new RtpPacket(header, payload);
}

test('the native module is built (the relay would fall back to werift without it)', () => {
  assert.ok(native, 'dist/native/lancast.node did not load: run npm run build with a C compiler');
});

for (const { name, profile, saltLength } of PROFILES) {
  test(`${name}: decrypts what werift encrypts, across a sequence wrap, with and without header extensions`, () => {
    const { sender, ingress } = pair(profile, saltLength);
    const seqs = [65530, 65531, 65532, 65533, 65534, 65535, 0, 1, 2, 3, 4, 5, 1000];
    for (const [i, seq] of seqs.entries()) {
      const packet = rtp(seq, randomBytes(900 + i), i % 2 === 1);
      const srtp = sender.encrypt(packet.payload, packet.header);
      const plain = native!.unprotect(ingress, srtp);
      assert.ok(plain, `packet ${seq} did not decrypt`);
      assert.deepEqual(plain, packet.serialize(), `packet ${seq} differs`);
      const parsed = RtpPacket.deSerialize(plain);
      assert.equal(parsed.header.sequenceNumber, seq);
    }
    assert.deepEqual(native!.ingressStats(ingress), [seqs.length, 0]);
  });

  test(`${name}: a tampered packet, a truncated one and a wrong key are refused`, () => {
    const { sender, ingress } = pair(profile, saltLength);
    const packet = rtp(10, randomBytes(500));
    const srtp = sender.encrypt(packet.payload, packet.header);
    const tampered = Buffer.from(srtp);
    tampered[40] ^= 1;
    assert.equal(native!.unprotect(ingress, tampered), null);
    assert.equal(native!.unprotect(ingress, srtp.subarray(0, 20)), null);
    assert.equal(native!.unprotect(ingress, Buffer.from('not an RTP packet at all')), null);
    assert.deepEqual(native!.unprotect(ingress, srtp), packet.serialize(), 'the genuine packet still decrypts');
    const stranger = pair(profile, saltLength, true);
    const other = stranger.sender.encrypt(packet.payload, packet.header);
    assert.equal(native!.unprotect(stranger.ingress, other), null);
  });
}

test('an egress handle is not accepted as an ingress', () => {
  assert.throws(() => native!.unprotect({}, Buffer.alloc(40)));
});

/** An RTP-looking datagram from anyone: a random SSRC and sequence number, random bytes, no valid tag. */
function stray(): Buffer {
  const p = randomBytes(60 + Math.floor(Math.random() * 900));
  p[0] = 0x80;
  p[1] = 96;
  return p;
}

for (const { name, profile, saltLength } of PROFILES) {
  test(`${name}: packets that do not authenticate change nothing, so the stream survives its sequence wrap`, () => {
    const { sender, ingress } = pair(profile, saltLength);
    let rejected = 0;
    const send = (seq: number) => {
      const packet = rtp(seq, randomBytes(300));
      const plain = native!.unprotect(ingress, sender.encrypt(packet.payload, packet.header));
      assert.deepEqual(plain, packet.serialize(), `packet ${seq} was refused`);
    };
    const strays = (n: number) => {
      for (let i = 0; i < n; i++) assert.equal(native!.unprotect(ingress, stray()), null);
      // The real SSRC too, far ahead of the stream and behind it: forged, so not a hint of a wrap.
      for (const seq of [0, 30000, 65535]) {
        const forged = stray();
        forged.writeUInt16BE(seq, 2);
        forged.writeUInt32BE(0x1234abcd, 8);
        assert.equal(native!.unprotect(ingress, forged), null);
      }
      rejected += n + 3;
    };
    strays(20); // before the first genuine packet
    let seq = 65500;
    for (let i = 0; i < 200; i++, seq = (seq + 1) & 0xffff) {
      send(seq);
      // Dozens of SSRCs (more than the ingress keeps state for) between genuine packets, before
      // and after the wrap: once the stream's rollover counter is 1, losing it loses the stream.
      if (i % 10 === 0) strays(20);
    }
    assert.deepEqual(native!.ingressStats(ingress), [200, rejected]);
  });
}

test("a connected werift leg's receiving SRTP is swapped for the native decrypt, and werift still delivers every packet", async () => {
  installWeriftPatches();
  const config = iceConfig({ host: '127.0.0.1', iceServers: [] });
  const sender = new RTCPeerConnection(config);
  const receiver = new RTCPeerConnection(config);
  try {
    const track = new MediaStreamTrack({ kind: 'video' });
    sender.addTransceiver(track, { direction: 'sendonly' });
    const got = new Set<number>();
    receiver.onTrack.subscribe((t) => t.onReceiveRtp.subscribe((rtp) => got.add(rtp.header.sequenceNumber)));
    await connectPair(sender, receiver);
    assert.equal(useNativeIngress(receiver), true, "the receiving leg's SRTP session was found and swapped");
    assert.equal(useNativeIngress(receiver), true, 'a second call finds it swapped');
    const before = ingressCounters.packets;
    for (let seq = 100; seq < 130; seq++) {
      track.writeRtp(new RtpPacket(new RtpHeader({ sequenceNumber: seq, timestamp: seq * 3000 }), randomBytes(600)));
    }
    for (let i = 0; i < 500 && got.size < 30; i++) await new Promise((r) => setTimeout(r, 10));
    assert.equal(got.size, 30, 'every packet reached the track');
    assert.ok(ingressCounters.packets - before >= 30, `the native decrypt handled them (${ingressCounters.packets - before})`);
  } finally {
    await Promise.all([sender.close(), receiver.close()]);
  }
});

test('drain: reads a socket without blocking; RTP authenticated and described across a wrap, the rest handed back with its sender', async () => {
  const { sender, ingress } = pair(AES_CM_128_HMAC_SHA1_80, 14);
  const rx = createSocket('udp4');
  const tx = createSocket('udp4');
  await new Promise<void>((resolve) => rx.bind(0, '127.0.0.1', resolve));
  await new Promise<void>((resolve) => tx.bind(0, '127.0.0.1', resolve));
  rx.on('message', () => assert.fail('Node must not read a socket being drained'));
  assert.ok(pauseReading(rx), 'Node stops reading the socket');
  const send = (b: Buffer) => new Promise<void>((resolve) => tx.send(b, rx.address().port, '127.0.0.1', () => resolve()));
  const records = new Uint32Array(5 * 4);
  try {
    const seqs = [65534, 65535, 0, 1, 2, 3];
    const srtp = (seq: number) => {
      const packet = rtp(seq, randomBytes(500));
      return sender.encrypt(packet.payload, packet.header);
    };
    for (const seq of seqs) await send(srtp(seq));
    const forged = srtp(4);
    forged[40] ^= 1;
    await send(forged);
    const stun = Buffer.from('000100002112a442000000000000000000000000', 'hex');
    await send(stun);
    const srtcp = Buffer.from([0x80, 200, 0, 6, ...randomBytes(24)]);
    await send(srtcp);
    await new Promise((r) => setTimeout(r, 50));
    // Four records fit: the first call stops there, the second reads the rest.
    const first = native!.drain(ingress, socketFd(rx)!, records);
    assert.equal(first[0], 4);
    assert.deepEqual([...records.subarray(0, 20)].filter((_, i) => i % 5 === 1), [65534, 65535, 0, 1]);
    assert.deepEqual([...records.subarray(0, 5)], [0x1234abcd, 65534, 12, 500, 0]);
    const second = native!.drain(ingress, socketFd(rx)!, records);
    assert.equal(second[0], 2, 'the two after the wrap authenticate: the rollover counter moved with the stream');
    assert.equal(second[1], 1, 'the forged packet is rejected');
    assert.deepEqual(second.slice(2), [stun, '127.0.0.1', tx.address().port, srtcp, '127.0.0.1', tx.address().port]);
    assert.deepEqual(native!.drain(ingress, socketFd(rx)!, records), [0, 0], 'an empty socket: nothing, at once');
  } finally {
    rx.close();
    tx.close();
  }
});

test('route and take: a routed stream is sent on as it is read, with the viewer\'s header; everything read is kept for JavaScript, in order, with how many it went to', async () => {
  const { sender, ingress } = pair(AEAD_AES_128_GCM, 12);
  const [rx, tx, out, sink] = [createSocket('udp4'), createSocket('udp4'), createSocket('udp4'), createSocket('udp4')];
  for (const s of [rx, tx, out, sink]) await new Promise<void>((resolve) => s.bind(0, '127.0.0.1', resolve));
  rx.on('message', () => assert.fail('Node must not read a socket the native module watches'));
  assert.ok(pauseReading(rx), 'Node stops reading the socket');
  const received: Buffer[] = [];
  sink.on('message', (m) => received.push(m));
  // A viewer's egress without SRTP (the benchmarks' profile), so its packets can be read here.
  const egress = native!.create(socketFd(out)!, '127.0.0.1', sink.address().port, 0xabc, 100, 10, 1000, NO_SRTP_FOR_BENCHMARKS, randomBytes(16), randomBytes(12), null);
  let woken = 0;
  const watcher = native!.watch(socketFd(rx)!, () => woken++, ingress);
  const send = (b: Buffer) => new Promise<void>((resolve) => tx.send(b, rx.address().port, '127.0.0.1', () => resolve()));
  const srtp = (seq: number, payload: Buffer) => {
    const packet = rtp(seq, payload);
    return sender.encrypt(packet.payload, packet.header);
  };
  const ages = new Float64Array(64);
  const until = async (what: () => boolean) => {
    for (let i = 0; i < 300 && !what(); i++) await new Promise((r) => setTimeout(r, 10));
  };
  try {
    native!.route(ingress, 0x1234abcd, [egress]);
    const payloads = [randomBytes(700), randomBytes(800), randomBytes(900)];
    for (const [i, p] of payloads.entries()) await send(srtp(500 + i, p));
    await until(() => received.length === 3 && woken > 0);
    assert.equal(received.length, 3, 'the viewer got each routed packet');
    for (const [i, m] of received.entries()) {
      assert.equal(m.readUInt16BE(2), 510 + i, "the viewer's sequence offset");
      assert.equal(m.readUInt32BE(4), (500 + i) * 3000 + 1000, "the viewer's timestamp offset");
      assert.equal(m.readUInt32BE(8), 0xabc, "the viewer's SSRC");
      assert.equal(m[1] & 0x7f, 100, "the viewer's payload type");
      assert.deepEqual(m.subarray(12), payloads[i], 'the payload as the publisher sent it');
    }
    assert.ok(woken > 0, 'JavaScript was woken for what was kept');
    // Not routed: another SSRC, and STUN. Both wait for JavaScript, not sent on.
    const other = rtp(7, randomBytes(100));
    other.header.ssrc = 0x5555;
    await send(sender.encrypt(other.payload, other.header));
    const stun = Buffer.from('000100002112a442000000000000000000000000', 'hex');
    await send(stun);
    await new Promise((r) => setTimeout(r, 30));
    const got = native!.take(ingress, socketFd(rx)!, ages);
    assert.deepEqual(got.slice(0, 3), [5, 0, 3], 'five datagrams, none rejected, three forwarded');
    // The RTP packets one after the other in one buffer, each entry saying where it ends.
    const kept = got[3] as Buffer;
    const ends = [4, 7, 10, 13].map((i) => got[i] as number);
    const plain = [...payloads.map((p, i) => rtp(500 + i, p)), other].map((p) => p.serialize());
    assert.equal(kept.length, plain.reduce((n, p) => n + p.length, 0), 'every RTP packet is in the buffer, nothing else');
    for (let i = 0; i < 4; i++) {
      assert.deepEqual(kept.subarray(i === 0 ? 0 : ends[i - 1], ends[i]), plain[i], 'kept plain, as werift decrypts it');
      assert.equal(got[5 + 3 * i], null, 'RTP, no sender');
      assert.equal(got[6 + 3 * i], i < 3 ? 1 : -1, i < 3 ? 'sent to one viewer' : 'another SSRC: not sent here');
      assert.ok(ages[i] >= 0 && ages[i] < 5_000, `its age: ${ages[i]} ms`);
    }
    assert.deepEqual(got.slice(16), [stun, '127.0.0.1', tx.address().port], 'STUN comes back with its sender, in its own buffer');
    assert.equal(received.length, 3);
    // No longer routed: kept, not sent.
    native!.route(ingress, 0x1234abcd, null);
    await send(srtp(503, randomBytes(50)));
    await new Promise((r) => setTimeout(r, 30));
    assert.deepEqual(native!.take(ingress, socketFd(rx)!, ages).slice(0, 3), [1, 0, 0]);
    assert.equal(received.length, 3, 'nothing sent after the route was removed');
    assert.throws(() => native!.route({}, 1, null), 'not an ingress');
    for (let ssrc = 1; ssrc <= 4; ssrc++) native!.route(ingress, ssrc, []);
    assert.throws(() => native!.route(ingress, 5, []), /too many routed streams/);
  } finally {
    native!.unwatch(watcher);
    for (const s of [rx, tx, out, sink]) s.close();
  }
});
