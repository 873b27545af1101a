/**
 * The patches that make werift's receive path cheaper must not change what it does. Each is run
 * side by side with werift's own code on the same input (real RTP from a Chromium capture, real
 * STUN, werift's own events, codecs and receivers) and must give the same output; last, a
 * connected werift leg runs on them and delivers every packet.
 */
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { mock, test } from 'node:test';
import {
  classes,
  Event,
  MediaStreamTrack,
  Message,
  methods,
  parseMessage,
  RTCPeerConnection,
  RTCRtpCodecParameters,
  RTCRtpReceiver,
  RtcpRrPacket,
  RtpHeader,
  rtpHeaderExtensionsParser,
  RtpPacket,
  StunProtocol,
  useNACK,
  usePLI,
  useTWCC,
} from 'werift';
import { iceConfig } from '../../src/relay/ice.js';
import { connectPair } from '../helpers/werift-pair.js';
import { connectedReceivingSrtp, installWeriftPatches, replacements, routedReceiveCounters } from '../../src/relay/werift/index.js';
import { isLean, leanEvent, type WeriftEvent } from '../../src/relay/werift/lean-events.js';
import { truncate } from '../../src/relay/werift/lean-receive-stats.js';
import { firstCodec, ordinaryCodec } from '../../src/relay/werift/lean-rtp-receive.js';
import { notStun } from '../../src/relay/werift/stun-precheck.js';
import { loadCapture, type CapturedPacket } from '../helpers/rtp-capture.js';

installWeriftPatches();
/** werift's own function that `target` replaced. */
const weriftOwn = (target: string) => replacements.find((r) => r.target === target)!.original;

const SSRC = 0x11223344;
const RTX_SSRC = 0x55667788;
/** Header extensions as Chromium sends them: mid, abs-send-time, transport-wide sequence. */
const EXT_URIS: Record<number, string> = {
  1: 'urn:ietf:params:rtp-hdrext:sdes:mid',
  2: 'http://www.webrtc.org/experiments/rtp-hdrext/abs-send-time',
  3: 'http://www.ietf.org/id/draft-holmer-rmcat-transport-wide-cc-extensions-01',
};

const video = loadCapture('vp8').records.filter((r): r is CapturedPacket => 'seq' in r && r.k === 'video');

function rtp(p: CapturedPacket, i: number, payloadType = 96, ssrc = SSRC): RtpPacket {
  const header = new RtpHeader({ payloadType, sequenceNumber: p.seq, timestamp: p.ts, marker: p.m === 1, ssrc });
  header.extension = true;
  header.extensions = [
    { id: 1, payload: Buffer.from('0') },
    { id: 2, payload: Buffer.from([i >> 16, i >> 8, i].map((b) => b & 0xff)) },
    { id: 3, payload: Buffer.from([(i >> 8) & 0xff, i & 0xff]) },
  ];
  // Through the wire format and werift's (patched) parser, as a received packet is.
  return RtpPacket.deSerialize(new RtpPacket(header, Buffer.from(p.payload)).serialize());
}

test("the STUN pre-check passes on only what werift's parser refuses, on every first byte and real packets", () => {
  const cookie = Buffer.from([0x21, 0x12, 0xa4, 0x42]);
  for (let b = 0; b < 256; b++) {
    for (const length of [0, 1, 19, 20, 21, 64, 1200]) {
      const data = randomBytes(length);
      if (length > 0) data[0] = b;
      if (length >= 8) cookie.copy(data, 4);
      if (notStun(data)) assert.equal(parseMessage(data), undefined, `first byte ${b}, ${length} bytes`);
    }
  }
  const request = new Message(methods.BINDING, classes.REQUEST).setAttribute('USERNAME', 'a:b').addMessageIntegrity(Buffer.from('password')).addFingerprint().bytes;
  assert.equal(notStun(request), false);
  assert.ok(parseMessage(request));
  for (const [i, p] of video.slice(0, 200).entries()) assert.equal(notStun(rtp(p, i).serialize()), true);
  assert.equal(notStun(new RtcpRrPacket({ ssrc: 1, reports: [] }).serialize()), true);
});

