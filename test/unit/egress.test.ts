/**
 * The forwarding path's SRTP, native and TypeScript, checked against an independent
 * implementation (werift's SRTP session, the one the viewers' side of the tests uses): packets
 * sent over real UDP sockets on 127.0.0.1 must decrypt and authenticate, carry the viewer's
 * header fields, survive a sequence-number wrap (rollover counter), and RTX must be its own
 * stream. A tampered packet must fail authentication.
 */
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { createSocket, type Socket } from 'node:dgram';
import { after, before, describe, test } from 'node:test';
import { RtpPacket } from 'werift';
import { Egress, EgressGroup } from '../../src/relay/egress.js';
import { AEAD_AES_128_GCM, AES_CM_128_HMAC_SHA1_80 } from '../../src/relay/srtp.js';
import { srtpKeyPair } from '../helpers/srtp-keys.js';

const PROFILES = [
  { name: 'AEAD_AES_128_GCM', profile: AEAD_AES_128_GCM },
  { name: 'AES_CM_128_HMAC_SHA1_80', profile: AES_CM_128_HMAC_SHA1_80 },
];

let receiver: Socket;
let port = 0;
const inbox: Buffer[] = [];
const waiters: (() => void)[] = [];
let sender: Socket;

before(async () => {
  receiver = createSocket('udp4');
  receiver.on('message', (m) => {
    inbox.push(m);
    for (const w of waiters.splice(0)) w();
  });
  await new Promise<void>((r) => receiver.bind(0, '127.0.0.1', r));
  port = receiver.address().port;
  sender = createSocket('udp4');
  await new Promise<void>((r) => sender.bind(0, '127.0.0.1', r));
});

after(() => {
  receiver.close();
  sender.close();
});

async function receive(count: number): Promise<Buffer[]> {
  const deadline = Date.now() + 3_000;
  while (inbox.length < count && Date.now() < deadline) await new Promise<void>((r) => (waiters.push(r), setTimeout(r, 50)));
  assert.equal(inbox.length, count, `expected ${count} packets on the socket`);
  return inbox.splice(0);
}

