/**
 * Anyone on the LAN can see a relayed room's publisher leg (its port is in every ICE check) and
 * send datagrams to it. Packets that do not authenticate must change nothing: here a publisher
 * whose RTP sequence numbers wrap (as a Chromium broadcast's do minutes in) streams through the
 * relay to a WHEP viewer while a stranger sends RTP-looking packets with random SSRCs, and random
 * garbage, to the publisher leg's port before and after the wrap. The viewer must keep receiving
 * both kinds of media after the wrap.
 *
 * werift is the publisher (it lets a test choose the sequence numbers it sends) and the viewer (it
 * counts RTP packets whatever their payload). Both of the relay's receive paths are tried: the
 * native one (native/fanout.c) and werift's own (LANCAST_NATIVE=0, used without a C compiler); and
 * the native one while nobody watches (the ingress gate: packets read and dropped before werift).
 */
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { createSocket } from 'node:dgram';
import { afterEach, test } from 'node:test';
import { MediaStreamTrack, RTCPeerConnection, RtpHeader, RtpPacket } from 'werift';
import { waitFor } from '../helpers/browser.js';
import { metricValue, startLancast, type Lancast } from '../helpers/server.js';
import { exchange, PEER, relayLeg } from '../helpers/werift-peer.js';

let server: Lancast;
const cleanups: (() => unknown)[] = [];

afterEach(async () => {
  for (const cleanup of cleanups.reverse()) await cleanup();
  cleanups.length = 0;
  await server?.stop();
});

/**
 * A WHIP publisher that sends 100 video packets a second (10 frames of 10) and 50 audio packets,
 * each stream's sequence numbers starting `beforeWrap` short of 65536.
 */
async function publish(room: string, beforeWrap: { video: number; audio: number }) {
  const pc = new RTCPeerConnection(PEER);
  const video = new MediaStreamTrack({ kind: 'video' });
  const audio = new MediaStreamTrack({ kind: 'audio' });
  pc.addTransceiver(audio, { direction: 'sendonly' });
  pc.addTransceiver(video, { direction: 'sendonly' });
  const { answer, location } = await exchange(pc, `${server.url}/whip/${room}`, server.publishKey);
  await waitFor(async () => pc.connectionState, (s) => s === 'connected', 15_000, 'the publisher to connect');
  const sent = { video: 0, audio: 0 };
  const payload = randomBytes(400);
  const start = performance.now();
  const timer = setInterval(() => {
    const due = ((performance.now() - start) / 1000) * 100;
    while (sent.video < due) {
      const n = sent.video++;
      const first = n % 10 === 0;
      // A VP8 payload descriptor that starts a keyframe on each frame's first packet.
      const body = Buffer.concat([Buffer.from(first ? [0x10, 0x00] : [0x00, 0x01]), payload]);
      const header = new RtpHeader({ payloadType: 96, sequenceNumber: (65536 - beforeWrap.video + n) & 0xffff, timestamp: Math.floor(n / 10) * 9000, marker: n % 10 === 9, ssrc: 1 });
      video.writeRtp(new RtpPacket(header, body));
    }
    while (sent.audio < due / 2) {
      const n = sent.audio++;
      const header = new RtpHeader({ payloadType: 111, sequenceNumber: (65536 - beforeWrap.audio + n) & 0xffff, timestamp: n * 960, marker: false, ssrc: 2 });
      audio.writeRtp(new RtpPacket(header, payload.subarray(0, 80)));
    }
  }, 10);
  const stop = async () => {
    clearInterval(timer);
    await fetch(location, { method: 'DELETE' }).catch(() => undefined);
    await pc.close();
  };
  return { pc, answer, sent, stop };
}

/** A WHEP viewer that counts the RTP packets it receives per kind. */
async function play(room: string) {
  const pc = new RTCPeerConnection(PEER);
  pc.addTransceiver('audio', { direction: 'recvonly' });
  pc.addTransceiver('video', { direction: 'recvonly' });
  const received = { video: 0, audio: 0 };
  pc.onTrack.subscribe((track) => {
    track.onReceiveRtp.subscribe(() => received[track.kind as 'video' | 'audio']++);
  });
  const { location } = await exchange(pc, `${server.url}/whep/${room}`);
  const stop = async () => {
    await fetch(location, { method: 'DELETE' }).catch(() => undefined);
    await pc.close();
  };
  return { pc, received, stop };
}

