/**
 * A viewer's RTCP read natively (native/fanout.c `drainRtcp`, src/relay/rtcp-intake.ts), held to
 * werift's own parser as the oracle: compounds a viewer's werift protects, sent over a real
 * loopback socket, come out as the packets werift's RtcpPacketConverter makes of the same bytes,
 * both SRTP profiles. STUN and DTLS come back whole with their sender; forged and replayed SRTCP
 * is counted and dropped. Last, a connected werift leg read this way: PLI, NACK, reports and REMB
 * reach its sender's events; stopped, Node and werift read it again.
 */
import assert from 'node:assert/strict';
import { createSocket, type Socket } from 'node:dgram';
import { createHmac, randomBytes } from 'node:crypto';
import { after, before, describe, test } from 'node:test';
import {
  classes,
  GenericNack,
  Message,
  methods,
  parseMessage,
  MediaStreamTrack,
  ReceiverEstimatedMaxBitrate,
  RtcpPacketConverter,
  RtcpPayloadSpecificFeedback,
  RtcpReceiverInfo,
  RtcpRrPacket,
  RtcpSenderInfo,
  RtcpSourceDescriptionPacket,
  RtcpSrPacket,
  RtcpTransportLayerFeedback,
  RTCPeerConnection,
  SourceDescriptionChunk,
  SourceDescriptionItem,
  type RtcpPacket,
} from 'werift';
import { relayCounters } from '../../src/relay/forwarder.js';
import { iceConfig } from '../../src/relay/ice.js';
import { native, takeSocket } from '../../src/relay/native.js';
import { rembPacket } from '../../src/relay/publisher.js';
import { useNativeSrtcp } from '../../src/relay/rtcp-crypto.js';
import { packets, readRtcp } from '../../src/relay/rtcp-intake.js';
import { AEAD_AES_128_GCM, AES_CM_128_HMAC_SHA1_80 } from '../../src/relay/srtp.js';
import { installWeriftPatches } from '../../src/relay/werift/index.js';
import { srtcpLegs } from '../helpers/srtp-keys.js';
import { crc32 } from '../helpers/stun.js';
import { connectPair } from '../helpers/werift-pair.js';

const VIEWER = 0x0badcafe;
const VIDEO = 0x1234abcd;
const AUDIO = 0x2345bcde;

const rr = (ssrc: number, reports: RtcpReceiverInfo[]) => new RtcpRrPacket({ ssrc, reports });
const block = (ssrc: number, fractionLost: number) =>
  new RtcpReceiverInfo({ ssrc, fractionLost, packetsLost: 0xabcdef, highestSequence: 70_000, jitter: 40, lsr: 0x12345678, dlsr: 900 });
const remb = (bitsPerSecond: number, ssrcs: number[]) => new RtcpPayloadSpecificFeedback({ feedback: rembPacket(VIEWER, ssrcs, bitsPerSecond) });
/** A REMB whose exponent is past what werift reads as a number: "unlimited". */
const unlimited = () =>
  new RtcpPayloadSpecificFeedback({ feedback: new ReceiverEstimatedMaxBitrate({ senderSsrc: VIEWER, mediaSsrc: 0, ssrcNum: 1, brExp: 50, brMantissa: 5, ssrcFeedbacks: [VIDEO] }) });
const nack = (lost: number[]) => new RtcpTransportLayerFeedback({ feedback: new GenericNack({ senderSsrc: VIEWER, mediaSourceSsrc: VIDEO, lost }) });
const sdes = () =>
  new RtcpSourceDescriptionPacket({ chunks: [new SourceDescriptionChunk({ source: VIEWER, items: [new SourceDescriptionItem({ type: 1, text: 'viewer' })] })] });

/** A PSFB packet by hand: werift does not export its FIR class. */
function psfb(fmt: number, body: number[]): Buffer {
  const b = Buffer.alloc(12 + body.length);
  b[0] = 0x80 | fmt;
  b[1] = 206;
  b.writeUInt16BE(b.length / 4 - 1, 2);
  b.writeUInt32BE(VIEWER, 4);
  b.writeUInt32BE(VIDEO, 8);
  Buffer.from(body).copy(b, 12);
  return b;
}