test("the ICE transport's datagrams reach the same events as through werift's own datagramReceived", () => {
  const own = weriftOwn('StunProtocol.prototype.datagramReceived');
  const request = new Message(methods.BINDING, classes.REQUEST).setAttribute('USERNAME', 'a:b').addFingerprint();
  const inputs: Buffer[] = [rtp(video[0], 0).serialize(), request.bytes, new RtcpRrPacket({ ssrc: 1, reports: [] }).serialize(), Buffer.from([0x16, 0xfe, 0xfd]), Buffer.alloc(0)];
  const run = (receive: (p: StunProtocol, data: Buffer) => void, candidate: boolean) => {
    const log: string[] = [];
    const protocol = new StunProtocol();
    if (candidate) protocol.localCandidate = {} as never;
    protocol.onDataReceived.subscribe((data: Buffer) => log.push(`data ${inputs.indexOf(data)}`));
    protocol.onRequestReceived.subscribe((msg: Message) => log.push(`request ${msg.transactionIdHex}`));
    for (const data of inputs) receive(protocol, data);
    return log;
  };
  for (const candidate of [true, false]) {
    const theirs = run((p, data) => void own.call(p, data, ['127.0.0.1', 9]), candidate);
    const mine = run((p, data) => void (p as unknown as { datagramReceived: typeof own }).datagramReceived(data, ['127.0.0.1', 9]), candidate);
    assert.deepEqual(mine, theirs);
    assert.equal(theirs.length, candidate ? 5 : 1);
  }
});

test("a lean event runs its subscribers, queued ones and errors exactly as werift's", async () => {
  const run = async (lean: boolean) => {
    const log: unknown[] = [];
    const e = new Event<unknown[]>();
    const inside = e as unknown as WeriftEvent;
    if (lean) leanEvent(inside);
    assert.equal(isLean(inside), lean);
    e.subscribe((...args: unknown[]) => log.push(['first', ...args]));
    const second = e.subscribe((...args: unknown[]) => {
      log.push(['second', args.length]);
      second.unSubscribe(); // while the event runs
    });
    e.subscribe((a: unknown) => log.push(['third', a]));
    e.execute(1, 2);
    e.execute(3);
    e.execute();
    inside.onerror = (err) => log.push(['onerror', (err as Error).message]);
    e.queuingSubscribe(async (a: unknown) => {
      await Promise.resolve();
      log.push(['queued', a]);
      if (a === 'boom') throw new Error('queued failed');
    });
    e.execute('x');
    e.execute('boom');
    log.push('sync part done');
    await new Promise((r) => setImmediate(r));
    let fail = true;
    e.subscribe(() => {
      if (fail) throw new Error('subscriber failed');
    });
    assert.throws(() => e.execute('y'), /subscriber failed/);
    fail = false;
    await new Promise((r) => setImmediate(r));
    e.complete();
    e.execute('after the end');
    await new Promise((r) => setImmediate(r));
    return log;
  };
  const theirs = await run(false);
  assert.deepEqual(await run(true), theirs);
  assert.ok(theirs.some((entry) => Array.isArray(entry) && entry[0] === 'onerror'), 'the queued error reached onerror');
  // An execute that another change put in werift's place is left as it is.
  const other = new Event() as unknown as WeriftEvent;
  const gate = () => undefined;
  other.execute = gate;
  leanEvent(other);
  assert.equal(other.execute, gate);
});

test("werift's parseInt truncation and lancast's agree on every kind of number", () => {
  const special = [0, -0, 0.5, 0.999999, 1, 1.5, -1.5, 1e-7, 5e-7, 123.999, 2 ** 53, 2 ** 53 + 2, 1e20 + 12345, 1e21, 1.5e21, -1e21, 1e300, NaN, Infinity, -Infinity];
  const arrivals = Array.from({ length: 10_000 }, (_, i) => (Date.now() / 1e3 + i * 0.0137) * [90000, 48000, 8000][i % 3]);
  const randoms = Array.from({ length: 10_000 }, () => (Math.random() - 0.3) * 10 ** Math.floor(Math.random() * 30 - 8));
  for (const n of [...special, ...arrivals, ...randoms]) assert.ok(Object.is(truncate(n), Number.parseInt(n as unknown as string, 10)), String(n));
});