/** Sends bursts of strangers' datagrams to a port: RTP-looking ones with random SSRCs, and garbage. */
function strayPackets(port: number) {
  const socket = createSocket('udp4');
  let bursts = 0;
  const timer = setInterval(() => {
    bursts++;
    for (let i = 0; i < 16; i++) {
      const rtp = randomBytes(40 + Math.floor(Math.random() * 1000));
      rtp[0] = 0x80;
      rtp[1] = Math.random() < 0.5 ? 96 : 111 | 0x80;
      socket.send(rtp, port, '127.0.0.1');
    }
    for (let i = 0; i < 4; i++) socket.send(randomBytes(1 + Math.floor(Math.random() * 1200)), port, '127.0.0.1');
  }, 50);
  return {
    bursts: () => bursts,
    stop: () => {
      clearInterval(timer);
      socket.close();
    },
  };
}

const PATHS = [
  { name: 'native', env: {}, banner: /native forwarding/ },
  { name: "werift's", env: { LANCAST_NATIVE: '0' }, banner: /TypeScript forwarding/ },
];

for (const path of PATHS) {
  test(`${path.name} receive path: stray packets to the publisher leg do not stop the room when sequence numbers wrap`, async () => {
    server = await startLancast({ env: path.env });
    assert.match(server.output(), path.banner);
    const beforeWrap = { video: 300, audio: 150 }; // both wrap 3 s in
    const publisher = await publish('wrap', beforeWrap);
    cleanups.push(publisher.stop);
    const strays = strayPackets(relayLeg(publisher.answer).port);
    cleanups.push(strays.stop);
    const viewer = await play('wrap');
    cleanups.push(viewer.stop);
    await waitFor(async () => ({ ...viewer.received }), (r) => r.video > 0 && r.audio > 0, 15_000, 'the viewer to receive audio and video');

    // Past the wrap on both streams, with strays arriving all along (20 bursts a second).
    await waitFor(async () => ({ ...publisher.sent }), (s) => s.video > beforeWrap.video + 100 && s.audio > beforeWrap.audio + 50, 20_000, 'the publisher to pass the wrap');
    const burstsAtWrap = strays.bursts();
    await waitFor(async () => strays.bursts(), (b) => b >= burstsAtWrap + 10, 10_000, 'strays after the wrap');
    const afterStrays = { ...viewer.received };
    await waitFor(
      async () => ({ ...viewer.received }),
      (r) => r.video >= afterStrays.video + 200 && r.audio >= afterStrays.audio + 100,
      20_000,
      `media after the wrap and the strays that followed it (by then: ${JSON.stringify(afterStrays)})`,
    );
    assert.equal(server.proc.exitCode, null, 'the server is still running');
  });
}

test('gated (nobody watching) across the wrap, with strays: the relay still follows the stream, and a viewer who joins after gets both kinds', async () => {
  server = await startLancast();
  const beforeWrap = { video: 600, audio: 300 }; // both wrap 6 s in, after the gate has closed (2 s unwatched)
  const publisher = await publish('gated-wrap', beforeWrap);
  cleanups.push(publisher.stop);
  const strays = strayPackets(relayLeg(publisher.answer).port);
  cleanups.push(strays.stop);
  const gated = () => metricValue(server.url, 'lancast_relay_packets_gated_total');
  await waitFor(gated, (n) => (n ?? 0) > 100, 15_000, 'packets gated');
  await waitFor(async () => ({ ...publisher.sent }), (s) => s.video > beforeWrap.video + 200 && s.audio > beforeWrap.audio + 100, 20_000, 'the publisher to pass the wrap');
  const atWrap = await gated();
  await waitFor(gated, (n) => (n ?? 0) > atWrap! + 150, 10_000, 'packets after the wrap authenticated and gated');
  const viewer = await play('gated-wrap');
  cleanups.push(viewer.stop);
  await waitFor(async () => ({ ...viewer.received }), (r) => r.video >= 200 && r.audio >= 100, 20_000, 'the late viewer to receive audio and video');
  assert.ok(strays.bursts() > 20, 'strays arrived all along');
});