/** An RR whose header says it has padding, with 4 bytes of it. */
function paddedRr(): Buffer {
  const plain = rr(VIEWER, [block(VIDEO, 7)]).serialize();
  const padded = Buffer.concat([plain, Buffer.from([0, 0, 0, 4])]);
  padded[0] |= 0x20;
  padded.writeUInt16BE(padded.length / 4 - 1, 2);
  return padded;
}

/**
 * What a viewer's libwebrtc sends, in the orders werift's own parser reads right (it reads a
 * NACK's and a REMB's entries on to the end of the datagram, so those come last).
 */
const COMPOUNDS: Buffer[] = [
  Buffer.concat([rr(VIEWER, [block(VIDEO, 3), block(AUDIO, 0)]).serialize(), sdes().serialize(), remb(2_500_000, [VIDEO, AUDIO]).serialize()]),
  Buffer.concat([rr(VIEWER + 1, [block(AUDIO, 255)]).serialize(), nack([100, 101, 105, 116, 117, 300]).serialize()]),
  new RtcpSrPacket({ ssrc: VIEWER, senderInfo: new RtcpSenderInfo({ ntpTimestamp: 0xe1234567_89abcdefn, rtpTimestamp: 123456, packetCount: 9000, octetCount: 8_000_000 }), reports: [block(VIDEO, 1)] }).serialize(),
  psfb(1, []), // PLI
  psfb(4, [0x12, 0x34, 0xab, 0xcd, 7, 0, 0, 0, 0x23, 0x45, 0xbc, 0xde, 8, 0, 0, 0]), // FIR, two entries
  remb(0x3ffff * 2 ** 20, [AUDIO]).serialize(),
  unlimited().serialize(),
  paddedRr(),
];

/** The fields the relay and werift's router read, of a packet from either parser (SDES, which the router passes to nobody, left out). */
function described(list: RtcpPacket[]): unknown[] {
  return list
    .filter((p) => !(p instanceof RtcpSourceDescriptionPacket))
    .map((p) => {
      const { type } = p;
      if (p instanceof RtcpRrPacket || p instanceof RtcpSrPacket) {
        const reports = p.reports.map((r) => ({ ...r }));
        return p instanceof RtcpSrPacket ? { type, ssrc: p.ssrc, reports, senderInfo: { ...p.senderInfo } } : { type, ssrc: p.ssrc, reports };
      }
      const f = (p).feedback as unknown as Record<string, unknown>;
      const fields = ['count', 'senderSsrc', 'mediaSsrc', 'mediaSourceSsrc', 'lost', 'bitrate', 'ssrcFeedbacks', 'fir', 'brExp', 'brMantissa', 'uniqueID'];
      return { type, ...Object.fromEntries(fields.filter((k) => f[k] !== undefined).map((k) => [k, f[k]])) };
    });
}

const PROFILES = [
  { name: 'AEAD_AES_128_GCM', profile: AEAD_AES_128_GCM, saltLength: 12 },
  { name: 'AES_CM_128_HMAC_SHA1_80', profile: AES_CM_128_HMAC_SHA1_80, saltLength: 14 },
];

const bound = async (): Promise<Socket> => {
  const socket = createSocket('udp4');
  await new Promise<void>((resolve) => socket.bind(0, '127.0.0.1', resolve));
  return socket;
};
const sendTo = (from: Socket, to: Socket, data: Buffer) => new Promise<void>((resolve, reject) => from.send(data, to.address().port, '127.0.0.1', (err) => (err ? reject(err) : resolve())));
const settle = () => new Promise((r) => setTimeout(r, 50));
const u32 = (n: number) => {
  const b = Buffer.alloc(4);
  b.writeUInt32BE(n >>> 0);
  return b;
};
/** A STUN message with one more attribute of `size` bytes, computed over the message up to it with its length already counting it (RFC 5389 15.4, 15.5). */
function withAttribute(message: Buffer, type: number, value: (upTo: Buffer) => Buffer, size: number): Buffer {
  const head = Buffer.from(message);
  head.writeUInt16BE(message.length - 20 + 4 + size, 2);
  const attribute = Buffer.alloc(4);
  attribute.writeUInt16BE(type, 0);
  attribute.writeUInt16BE(size, 2);
  return Buffer.concat([head, attribute, value(head)]);
}