interface Stats {
  constructor: new (clockRate: number) => Stats;
  add(packet: RtpPacket, now?: number): void;
  lastPacketReceivedTimestamp?: number;
}

test("receiver statistics count and measure jitter as werift's do, over loss, reordering, duplicates and wraps", () => {
  const patched = replacements.find((r) => r.target === 'StreamStatistics.prototype.add')!;
  const StreamStatistics = (patched.owner as Stats).constructor;
  assert.equal(patched.replacement.length, 1, "werift's arity");
  const packets = video.map((p, i) => rtp(p, i));
  const shuffled = packets.map((p, i) => packets[i % 7 === 3 && i + 1 < packets.length ? i + 1 : i % 7 === 4 ? i - 1 : i]);
  const wrapping = packets.map((p, i) => {
    const c = p.clone();
    c.header.sequenceNumber = (65500 + i) & 0xffff;
    c.header.timestamp = (0xffffff00 + i * 3000) >>> 0;
    return c;
  });
  const lossy = packets.filter((_, i) => i % 13 !== 5);
  const duplicated = packets.flatMap((p, i) => (i % 11 === 0 ? [p, p] : [p]));
  for (const [name, sequence] of Object.entries({ shuffled, wrapping, lossy, duplicated })) {
    for (const clockRate of [90000, 48000]) {
      const theirs = new StreamStatistics(clockRate);
      const mine = new StreamStatistics(clockRate);
      const t0 = Date.now() / 1e3;
      sequence.forEach((p, i) => {
        const now = t0 + video[i % video.length].t / 1000 + (i % 5) * 0.0031;
        patched.original.call(theirs, p, now);
        mine.add(p, now);
      });
      const { lastPacketReceivedTimestamp: a, ...theirFields } = theirs;
      const { lastPacketReceivedTimestamp: b, ...myFields } = mine;
      assert.deepEqual(myFields, theirFields, `${name} at ${clockRate} Hz`);
      assert.ok(Math.abs(a! - b!) < 1000 && Math.abs(b! - Date.now()) < 5000, `${name}: the stats timestamp (${a}, ${b})`);
    }
  }
});

const codec = (payloadType: number, mimeType: string, rtcpFeedback = [useNACK(), usePLI(), useTWCC()], parameters?: string) =>
  new RTCRtpCodecParameters({ payloadType, mimeType, clockRate: 90000, rtcpFeedback, parameters });

test("the first codec and a codec's kind come out as werift's codecArray and codec.name say", () => {
  const receiver = new RTCRtpReceiver({ debug: {} } as never, 'video', 1) as unknown as Parameters<typeof firstCodec>[0];
  const sets = [
    [],
    [codec(96, 'video/VP8')],
    [codec(102, 'video/H264'), codec(96, 'video/VP8'), codec(97, 'video/rtx', [], 'apt=96')],
    [codec(120, 'video/red'), codec(35, 'video/AV1'), codec(100, 'video/VP9')],
  ];
  for (const set of sets) {
    receiver.codecs = Object.fromEntries(set.map((c) => [c.payloadType, c]));
    assert.equal(firstCodec(receiver), receiver.codecArray[0]);
  }
  // Keyed otherwise than by payload type, with ties and a payload type that is not a number.
  receiver.codecs = { 5: codec(97, 'video/A'), 1: codec(97, 'video/B'), 9: codec(96, 'video/C') };
  assert.equal(firstCodec(receiver), receiver.codecArray[0]);
  receiver.codecs = { 5: codec(97, 'video/A'), 1: codec(97, 'video/B') };
  assert.equal(firstCodec(receiver), receiver.codecArray[0]);
  receiver.codecs = { 1: { ...codec(97, 'video/A'), payloadType: 'x' }, 2: codec(96, 'video/B') } as never;
  assert.equal(firstCodec(receiver), receiver.codecArray[0]);
  // Codecs added by werift (prepareReceive, as on a renegotiation) are seen at once.
  receiver.codecs = { 96: codec(96, 'video/VP8') };
  assert.equal(firstCodec(receiver)?.payloadType, 96);
  (receiver as unknown as RTCRtpReceiver).prepareReceive({ codecs: [codec(35, 'video/AV1')], encodings: [], headerExtensions: [] });
  assert.equal(firstCodec(receiver)?.payloadType, 35);
  assert.equal(firstCodec(receiver), receiver.codecArray[0]);

  for (const mime of ['video/VP8', 'video/rtx', 'video/RTX', 'audio/red', 'audio/RED', 'video/ulpfec', 'audio/opus', 'video/VP8']) {
    const c = codec(96, mime);
    assert.equal(ordinaryCodec(c), c.name.toLowerCase() !== 'rtx' && c.name.toLowerCase() !== 'red', mime);
  }
  assert.equal(ordinaryCodec(codec(96, 'video')), false, "werift's handleRTP throws on it: werift's path");
  assert.equal(ordinaryCodec({ payloadType: 96, mimeType: 'video/VP8', name: 'rtx', rtcpFeedback: [] }), false, 'an own name counts');
});