for (const useNative of [true, false]) {
  const impl = useNative ? 'native' : 'TypeScript';
  describe(`egress (${impl})`, () => {
    for (const p of PROFILES) {
      test(`${p.name}: decrypts with the viewer's header, across a sequence wrap, RTX apart`, async () => {
        const { session, keys } = srtpKeyPair(p.profile);
        const header = { ssrc: 0x11223344, payloadType: 102, seqOffset: 100, tsOffset: 5000 };
        const egress = new Egress(keys, { kind: 'udp', socket: sender, address: '127.0.0.1', port }, header, useNative);
        assert.equal(Boolean(egress.native), useNative);
        const group = new EgressGroup();
        group.add(egress);
        const payloads: Buffer[] = [];
        // Publisher sequence numbers 65430..65440 become 65530..4 for the viewer: a wrap.
        for (let i = 0; i < 11; i++) {
          const payload = randomBytes(200 + i * 90);
          payloads.push(payload);
          assert.equal(group.send(payload, i === 10, 65430 + i, 90_000 * i), 1);
        }
        // A retransmission on the RTX stream (its own SSRC and sequence space).
        assert.ok(egress.sendRaw(1, Buffer.concat([Buffer.from([0xff, 0xfe]), payloads[3]]), false, 103, 7, 42, 0x55667788));
        const packets = await receive(12);
        for (let i = 0; i < 11; i++) {
          const rtp = RtpPacket.deSerialize(session.decrypt(packets[i]));
          assert.equal(rtp.header.ssrc, 0x11223344);
          assert.equal(rtp.header.payloadType, 102);
          assert.equal(rtp.header.sequenceNumber, (65430 + i + 100) & 0xffff);
          assert.equal(rtp.header.timestamp, 90_000 * i + 5000);
          assert.equal(rtp.header.marker, i === 10);
          assert.equal(rtp.header.extension, false);
          assert.deepEqual(rtp.payload, payloads[i]);
        }
        const rtx = RtpPacket.deSerialize(session.decrypt(packets[11]));
        assert.equal(rtx.header.ssrc, 0x55667788);
        assert.equal(rtx.header.payloadType, 103);
        assert.deepEqual(rtx.payload.subarray(2), payloads[3]);
        const stats = egress.stats();
        assert.equal(stats.packets, 12);
        assert.equal(stats.dropped, 0);
        egress.close();
        assert.equal(group.send(payloads[0], false, 1, 1), 0, 'a closed egress sends nothing');
      });

      test(`${p.name}: payloads of every length around the cipher's block and batch boundaries decrypt`, async () => {
        const { session, keys } = srtpKeyPair(p.profile);
        const egress = new Egress(keys, { kind: 'udp', socket: sender, address: '127.0.0.1', port }, { ssrc: 5, payloadType: 96, seqOffset: 0, tsOffset: 0 }, useNative);
        const group = new EgressGroup();
        group.add(egress);
        // AES-CM's keystream is made 64 blocks (1024 bytes) at a time natively.
        const lengths = [0, 1, 15, 16, 17, 1023, 1024, 1025, 1040, 1100, 1400];
        const payloads = lengths.map((n) => randomBytes(n));
        payloads.forEach((payload, i) => assert.equal(group.send(payload, false, 200 + i, 3000 * i), 1));
        const packets = await receive(lengths.length);
        packets.forEach((packet, i) => assert.deepEqual(RtpPacket.deSerialize(session.decrypt(packet)).payload, payloads[i], `${lengths[i]} bytes`));
        egress.close();
      });

      test(`${p.name}: offsets set while sending (a simulcast viewer's new layer) apply to sequence numbers, timestamps and VP8 picture ids`, async () => {
        const { session, keys } = srtpKeyPair(p.profile);
        const egress = new Egress(keys, { kind: 'udp', socket: sender, address: '127.0.0.1', port }, { ssrc: 9, payloadType: 96, seqOffset: 0, tsOffset: 0 }, useNative);
        const group = new EgressGroup();
        group.add(egress);
        // VP8 descriptors: X, I with a 15-bit picture id 0x7ffe, L with TL0PICIDX 255; then a 7-bit id 127; then none.
        const long = Buffer.from([0x90, 0xc0, 0xff, 0xfe, 0xff, 0x01, 0x02, 0x03]);
        const short = Buffer.from([0x90, 0x80, 0x7f, 0x01, 0x02]);
        const plain = Buffer.from([0x10, 0x01, 0x02]);
        egress.setOffsets(1000, 90_000, 3, 2);
        for (const [i, payload] of [long, short, plain].entries()) assert.equal(group.send(payload, false, 65535 - i, 4_294_967_000), 1);
        egress.setOffsets(0, 0);
        assert.equal(group.send(long, false, 7, 7), 1);
        const [a, b, c, d] = (await receive(4)).map((packet) => RtpPacket.deSerialize(session.decrypt(packet)));
        assert.deepEqual([a.header.sequenceNumber, a.header.timestamp], [(65535 + 1000) & 0xffff, (4_294_967_000 + 90_000) >>> 0]);
        assert.deepEqual([...a.payload], [0x90, 0xc0, 0x80, 0x01, 0x01, 0x01, 0x02, 0x03], '15-bit id 0x7ffe + 3 wraps to 1; TL0PICIDX 255 + 2 to 1');
        assert.deepEqual([...b.payload], [0x90, 0x80, 0x02, 0x01, 0x02], '7-bit id 127 + 3 wraps to 2');
        assert.deepEqual([...c.payload], [...plain], 'no picture id: as it was');
        assert.deepEqual([d.header.sequenceNumber, d.header.timestamp, ...d.payload], [7, 7, ...long], 'offsets back to 0: as it was');
        egress.close();
      });

      test(`${p.name}: a tampered packet fails authentication; an oversized one is refused`, async () => {
        const { session, keys } = srtpKeyPair(p.profile);
        const egress = new Egress(keys, { kind: 'udp', socket: sender, address: '127.0.0.1', port }, { ssrc: 1, payloadType: 96, seqOffset: 0, tsOffset: 0 }, useNative);
        assert.ok(egress.send(randomBytes(500), false, 1, 1));
        const [packet] = await receive(1);
        packet[40] ^= 1;
        assert.throws(() => session.decrypt(packet));
        if (useNative) {
          assert.equal(egress.send(Buffer.alloc(1700), false, 2, 2), false);
          assert.equal(egress.stats().dropped, 1);
        }
        egress.close();
      });
    }
  });
}

test('a socket that closes stops its egress before its descriptor can be reused', async () => {
  const { keys } = srtpKeyPair(AEAD_AES_128_GCM);
  const socket = createSocket('udp4');
  await new Promise<void>((r) => socket.bind(0, '127.0.0.1', r));
  const egress = new Egress(keys, { kind: 'udp', socket, address: '127.0.0.1', port }, { ssrc: 1, payloadType: 96, seqOffset: 0, tsOffset: 0 });
  await new Promise<void>((r) => socket.close(r));
  assert.equal(egress.closed, true);
  assert.equal(egress.send(Buffer.alloc(100), false, 1, 1), false);
});