describe('drainRtcp', () => {
  let relay: Socket;
  let viewer: Socket;
  let fd = -1;
  let release: (() => void) | undefined;
  before(async () => {
    relay = await bound();
    viewer = await bound();
    release = takeSocket(relay, (descriptor) => {
      fd = descriptor;
      return () => undefined;
    });
    assert.ok(release && fd >= 0, 'the socket was taken from Node');
  });
  after(() => {
    release?.();
    relay.close();
    viewer.close();
  });
  const records = new Float64Array(8 * 8 * 513);
  const drain = (srtcp: object) => native!.drainRtcp(srtcp, fd, records);

  for (const { name, profile, saltLength } of PROFILES) {
    test(`${name}: each compound comes out as werift parses it; STUN and DTLS come back with their sender`, async () => {
      const legs = srtcpLegs(profile, saltLength);
      for (const compound of COMPOUNDS) await sendTo(viewer, relay, legs.viewer.encrypt(compound));
      const stun = Buffer.concat([Buffer.from([0, 1, 0, 0, 0x21, 0x12, 0xa4, 0x42]), randomBytes(12)]);
      const dtls = Buffer.concat([Buffer.from([22, 0xfe, 0xfd]), randomBytes(30)]);
      await sendTo(viewer, relay, stun);
      await sendTo(viewer, relay, dtls);
      await settle();
      const out = drain(legs.srtcp);
      const [used, datagrams, bytes, rejected] = out as number[];
      assert.equal(datagrams, COMPOUNDS.length);
      assert.ok(bytes > COMPOUNDS.reduce((n, c) => n + c.length, 0), 'bytes on the wire, trailers included');
      assert.equal(rejected, 0);
      assert.deepEqual(described(packets(used, records)), described(COMPOUNDS.flatMap((c) => RtcpPacketConverter.deSerialize(c))));
      assert.deepEqual(out.slice(5), [stun, '127.0.0.1', viewer.address().port, dtls, '127.0.0.1', viewer.address().port]);
      assert.deepEqual(drain(legs.srtcp), [0, 0, 0, 0, 0], 'nothing left');
    });

    test(`${name}: forged, replayed and stray SRTCP is counted and dropped; what authenticates around it comes through`, async () => {
      const legs = srtcpLegs(profile, saltLength);
      const good = legs.viewer.encrypt(COMPOUNDS[3]);
      const forged = Buffer.from(legs.viewer.encrypt(COMPOUNDS[0]));
      forged[forged.length - 20] ^= 1;
      const stranger = srtcpLegs(profile, saltLength).viewer.encrypt(COMPOUNDS[0]);
      const short = Buffer.from([0x81, 201, 0, 1]);
      for (const d of [forged, good, good, stranger, short, legs.viewer.encrypt(COMPOUNDS[1])]) await sendTo(viewer, relay, d);
      await settle();
      const out = drain(legs.srtcp);
      assert.deepEqual(out.slice(1, 5).concat(out.length), [6, out[2], 4, 0, 5]);
      assert.deepEqual(described(packets(out[0] as number, records)), described([...RtcpPacketConverter.deSerialize(COMPOUNDS[3]), ...RtcpPacketConverter.deSerialize(COMPOUNDS[1])]));
    });

    test(`${name}: NACKed numbers wrap at 2^16, a packet cut short ends its compound, and records never overflow`, async () => {
      const legs = srtcpLegs(profile, saltLength);
      const wrapping = nack([65534, 65535, 0, 3]).serialize();
      const cut = Buffer.concat([rr(VIEWER, [block(VIDEO, 9)]).serialize(), remb(1000, [VIDEO]).serialize().subarray(0, 16)]);
      cut.writeUInt16BE(6, cut.length - 16 + 2); // the REMB says it is longer than what is left
      // The most records one datagram can give: a NACK of ~480 entries.
      const big = nack(Array.from({ length: 480 }, (_, i) => i * 17)).serialize();
      await sendTo(viewer, relay, legs.viewer.encrypt(wrapping));
      await sendTo(viewer, relay, legs.viewer.encrypt(cut));
      for (let i = 0; i < 12; i++) await sendTo(viewer, relay, legs.viewer.encrypt(big));
      await settle();
      const seen: RtcpPacket[] = [];
      let datagrams = 0;
      for (let calls = 0; calls < 20 && datagrams < 14; calls++) {
        const out = drain(legs.srtcp);
        datagrams += out[1] as number;
        seen.push(...packets(out[0] as number, records));
      }
      assert.equal(datagrams, 14, 'read over several calls, as rtcp-intake.ts does while records fill');
      assert.deepEqual(((seen[0] as RtcpTransportLayerFeedback).feedback as GenericNack).lost, [65534, 65535, 0, 3]);
      assert.deepEqual(described([seen[1]]), described([rr(VIEWER, [block(VIDEO, 9)])]));
      assert.equal(seen.length, 2 + 12);
      for (const p of seen.slice(2)) assert.equal(((p as RtcpTransportLayerFeedback).feedback as GenericNack).lost.length, 480);
    });
  }

  describe('consent checks', () => {
    const USER = 'relayufrag:viewerufrag';
    const PASSWORD = 'relay-ice-password-0123456789';
    /** A binding request as libwebrtc sends one on the selected pair (controlling, nominating). */
    const request = (options: { user?: string; key?: string; role?: 'ICE-CONTROLLING' | 'ICE-CONTROLLED'; raw?: [number, Buffer]; fingerprint?: boolean } = {}) => {
      const m = new Message(methods.BINDING, classes.REQUEST, randomBytes(12))
        .setAttribute('USERNAME', options.user ?? USER)
        .setAttribute('PRIORITY', 1853817087)
        .setAttribute(options.role ?? 'ICE-CONTROLLING', 0x1234_5678_9abc_def0n)
        .setAttribute('USE-CANDIDATE', null);
      if (options.raw) m.appendRawAttribute(...options.raw);
      // werift writes raw attributes after the ones it knows, so MESSAGE-INTEGRITY and FINGERPRINT go on by hand.
      const signed = withAttribute(m.bytes, 0x0008, (b) => createHmac('sha1', Buffer.from(options.key ?? PASSWORD, 'utf8')).update(b).digest(), 20);
      return { bytes: options.fingerprint === false ? signed : withAttribute(signed, 0x8028, (b) => u32((crc32(b) ^ 0x5354554e) >>> 0), 4), transactionIdHex: m.transactionIdHex };
    };
    /** What the viewer's socket receives within a moment. */
    const received = async (during: () => Promise<unknown>) => {
      const got: Buffer[] = [];
      const listener = (data: Buffer) => got.push(data);
      viewer.on('message', listener);
      await during();
      await settle();
      viewer.off('message', listener);
      return got;
    };
    const legs = () => {
      const l = srtcpLegs(AEAD_AES_128_GCM, 12);
      native!.consent(l.srtcp, USER, PASSWORD, false, '127.0.0.1', viewer.address().port);
      return l;
    };

    test('a check from the selected far end is answered natively, as werift would: XOR-MAPPED-ADDRESS, MESSAGE-INTEGRITY, FINGERPRINT', async () => {
      const { srtcp } = legs();
      const check = request({ raw: [0xc057, Buffer.from([0, 1, 0, 10])] }); // GOOG-NETWORK-INFO, as Chromium sends: comprehension-optional
      let out: unknown[] = [];
      const answers = await received(async () => {
        await sendTo(viewer, relay, check.bytes);
        await settle();
        out = drain(srtcp);
      });
      assert.deepEqual(out, [0, 0, 0, 0, 1], 'answered, nothing handed to werift');
      assert.equal(answers.length, 1);
      const answer = parseMessage(answers[0], Buffer.from(PASSWORD, 'utf8'));
      assert.ok(answer, 'the answer parses, its MESSAGE-INTEGRITY (our password) and FINGERPRINT check');
      assert.equal(answer.messageClass, classes.RESPONSE);
      assert.equal(answer.messageMethod, methods.BINDING);
      assert.equal(answer.transactionIdHex, check.transactionIdHex);
      assert.deepEqual(answer.getAttributeValue('XOR-MAPPED-ADDRESS'), ['127.0.0.1', viewer.address().port]);
      assert.deepEqual(answer.attributesKeys, ['XOR-MAPPED-ADDRESS', 'MESSAGE-INTEGRITY', 'FINGERPRINT']);
      assert.equal(native!.srtcpStats(srtcp)[4], 1);
    });

    test('anything it cannot vouch for goes to werift unanswered: wrong user, key, role, sender, fingerprint, attributes; and after consent(null)', async () => {
      const cases: [string, () => Buffer, Socket?][] = [
        ['another ufrag (an ICE restart)', () => request({ user: 'relayufrag:newviewer' }).bytes],
        ['a wrong key', () => request({ key: 'not-the-password-at-all-000' }).bytes],
        ['a role conflict', () => request({ role: 'ICE-CONTROLLED' }).bytes],
        ['no FINGERPRINT', () => request({ fingerprint: false }).bytes],
        ['a comprehension-required attribute', () => request({ raw: [0x0030, Buffer.alloc(4)] }).bytes],
        [
          'a broken FINGERPRINT',
          () => {
            const b = Buffer.from(request().bytes);
            b[b.length - 1] ^= 1;
            return b;
          },
        ],
        [
          'a length that disagrees',
          () => {
            const b = Buffer.from(request().bytes);
            b.writeUInt16BE(b.readUInt16BE(2) - 4, 2);
            return b;
          },
        ],
        ['a binding response', () => new Message(methods.BINDING, classes.RESPONSE, randomBytes(12)).setAttribute('XOR-MAPPED-ADDRESS', ['127.0.0.1', 9]).addMessageIntegrity(Buffer.from(PASSWORD)).addFingerprint().bytes],
        ['an attribute after FINGERPRINT', () => Buffer.concat([request().bytes, Buffer.from([0xc0, 0x57, 0, 4, 0, 1, 0, 10])])],
      ];
      const stranger = await bound();
      try {
        cases.push(['another sender', () => request().bytes, stranger]);
        for (const [why, make, from] of cases) {
          const { srtcp } = legs();
          const datagram = make();
          let out: unknown[] = [];
          const answers = await received(async () => {
            await sendTo(from ?? viewer, relay, datagram);
            await settle();
            out = drain(srtcp);
          });
          assert.equal(answers.length, 0, `${why}: not answered`);
          assert.deepEqual(out.slice(4), [0, datagram, '127.0.0.1', (from ?? viewer).address().port], `${why}: handed to werift whole`);
        }
        const { srtcp } = legs();
        native!.consent(srtcp, null);
        const datagram = request().bytes;
        let out: unknown[] = [];
        const answers = await received(async () => {
          await sendTo(viewer, relay, datagram);
          await settle();
          out = drain(srtcp);
        });
        assert.equal(answers.length, 0, 'stopped: not answered');
        assert.deepEqual(out.slice(4), [0, datagram, '127.0.0.1', viewer.address().port]);
        assert.throws(() => native!.consent(srtcp, USER, PASSWORD, false, 'not an address', 1), /IP address/);
      } finally {
        stranger.close();
      }
    });
    test("our own check goes out as werift's would, and only its authentic answer from the far end is taken", async () => {
      const THEIRS = 'viewer-ice-password-0123456789';
      const TIE_BREAKER = 0x0102_0304_0506_0708n;
      const { srtcp } = legs();
      assert.deepEqual(native!.checkConsent(srtcp, fd), [0, 0, 0], 'not told how: nothing sent');
      native!.consent(srtcp, USER, PASSWORD, true, '127.0.0.1', viewer.address().port, 'viewerufrag:relayufrag', THEIRS, TIE_BREAKER, 1862270975);
      const sent = await received(async () => assert.deepEqual(native!.checkConsent(srtcp, fd), [1, 0, 0]));
      assert.equal(sent.length, 1);
      const check = parseMessage(sent[0], Buffer.from(THEIRS, 'utf8'));
      assert.ok(check, 'the check parses, its MESSAGE-INTEGRITY (their password) and FINGERPRINT check');
      assert.equal(check.messageClass, classes.REQUEST);
      assert.equal(check.messageMethod, methods.BINDING);
      assert.deepEqual(check.attributesKeys, ['USERNAME', 'PRIORITY', 'ICE-CONTROLLING', 'MESSAGE-INTEGRITY', 'FINGERPRINT']);
      assert.equal(check.getAttributeValue('USERNAME'), 'viewerufrag:relayufrag');
      assert.equal(check.getAttributeValue('PRIORITY'), 1862270975);
      assert.equal(check.getAttributeValue('ICE-CONTROLLING'), TIE_BREAKER);

      const answer = (key = THEIRS, id = check.transactionId) =>
        new Message(methods.BINDING, classes.RESPONSE, id).setAttribute('XOR-MAPPED-ADDRESS', ['127.0.0.1', relay.address().port]).addMessageIntegrity(Buffer.from(key, 'utf8')).addFingerprint().bytes;
      const stranger = await bound();
      try {
        const forged: [string, Buffer, Socket][] = [
          ['a wrong key', answer('not-their-password-at-all-00'), viewer],
          ['another transaction', answer(THEIRS, randomBytes(12)), viewer],
          ['another sender', answer(), stranger],
        ];
        for (const [why, datagram, from] of forged) {
          await sendTo(from, relay, datagram);
          await settle();
          assert.deepEqual(drain(srtcp).slice(4), [0, datagram, '127.0.0.1', from.address().port], `${why}: handed to werift whole`);
        }
        const good = answer();
        await sendTo(viewer, relay, good);
        await settle();
        assert.deepEqual(drain(srtcp), [0, 0, 0, 0, 0], 'the answer is taken');
        await sendTo(viewer, relay, good);
        await settle();
        assert.deepEqual(drain(srtcp).slice(4), [0, good, '127.0.0.1', viewer.address().port], 'the same answer again is not');
        const [again, answers, rttMs] = native!.checkConsent(srtcp, fd);
        assert.deepEqual([again, answers], [1, 1]);
        assert.ok(rttMs > 0 && rttMs < 1_000, `round trip ${rttMs} ms`);
        native!.consent(srtcp, USER, PASSWORD, true, '127.0.0.1', viewer.address().port);
        assert.equal(native!.checkConsent(srtcp, fd)[0], 0, 'told again without how to check: nothing sent');
        assert.throws(() => native!.consent(srtcp, USER, PASSWORD, true, '127.0.0.1', 1, 'a:b', THEIRS, 5 as unknown as bigint, 1), /tieBreaker/);
      } finally {
        stranger.close();
        await settle();
      }
    });
  });

  test('bad arguments throw; a descriptor that is not a socket reads nothing', () => {
    const { srtcp } = srtcpLegs(AEAD_AES_128_GCM, 12);
    assert.throws(() => native!.drainRtcp({}, fd, records));
    assert.throws(() => native!.drainRtcp(srtcp, fd, new Uint32Array(8) as unknown as Float64Array));
    assert.throws(() => native!.drainRtcp(srtcp, -1, records));
    assert.deepEqual(native!.drainRtcp(srtcp, 0, new Float64Array(8)), [0, 0, 0, 0, 0], 'no room for a datagram: nothing read');
  });
});