interface Delivered {
  header: Record<string, unknown>;
  payload: string;
  extensions: Record<string, unknown>;
}

/** A receiver as werift sets one up from an SDP (VP8 with NACK, PLI and TWCC, its RTX, RED), recording what it does. */
function receiverUnderTest() {
  const receiver = new RTCRtpReceiver({ debug: {} } as never, 'video', 1234);
  const sent: string[] = [];
  receiver.setDtlsTransport({ sendRtcp: async (packets: { constructor: { name: string } }[]) => void sent.push(...packets.map((p) => p.constructor.name)) } as never);
  const inside = receiver as unknown as { codecs: Record<number, RTCRtpCodecParameters>; ssrcByRtx: Record<number, number> };
  for (const c of [codec(96, 'video/VP8'), codec(97, 'video/rtx', [], 'apt=96'), codec(98, 'video/red', [])]) inside.codecs[c.payloadType] = c;
  inside.ssrcByRtx[RTX_SSRC] = SSRC;
  const track = new MediaStreamTrack({ kind: 'video', ssrc: SSRC, remote: true });
  receiver.addTrack(track);
  const delivered: Delivered[] = [];
  track.onReceiveRtp.subscribe((packet, extensions) => {
    delivered.push({ header: { ...packet.header, extensions: packet.header.extensions.map((e) => Buffer.from(e.payload).toString('hex')) }, payload: packet.payload.toString('hex'), extensions: extensions ?? {} });
  });
  return { receiver, track, delivered, sent };
}

