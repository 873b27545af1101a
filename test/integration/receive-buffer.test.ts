/**
 * A keyframe's packets arrive back to back from an encoder without a pacer; while the relay is
 * busy, the kernel queues them on the publisher leg's socket, and drops what does not fit. Here
 * the relay is made busy for certain (SIGSTOP) while a WHIP publisher (werift) sends a burst of
 * 1,100-byte packets larger than the kernel's default buffer holds; the kernel's own per-socket
 * drop count (/proc/net/udp) and the relay's received counter say whether all of it arrived.
 */
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { after, before, test } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import { MediaStreamTrack, RTCPeerConnection, RtpHeader, RtpPacket } from 'werift';
import { RECEIVE_BUFFER_BYTES } from '../../src/relay/receive-buffer.js';
import { waitFor } from '../helpers/browser.js';
import { metricValue, roomInfo, startLancast, type Lancast } from '../helpers/server.js';
import { exchange, PEER, relayLeg } from '../helpers/werift-peer.js';

/** What the kernel charges a queued 1,100-byte datagram on loopback, about (measured: 2,304-2,315 bytes). */
const CHARGE = 2_400;
/** Linux's default receive buffer (net.core.rmem_default on a stock kernel): 92 such packets. */
const DEFAULT_BUFFER = 212_992;

let server: Lancast;
let publisher: RTCPeerConnection;
let video: MediaStreamTrack;
let port: number;
let seq = 0;
let timer: NodeJS.Timeout | undefined;

function sendVideo(payload: Buffer): void {
  seq = (seq + 1) & 0xffff;
  video.writeRtp(new RtpPacket(new RtpHeader({ payloadType: 96, sequenceNumber: seq, timestamp: seq * 90, marker: true, ssrc: 2 }), payload));
}

/** The kernel's drop count and queued bytes for the UDP socket bound to `localPort` (/proc/net/udp). */
function socketStats(localPort: number): { drops: number; queued: number } {
  const hex = localPort.toString(16).toUpperCase().padStart(4, '0');
  const line = readFileSync('/proc/net/udp', 'utf8')
    .split('\n')
    .find((l) => l.trim().split(/\s+/)[1]?.endsWith(`:${hex}`));
  assert.ok(line, `a UDP socket bound to port ${localPort}`);
  const fields = line.trim().split(/\s+/);
  return { drops: Number(fields.at(-1)), queued: parseInt(fields[4].split(':')[1], 16) };
}

before(async () => {
  server = await startLancast();
  publisher = new RTCPeerConnection(PEER);
  const audio = new MediaStreamTrack({ kind: 'audio' });
  video = new MediaStreamTrack({ kind: 'video' });
  publisher.addTransceiver(audio, { direction: 'sendonly' });
  publisher.addTransceiver(video, { direction: 'sendonly' });
  port = relayLeg((await exchange(publisher, `${server.url}/whip/burst`, server.publishKey)).answer).port;
  await waitFor(async () => publisher.connectionState, (s) => s === 'connected', 15_000, 'the publisher to connect');
  let n = 0;
  timer = setInterval(() => {
    n++;
    audio.writeRtp(new RtpPacket(new RtpHeader({ payloadType: 111, sequenceNumber: n & 0xffff, timestamp: n * 960, ssrc: 1 }), randomBytes(80)));
    sendVideo(randomBytes(200));
  }, 20);
  await waitFor(async () => (await roomInfo(server.url, 'burst'))?.live, Boolean, 15_000, 'the room to be live');
});

after(async () => {
  clearInterval(timer);
  await publisher?.close();
  await server?.stop();
});

test("a keyframe's burst that arrives while the relay is busy is queued whole on the publisher leg's socket", async () => {
  // The kernel grants twice the asked size, up to twice net.core.rmem_max: the burst is four
  // fifths of what it grants, and more than its default buffer holds.
  const rmemMax = Number(readFileSync('/proc/sys/net/core/rmem_max', 'utf8'));
  const granted = 2 * Math.min(RECEIVE_BUFFER_BYTES, rmemMax);
  const burst = Math.min(600, Math.floor((granted * 0.8) / CHARGE));
  assert.ok(burst * CHARGE > DEFAULT_BUFFER * 1.3, `a burst of ${burst} packets overflows the default buffer (rmem_max ${rmemMax})`);
  // What the kernel says the leg's socket got (ss: skmem rb).
  const ss = execFileSync('ss', ['-uanm', `sport = :${port}`], { encoding: 'utf8' });
  const rb = Number(/rb(\d+)/.exec(ss)?.[1]);
  assert.equal(rb, granted, `the leg's receive buffer: ${ss}`);

  clearInterval(timer); // only the burst from here on
  await sleep(200);
  const received = (await metricValue(server.url, 'lancast_relay_packets_received_total'))!;
  const before = socketStats(port);
  process.kill(server.proc.pid!, 'SIGSTOP');
  try {
    const payload = randomBytes(1_100);
    for (let i = 0; i < burst; i++) sendVideo(payload);
    // werift encrypts and sends asynchronously: wait until the socket's queue and drops stop growing.
    let last = socketStats(port);
    for (let still = 0; still < 3; ) {
      await sleep(100);
      const now = socketStats(port);
      still = now.queued === last.queued && now.drops === last.drops ? still + 1 : 0;
      last = now;
    }
  } finally {
    process.kill(server.proc.pid!, 'SIGCONT');
  }
  assert.equal(socketStats(port).drops - before.drops, 0, `packets of the burst of ${burst} the kernel dropped`);
  await waitFor(async () => (await metricValue(server.url, 'lancast_relay_packets_received_total'))! - received, (n) => n >= burst, 10_000, `the relay to count the ${burst} packets of the burst`);
});