test("a connected werift leg's RTCP read natively: PLI, NACK, reports and REMB reach its sender, consent checks are answered; stopped, werift reads it again", async () => {
  installWeriftPatches();
  const config = iceConfig({ host: '127.0.0.1', iceServers: [] });
  const sending = new RTCPeerConnection(config);
  const receiving = new RTCPeerConnection(config);
  const { sender } = sending.addTransceiver(new MediaStreamTrack({ kind: 'video' }), { direction: 'sendonly' });
  await connectPair(sending, receiving);
  try {
    const seen: string[] = [];
    sender.onPictureLossIndication.subscribe(() => seen.push('pli'));
    sender.onGenericNack.subscribe((n) => seen.push(`nack ${n.lost.join(',')}`));
    sender.onRtcp.subscribe((p) => {
      // (werift's own receiver reports, if any, carry no block about this sender: it sent nothing)
      const ours = p instanceof RtcpRrPacket ? p.reports.find((r) => r.ssrc === sender.ssrc && r.highestSequence === 70_000) : undefined;
      if (ours) seen.push(`rr ${ours.fractionLost}`);
      if (p instanceof RtcpPayloadSpecificFeedback && p.feedback instanceof ReceiverEstimatedMaxBitrate) seen.push(`remb ${p.feedback.bitrate}`);
    });
    const dtls = receiving.getTransceivers()[0].receiver.dtlsTransport as unknown as { sendRtcp(p: RtcpPacket[]): Promise<void> };
    const feedback = async () => {
      await receiving.getTransceivers()[0].receiver.sendRtcpPLI(sender.ssrc);
      await dtls.sendRtcp([nack([5, 6])]); // for another SSRC: werift's router gives it to nobody
      await dtls.sendRtcp([new RtcpTransportLayerFeedback({ feedback: new GenericNack({ senderSsrc: VIEWER, mediaSourceSsrc: sender.ssrc, lost: [7, 9] }) })]);
      await dtls.sendRtcp([rr(VIEWER, [block(sender.ssrc, 12)]), remb(750_000, [sender.ssrc])]);
    };
    const until = async (n: number) => {
      for (let i = 0; i < 300 && seen.length < n; i++) await new Promise((r) => setTimeout(r, 10));
    };

    assert.equal(useNativeSrtcp(sending), true);
    const before = relayCounters.rtcpReadNatively;
    const stop = readRtcp(sending);
    assert.equal(typeof stop, 'function', `read natively: ${String(stop)}`);
    await feedback();
    await until(4);
    assert.deepEqual(seen, ['pli', 'nack 7,9', 'rr 12', 'remb 750000']);
    const read = relayCounters.rtcpReadNatively - before;
    assert.ok(read >= 4, `the four datagrams (and any werift sent by itself) were read natively: ${read}`);
    // The far end's consent checks (werift's: one every 4-6 s) are answered natively, and it takes the answers.
    const answered = relayCounters.consentAnsweredNatively;
    const agent = (receiving.iceTransports[0] as unknown as { connection: { nominated?: { consentRequestsSent: number; responsesReceived: number } } }).connection;
    const pair = agent.nominated!;
    const [sent, taken] = [pair.consentRequestsSent, pair.responsesReceived];
    for (let i = 0; i < 160 && (relayCounters.consentAnsweredNatively === answered || pair.responsesReceived === taken); i++) await new Promise((r) => setTimeout(r, 50));
    assert.ok(relayCounters.consentAnsweredNatively > answered, `a consent check answered natively (the far end sent ${pair.consentRequestsSent - sent})`);
    assert.ok(pair.responsesReceived > taken, 'the far end took the answer');
    assert.equal(readRtcp(sending, { LANCAST_NATIVE_READ: '0' }), 'LANCAST_NATIVE_READ=0');

    (stop as () => void)();
    seen.length = 0;
    await feedback();
    await until(4);
    assert.deepEqual(seen, ['pli', 'nack 7,9', 'rr 12', 'remb 750000'], 'werift reads the leg again');
    assert.equal(relayCounters.rtcpReadNatively - before, read, 'none read natively since');
    assert.equal(sending.connectionState, 'connected');
  } finally {
    await Promise.all([sending.close(), receiving.close()]);
  }
});