test("the receiver delivers, counts, NACKs and reports as werift's own handleRTP, packet for packet", () => {
  const own = weriftOwn('RTCRtpReceiver.prototype.handleRTP');
  mock.timers.enable({ apis: ['Date'], now: 1_764_000_000_000 });
  const theirs = receiverUnderTest();
  const mine = receiverUnderTest();
  assert.ok(isLean(mine.track.onReceiveRtp as unknown as WeriftEvent), "the track's event is lean");
  try {
    const packets: RtpPacket[] = [];
    video.forEach((p, i) => {
      if (i % 40 === 7) return; // lost
      packets.push(rtp(p, i));
      if (i % 40 === 9) {
        // The lost one, resent over RTX (RFC 4588: the original sequence number first).
        const lost = rtp(video[i - 2], i - 2);
        const osn = Buffer.alloc(2);
        osn.writeUInt16BE(lost.header.sequenceNumber);
        const resend = new RtpPacket(new RtpHeader({ ...lost.header, payloadType: 97, ssrc: RTX_SSRC, sequenceNumber: i }), Buffer.concat([osn, lost.payload]));
        packets.push(RtpPacket.deSerialize(resend.serialize()));
      }
      if (i % 50 === 20) packets.push(rtp(p, i, 111)); // a payload type not negotiated
      if (i % 50 === 30) packets.push(rtp(p, i, 96, 0x99)); // an SSRC with no track
      if (i % 60 === 40) packets.push(packets.at(-1)!); // a duplicate
    });
    for (const packet of packets) {
      const extensions = rtpHeaderExtensionsParser(packet.header.extensions, EXT_URIS);
      const track = theirs.receiver.trackBySSRC[packet.header.ssrc];
      own.call(theirs.receiver, packet, extensions, track);
      (mine.receiver as unknown as { handleRTP: typeof own }).handleRTP(packet, extensions, mine.receiver.trackBySSRC[packet.header.ssrc]);
      mock.timers.tick(7);
    }
    assert.ok(theirs.delivered.length > 100, `${theirs.delivered.length} delivered`);
    assert.deepEqual(mine.delivered, theirs.delivered);
    const state = (r: RTCRtpReceiver) => {
      const { nack, remoteStreams, receiverTWCC, rtcpRunning } = r as unknown as {
        nack: { _lost: object; newEstSeqNum: number; mediaSourceSsrc: number };
        remoteStreams: Record<number, Stats>;
        receiverTWCC: { extensionInfo: object };
        rtcpRunning: boolean;
      };
      const streams = Object.entries(remoteStreams).map(([ssrc, s]) => [ssrc, { ...s, lastPacketReceivedTimestamp: undefined }]);
      return { lost: nack._lost, est: nack.newEstSeqNum, nackSsrc: nack.mediaSourceSsrc, streams, twcc: Object.keys(receiverTWCC.extensionInfo), rtcpRunning };
    };
    assert.deepEqual(state(mine.receiver), state(theirs.receiver));
    assert.deepEqual(mine.sent, theirs.sent, 'the same RTCP (TWCC feedback) sent');
  } finally {
    mock.timers.reset();
    theirs.receiver.stop();
    mine.receiver.stop();
  }
});

test('a connected werift leg receives on the lean path: its events are lean and every packet arrives intact', async () => {
  const config = iceConfig({ host: '127.0.0.1', iceServers: [] });
  const sender = new RTCPeerConnection(config);
  const receiver = new RTCPeerConnection(config);
  try {
    const track = new MediaStreamTrack({ kind: 'video' });
    sender.addTransceiver(track, { direction: 'sendonly' });
    const got: string[] = [];
    let remote: MediaStreamTrack | undefined;
    receiver.onTrack.subscribe((t) => {
      remote = t;
      t.onReceiveRtp.subscribe((p) => got.push(`${p.header.sequenceNumber} ${p.payload.toString('hex')}`));
    });
    await connectPair(sender, receiver);
    const sentPackets = video.slice(0, 60).map((p, i) => new RtpPacket(new RtpHeader({ sequenceNumber: 1000 + i, timestamp: p.ts, marker: p.m === 1 }), Buffer.from(p.payload)));
    for (const p of sentPackets) track.writeRtp(p);
    for (let i = 0; i < 500 && got.length < sentPackets.length; i++) await new Promise((r) => setTimeout(r, 10));
    assert.deepEqual(got, sentPackets.map((p) => `${p.header.sequenceNumber} ${p.payload.toString('hex')}`));
    const weriftReceiver = receiver.getTransceivers()[0].receiver as unknown as {
      dtlsTransport: { onRtp: WeriftEvent; iceTransport: { connection: { onData: WeriftEvent; protocols: { onDataReceived: WeriftEvent }[] } } };
      remoteStreams: Record<number, { packets_received: number }>;
    };
    const dtls = weriftReceiver.dtlsTransport;
    const events = [remote!.onReceiveRtp as unknown as WeriftEvent, dtls.onRtp, dtls.iceTransport.connection.onData, ...dtls.iceTransport.connection.protocols.map((p) => p.onDataReceived)];
    assert.ok(events.every(isLean), "every event on the leg's receive path is lean");
    assert.equal(Object.values(weriftReceiver.remoteStreams)[0].packets_received, sentPackets.length, "werift's statistics counted every packet");
  } finally {
    await Promise.all([sender.close(), receiver.close()]);
  }
});

