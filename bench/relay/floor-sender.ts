/**
 * The kernel's floor under a relayed room (the rooms bench's "floor" layout): a process that sends
 * what the room's publisher sends (an Opus-sized packet every 20 ms, 30 video frames a second of 2-3
 * packets, ~119 packets and ~78 kB a second, as the libwebrtc publisher at PUBLISHER's size) to N
 * receivers, each on its own UDP socket as each viewer's leg is, through lancast's own native
 * fan-out (header, SRTP AES-CM + HMAC-SHA1-80, sendto): nothing else. What this process costs is
 * what any SFU on this machine pays to get those packets to those receivers, before it receives,
 * routes or answers anything. Commands over stdin/stdout, one JSON line each way:
 * `{"add": [ports]}` opens a sender socket per port; `{"count": true}` answers
 * `{packets, sent}` (packets made, packet copies sent); `{"stop": true}` exits.
 *
 *   node --import tsx bench/relay/floor-sender.ts
 */
import { randomBytes } from 'node:crypto';
import { createSocket, type Socket } from 'node:dgram';
import { AES_CM_128_HMAC_SHA1_80, Egress, EgressGroup, egressImplementation } from '../../src/relay/egress.js';
import { serveJsonLines } from './wrtc-child.js';

const groups = { audio: new EgressGroup(), video: new EgressGroup() };
const sockets: Socket[] = [];
const audioPayload = randomBytes(80);
const videoPayload = randomBytes(1_070);
/** Video frames of 2, 2, 3 packets: 70 a second at 30 frames a second. */
const FRAME_PACKETS = [2, 2, 3];
let packets = 0;
let sent = 0;
let started = false;

function keys() {
  return { profile: AES_CM_128_HMAC_SHA1_80, key: randomBytes(16), salt: randomBytes(14), authKey: randomBytes(20) };
}

async function add(port: number): Promise<void> {
  const socket = createSocket('udp4');
  await new Promise<void>((r) => socket.bind(0, '127.0.0.1', r));
  socket.setMaxListeners(0);
  sockets.push(socket);
  const target = { kind: 'udp' as const, socket, address: '127.0.0.1', port };
  groups.audio.add(new Egress(keys(), target, { ssrc: 1, payloadType: 111, seqOffset: 0, tsOffset: 0 }));
  groups.video.add(new Egress(keys(), target, { ssrc: 2, payloadType: 96, seqOffset: 0, tsOffset: 0 }));
}

function start(): void {
  if (started) return;
  started = true;
  let audioSeq = 0;
  let videoSeq = 0;
  let frame = 0;
  // Each on its own clock, as the publisher's audio and video are.
  setInterval(() => {
    audioSeq = (audioSeq + 1) & 0xffff;
    packets++;
    sent += groups.audio.send(audioPayload, true, audioSeq, audioSeq * 960);
  }, 20);
  setInterval(() => {
    const n = FRAME_PACKETS[frame++ % FRAME_PACKETS.length];
    for (let i = 0; i < n; i++) {
      videoSeq = (videoSeq + 1) & 0xffff;
      packets++;
      sent += groups.video.send(videoPayload, i === n - 1, videoSeq, frame * 3_000);
    }
  }, 1_000 / 30);
}

if (egressImplementation.name !== 'native') throw new Error(`the native fan-out is not built: ${egressImplementation.reason}`);
await serveJsonLines<{ add?: number[]; count?: boolean; stop?: boolean }>(async (cmd) => {
  if (cmd.add) {
    for (const port of cmd.add) await add(port);
    start();
    return { receivers: sockets.length };
  }
  return cmd.count ? { packets, sent } : {};
});