test("a routed packet handed straight to its receiver reaches the track, statistics and NACK generator as through werift's router", async () => {
  const config = iceConfig({ host: '127.0.0.1', iceServers: [] });
  // Two legs side by side: one takes the packets werift's whole way (`deliver`), one straight (`deliverRouted`).
  const legs = await Promise.all(
    [0, 1].map(async () => {
      const sender = new RTCPeerConnection(config);
      const receiver = new RTCPeerConnection(config);
      const track = new MediaStreamTrack({ kind: 'video' });
      sender.addTransceiver(track, { direction: 'sendonly' });
      const got: string[] = [];
      let payloadType = -1;
      receiver.onTrack.subscribe((t) =>
        t.onReceiveRtp.subscribe((p) => {
          payloadType = p.header.payloadType;
          got.push(`${p.header.sequenceNumber} ${p.header.timestamp} ${p.header.marker} ${p.payload.toString('hex')}`);
        }),
      );
      await connectPair(sender, receiver);
      // The stream's first packets the ordinary way: the receiver gets its track, statistics and MID.
      const first = video.slice(0, 10).map((p, i) => new RtpPacket(new RtpHeader({ sequenceNumber: 1000 + i, timestamp: p.ts, marker: p.m === 1 }), Buffer.from(p.payload)));
      for (const p of first) track.writeRtp(p);
      for (let i = 0; i < 500 && got.length < first.length; i++) await new Promise((r) => setTimeout(r, 10));
      assert.equal(got.length, first.length, 'the first packets arrived');
      const [session] = connectedReceivingSrtp(receiver);
      const weriftReceiver = receiver.getTransceivers()[0].receiver as unknown as {
        remoteStreams: Record<number, { packets_received: number; base_seq: number; max_seq: number; cycles: number }>;
        nack: { _lost: Record<number, number>; newEstSeqNum: number };
      };
      const ssrc = Number(Object.keys(weriftReceiver.remoteStreams)[0]);
      return { sender, receiver, got, session, weriftReceiver, ssrc, payloadType };
    }),
  );
  try {
    const [theirs, mine] = legs;
    const before = { ...routedReceiveCounters };
    // Packets 10-199 (the capture's 160, round again), a few lost (the NACK generator notes them), and one from an unknown SSRC.
    const plain = (leg: (typeof legs)[number], i: number, ssrc = leg.ssrc) => {
      const p = video[i % video.length];
      return new RtpPacket(new RtpHeader({ payloadType: leg.payloadType, sequenceNumber: 1000 + i, timestamp: p.ts, marker: p.m === 1, ssrc }), Buffer.from(p.payload)).serialize();
    };
    for (let i = 10; i < 200; i++) {
      if (i % 37 === 0) continue; // lost
      theirs.session.deliver(plain(theirs, i), 0);
      mine.session.deliverRouted(plain(mine, i), 0);
    }
    mine.session.deliverRouted(plain(mine, 5, 0x7777), 0); // no receiver for this SSRC: werift's way, which drops it
    const delivered = 190 - 5;
    assert.equal(routedReceiveCounters.direct - before.direct, delivered, 'every packet of the stream went straight');
    assert.equal(routedReceiveCounters.router - before.router, 1, "the unknown SSRC's packet went werift's way");
    const strip = (lines: string[]) => lines.slice(10);
    assert.equal(strip(mine.got).length, delivered);
    assert.deepEqual(strip(mine.got), strip(theirs.got), 'the track got the same packets');
    const state = (leg: (typeof legs)[number]) => {
      const s = leg.weriftReceiver.remoteStreams[leg.ssrc];
      return { packets: s.packets_received, base: s.base_seq, max: s.max_seq, cycles: s.cycles, lost: Object.keys(leg.weriftReceiver.nack._lost), est: leg.weriftReceiver.nack.newEstSeqNum };
    };
    assert.deepEqual(state(mine), state(theirs));
    assert.equal(state(mine).lost.length, 5, 'the NACK generator noted the lost packets');
  } finally {
    await Promise.all(legs.flatMap((l) => [l.sender.close(), l.receiver.close()]));
  }
});
